//! One minimisation: argmin's L-BFGS (More–Thuente line search) on the free nodes of a path,
//! in rounds separated by re-parametrisation, until the action changes less than a tolerance.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use super::endpoint::{ChartScratch, Endpoint};
use super::path::Path;
use super::{Config, Termination};
use crate::action::{geometric_action, time_action, ActionWorkspace};
use crate::error::{Error, Result};
use crate::problem::{Diffusion, VectorField};
use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::Serialize;
use std::cell::RefCell;

/// Which action is minimised.
#[derive(Clone, Copy, Debug)]
pub enum Functional {
    /// The geometric action S(γ).
    Geometric,
    /// S_T on a uniform time grid over [0, T].
    Time(f64),
}

/// Convergence diagnostics of one minimisation.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostics {
    /// L-BFGS iterations, summed over rounds.
    pub iterations: u64,
    /// Action-and-gradient evaluations.
    pub evaluations: u64,
    /// Optimise → re-parametrise rounds.
    pub rounds: usize,
    /// Euclidean norm of the action's gradient with respect to the free (preconditioned)
    /// parameters w of the last round, at its best point.
    pub gradient_norm: f64,
    /// |S_last round − S_previous round|.
    pub action_change: f64,
    /// Relative Hamiltonian residual along the path (see [`hamiltonian_residual`]).
    pub hamiltonian_residual: f64,
    /// Why the minimisation stopped.
    pub termination: Termination,
    /// L-BFGS's own reason in the last round.
    pub last_solver_status: String,
}

/// What a minimisation returns.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub path: Path,
    pub action: f64,
    pub diagnostics: Diagnostics,
}

struct Scratch {
    /// Reference interior nodes φ⁰ of the round and their unit tangents τ (zero for S_T).
    reference: Vec<f64>,
    tangents: Vec<f64>,
    /// The round's preconditioner: the free parameters are p = p⁰ + (L⁻ᵀ ⊗ I_d) w, with p⁰ the
    /// parameters of the reference path and L the bidiagonal Cholesky factor of the scalar
    /// stiffness matrix K along the path (see [`Context::start_round`]); L-BFGS works on w.
    offset: Vec<f64>,
    /// Diagonal of L.
    chol_diag: Vec<f64>,
    /// Sub-diagonal of L (L[i+1, i]).
    chol_sub: Vec<f64>,
    /// p for the current w.
    raw: Vec<f64>,
    ws: ActionWorkspace,
    nodes: Vec<f64>,
    grad: Vec<f64>,
    chart: ChartScratch,
    param: Vec<f64>,
    cost: f64,
    param_grad: Vec<f64>,
    valid: bool,
    best_param: Vec<f64>,
    best_cost: f64,
    evaluations: u64,
    round_evaluations: u64,
    budget: u64,
    error: Option<String>,
}

/// The model and the boundary conditions of a minimisation.
pub(crate) struct Context<'a, B, N> {
    pub drift: &'a B,
    pub noise: &'a N,
    pub start: &'a [f64],
    pub endpoint: &'a Endpoint,
    pub functional: Functional,
    /// Re-parametrise with nodes graded towards θ* ([`Path::reparametrised`]): θ* is a focus.
    pub graded: bool,
}

impl<B: VectorField, N: Diffusion> Context<'_, B, N> {
    fn dim(&self) -> usize {
        self.start.len()
    }

    /// Start a round at `path`: interior node i is φᵢ = φᵢ⁰ + (I − τᵢτᵢᵀ) zᵢ with the reference
    /// φ⁰ = `path` and, for the geometric action, its unit tangents τᵢ (so nodes move only normal to
    /// the path and cannot slide along it to exploit the discretisation; the re-parametrisation
    /// between rounds redistributes them). The parameters p = (z, then the endpoint's chart
    /// parameter y) are preconditioned: p = p⁰ + (L⁻ᵀ ⊗ I_d) w with p⁰ = (0, y(φ⁰ₙ₋₁)), where
    /// K = LLᵀ is the scalar stiffness of the chain of nodes, K = λ̄ Σⱼ (eⱼ₊₁ − eⱼ)(eⱼ₊₁ − eⱼ)ᵀ
    /// over the segments j (node 0 fixed; the last node fixed or free), with λ̄ the mean over the
    /// segments of λⱼ = ‖b(mⱼ)‖_a/‖Δⱼ‖_a for the geometric action (its Hessian with respect to Δⱼ
    /// normal to Δⱼ is λⱼ M) and λ̄ = 1/h for S_T (Hessian M/h). The action's Hessian in w is
    /// then close to I ⊗ M instead of K ⊗ M, whose condition number grows like n²: L-BFGS needs
    /// far fewer iterations (d = 100, n = 33: 87 instead of 211 per minimisation).
    /// Returns the starting parameters w = 0.
    fn start_round(&self, path: &Path, s: &mut Scratch) -> Result<Vec<f64>> {
        let d = self.dim();
        let n = path.len();
        s.reference.clear();
        s.reference.extend_from_slice(&path.nodes[d..(n - 1) * d]);
        s.tangents.clear();
        s.tangents.resize((n - 2) * d, 0.0);
        if let Functional::Geometric = self.functional {
            for i in 1..n - 1 {
                let (p, q) = (path.node(i - 1), path.node(i + 1));
                let t = &mut s.tangents[(i - 1) * d..i * d];
                for k in 0..d {
                    t[k] = q[k] - p[k];
                }
                let nt = t.iter().map(|v| v * v).sum::<f64>().sqrt();
                if nt > 0.0 {
                    t.iter_mut().for_each(|v| *v /= nt);
                }
            }
        }
        s.valid = false;
        s.offset.clear();
        s.offset.resize((n - 2) * d, 0.0);
        let free_end = matches!(self.endpoint, Endpoint::Boundary(_));
        if let Endpoint::Boundary(chart) = self.endpoint {
            s.offset.extend(chart.parameter_of(path.end()));
        }
        // The mean segment stiffness λ̄ (a uniform weight did better than the per-segment λⱼ:
        // near θ* and saddles the drift-Jacobian terms, not λⱼ, dominate the stiffness).
        let lambda = self.segment_stiffness(path)?;
        let mean = lambda.iter().filter(|l| l.is_finite()).sum::<f64>() / lambda.len() as f64;
        let lam = if mean > 0.0 && mean.is_finite() {
            mean
        } else {
            1.0
        };
        // K = λ̄ × (chain Laplacian) over the unknown nodes 1..=m (m = n − 2, or n − 1 with the
        // free end: Neumann there), and its Cholesky factor.
        let m = if free_end { n - 1 } else { n - 2 };
        s.chol_diag.clear();
        s.chol_sub.clear();
        let mut prev_sub = 0.0;
        for i in 1..=m {
            let diag = if i < n - 1 { 2.0 * lam } else { lam };
            let l = (diag - prev_sub * prev_sub).max(1e-300 * diag).sqrt();
            s.chol_diag.push(l);
            if i < m {
                prev_sub = -lam / l;
                s.chol_sub.push(prev_sub);
            }
        }
        Ok(vec![0.0; s.offset.len()])
    }

    /// λⱼ for each segment of `path` (see [`Context::start_round`]).
    fn segment_stiffness(&self, path: &Path) -> Result<Vec<f64>> {
        let (d, n) = (self.dim(), path.len());
        if let Functional::Time(t) = self.functional {
            return Ok(vec![(n - 1) as f64 / t; n - 1]);
        }
        let mut ws = self.noise.workspace();
        let (mut m, mut mid, mut delta, mut b) =
            (vec![0.0; d * d], vec![0.0; d], vec![0.0; d], vec![0.0; d]);
        let mut out = Vec::with_capacity(n - 1);
        // Constant noise: M read once.
        let constant = self.noise.is_constant() && self.noise.metric(path.node(0), &mut ws, &mut m);
        for j in 0..n - 1 {
            let (p, q) = (path.node(j), path.node(j + 1));
            for k in 0..d {
                mid[k] = 0.5 * (p[k] + q[k]);
                delta[k] = q[k] - p[k];
            }
            self.drift.drift(&mid, &mut b);
            if !constant && !self.noise.metric(&mid, &mut ws, &mut m) {
                return Err(Error::NotPositiveDefinite {
                    field: "noise a(θ) along the path".into(),
                    detail: format!("a(θ) is not positive definite at θ = {mid:?}"),
                });
            }
            let dd = crate::linalg::quad_form(&m, d, &delta, &delta);
            let bb = crate::linalg::quad_form(&m, d, &b, &b);
            out.push(if dd > 0.0 { (bb / dd).sqrt() } else { 0.0 });
        }
        Ok(out)
    }

    /// p = p⁰ + (L⁻ᵀ ⊗ I) w into `s.raw` (back substitution with the upper bidiagonal Lᵀ).
    fn unprecondition(&self, w: &[f64], s: &mut Scratch) {
        let d = self.dim();
        let m = s.chol_diag.len();
        s.raw.clear();
        s.raw.resize(w.len(), 0.0);
        for i in (0..m).rev() {
            let l = s.chol_diag[i];
            for k in 0..d {
                let mut v = w[i * d + k];
                if i + 1 < m {
                    v -= s.chol_sub[i] * s.raw[(i + 1) * d + k];
                }
                s.raw[i * d + k] = v / l;
            }
        }
        for (r, o) in s.raw.iter_mut().zip(&s.offset) {
            *r += o;
        }
    }

    /// g ← (L⁻¹ ⊗ I) g, the gradient with respect to w (forward substitution).
    fn precondition_gradient(&self, s: &mut Scratch) {
        let d = self.dim();
        let m = s.chol_diag.len();
        for i in 0..m {
            let l = s.chol_diag[i];
            for k in 0..d {
                let mut v = s.param_grad[i * d + k];
                if i > 0 {
                    v -= s.chol_sub[i - 1] * s.param_grad[(i - 1) * d + k];
                }
                s.param_grad[i * d + k] = v / l;
            }
        }
    }

    fn assemble(&self, param: &[f64], n: usize, s: &mut Scratch) -> Result<()> {
        let d = self.dim();
        s.nodes[..d].copy_from_slice(self.start);
        for i in 0..n - 2 {
            let z = &param[i * d..(i + 1) * d];
            let t = &s.tangents[i * d..(i + 1) * d];
            let tz: f64 = (0..d).map(|k| t[k] * z[k]).sum();
            for k in 0..d {
                s.nodes[(i + 1) * d + k] = s.reference[i * d + k] + z[k] - t[k] * tz;
            }
        }
        match self.endpoint {
            Endpoint::Fixed(x) => s.nodes[(n - 1) * d..].copy_from_slice(x),
            Endpoint::Boundary(chart) => {
                let y = &param[(n - 2) * d..];
                chart.point(y, &mut s.nodes[(n - 1) * d..], &mut s.chart)?;
            }
        }
        Ok(())
    }

    fn action(&self, s: &mut Scratch, n: usize, with_grad: bool) -> Result<f64> {
        let g = if with_grad {
            Some(&mut s.grad[..])
        } else {
            None
        };
        match self.functional {
            Functional::Geometric => {
                geometric_action(self.drift, self.noise, &s.nodes, &mut s.ws, g)
            }
            Functional::Time(t) => time_action(
                self.drift,
                self.noise,
                &s.nodes,
                t / (n - 1) as f64,
                &mut s.ws,
                g,
            ),
        }
    }

    /// Evaluate action and parameter gradient at `param` (cached: L-BFGS asks for the cost and
    /// the gradient of the same point separately).
    fn evaluate(&self, param: &[f64], n: usize, s: &mut Scratch) -> Result<()> {
        if s.valid && s.param == param {
            return Ok(());
        }
        let d = self.dim();
        s.valid = false;
        self.unprecondition(param, s);
        let raw = std::mem::take(&mut s.raw);
        let assembled = self.assemble(&raw, n, s);
        s.raw = raw;
        assembled?;
        let cost = self.action(s, n, true)?;
        s.evaluations += 1;
        s.param.clear();
        s.param.extend_from_slice(param);
        s.cost = cost;
        s.param_grad.clear();
        s.param_grad.extend_from_slice(&s.grad[d..(n - 1) * d]);
        for i in 0..n - 2 {
            let g = &mut s.param_grad[i * d..(i + 1) * d];
            let t = &s.tangents[i * d..(i + 1) * d];
            let tg: f64 = (0..d).map(|k| t[k] * g[k]).sum();
            for k in 0..d {
                g[k] -= t[k] * tg;
            }
        }
        if let Endpoint::Boundary(chart) = self.endpoint {
            let m = (n - 2) * d;
            s.param_grad.resize(m + d, 0.0);
            let (x, gx) = (&s.nodes[(n - 1) * d..], &s.grad[(n - 1) * d..]);
            chart.pull_back(&s.raw[m..], x, gx, &mut s.param_grad[m..], &mut s.chart);
        }
        self.precondition_gradient(s);
        s.valid = true;
        if cost.is_finite() && cost < s.best_cost {
            s.best_cost = cost;
            s.best_param.clear();
            s.best_param.extend_from_slice(param);
        }
        Ok(())
    }

    fn path_of(&self, param: &[f64], n: usize, s: &mut Scratch) -> Result<Path> {
        self.unprecondition(param, s);
        let raw = std::mem::take(&mut s.raw);
        let assembled = self.assemble(&raw, n, s);
        s.raw = raw;
        assembled?;
        Ok(Path::new(self.dim(), s.nodes.clone()))
    }

    /// Minimise from `init` (see [`Config`] for the rounds and tolerances).
    pub fn minimise(&self, init: Path, cfg: &Config) -> Result<Outcome> {
        let d = self.dim();
        let n = init.len();
        if n < 3 {
            return Err(Error::invalid("--points", "a path needs at least 3 nodes"));
        }
        let scratch = RefCell::new(Scratch {
            reference: Vec::new(),
            tangents: Vec::new(),
            offset: Vec::new(),
            chol_diag: Vec::new(),
            chol_sub: Vec::new(),
            raw: Vec::new(),
            ws: ActionWorkspace::new(self.noise),
            nodes: vec![0.0; n * d],
            grad: vec![0.0; n * d],
            chart: ChartScratch::new(d),
            param: Vec::new(),
            cost: f64::NAN,
            param_grad: Vec::new(),
            valid: false,
            best_param: Vec::new(),
            best_cost: f64::INFINITY,
            evaluations: 0,
            round_evaluations: 0,
            budget: 20 * cfg.max_iterations + 50,
            error: None,
        });
        let geometric = matches!(self.functional, Functional::Geometric);
        let mut path = if geometric {
            init.reparametrised(self.noise, self.graded)?
        } else {
            init
        };
        let mut param;
        {
            let s = &mut *scratch.borrow_mut();
            param = self.start_round(&path, s)?;
            self.evaluate(&param, n, s)?;
        }
        let mut prev = scratch.borrow().cost;
        let mut action = prev;
        let mut best_path = path.clone();
        let mut gradient_norm = f64::NAN;
        let mut iterations = 0;
        let mut change = f64::INFINITY;
        let mut termination = Termination::MaxRounds;
        let mut status = String::new();
        let mut rounds = 0;
        // A round ends when an L-BFGS iteration improves the action by less than
        // 1e-3·action_tol (relative): far below what a round must resolve, and it skips the long
        // tail of round-off-level steps (the re-parametrisation moves the action by more anyway).
        let step_tol = (1e-3 * cfg.action_tol).max(f64::EPSILON);
        for _ in 0..cfg.max_rounds {
            rounds += 1;
            {
                let mut s = scratch.borrow_mut();
                s.best_cost = f64::INFINITY;
                s.best_param.clear();
                s.valid = false;
                s.error = None;
                s.round_evaluations = 0;
            }
            let problem = Objective {
                ctx: self,
                n,
                scratch: &scratch,
            };
            let solver = LBFGS::new(MoreThuenteLineSearch::new(), cfg.memory)
                .with_tolerance_grad(cfg.gradient_tol)
                .and_then(|s| s.with_tolerance_cost(step_tol * prev.abs()))
                .map_err(|e| Error::numerical("L-BFGS set-up", e.to_string()))?;
            let start = param.clone();
            let res = Executor::new(problem, solver)
                .configure(|st| st.param(start).max_iters(cfg.max_iterations))
                .run();
            match res {
                Ok(r) => {
                    iterations += r.state.get_iter();
                    status = match r.state.get_termination_reason() {
                        Some(TerminationReason::SolverExit(m)) => m.clone(),
                        Some(t) => t.text().to_string(),
                        None => "running".into(),
                    };
                }
                Err(e) => status = format!("L-BFGS stopped: {e}"),
            }
            let (best, err) = {
                let s = scratch.borrow();
                (s.best_param.clone(), s.error.clone())
            };
            if best.is_empty() {
                // Not a single successful evaluation: a real failure (e.g. a(θ) not positive
                // definite on the initial path), reported with its cause.
                return Err(Error::numerical(
                    "minimum action",
                    err.unwrap_or_else(|| status.clone()),
                ));
            }
            let s = &mut *scratch.borrow_mut();
            let optimised = s.best_cost;
            best_path = self.path_of(&best, n, s)?;
            // Gradient at the optimum of this round (for the diagnostics).
            s.valid = false;
            self.evaluate(&best, n, s)?;
            gradient_norm = s.param_grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            change = (optimised - prev).abs();
            prev = optimised;
            action = optimised;
            if change <= cfg.action_tol * optimised.abs().max(f64::MIN_POSITIVE) {
                termination = Termination::Converged;
                break;
            }
            path = if geometric {
                best_path.reparametrised(self.noise, self.graded)?
            } else {
                best_path.clone()
            };
            param = self.start_round(&path, s)?;
        }
        let evaluations = scratch.borrow().evaluations;
        let residual = hamiltonian_residual(self.drift, self.noise, &best_path, self.functional)?;
        Ok(Outcome {
            path: best_path,
            action,
            diagnostics: Diagnostics {
                iterations,
                evaluations,
                rounds,
                gradient_norm,
                action_change: change,
                hamiltonian_residual: residual,
                termination,
                last_solver_status: status,
            },
        })
    }
}

struct Objective<'c, 'a, B, N> {
    ctx: &'c Context<'a, B, N>,
    n: usize,
    scratch: &'c RefCell<Scratch>,
}

impl<B: VectorField, N: Diffusion> Objective<'_, '_, B, N> {
    fn run(&self, p: &[f64]) -> std::result::Result<(), argmin::core::Error> {
        let s = &mut *self.scratch.borrow_mut();
        if s.round_evaluations >= s.budget {
            // More–Thuente has no iteration cap of its own: stop a line search that stalls.
            return Err(argmin::core::Error::msg(
                "evaluation budget of the round exhausted",
            ));
        }
        s.round_evaluations += 1;
        match self.ctx.evaluate(p, self.n, s) {
            Ok(()) => Ok(()),
            Err(e) => {
                let msg = e.to_string();
                s.error = Some(msg.clone());
                Err(argmin::core::Error::msg(msg))
            }
        }
    }
}

impl<B: VectorField, N: Diffusion> CostFunction for Objective<'_, '_, B, N> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        self.run(p)?;
        Ok(self.scratch.borrow().cost)
    }
}

impl<B: VectorField, N: Diffusion> Gradient for Objective<'_, '_, B, N> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        self.run(p)?;
        Ok(self.scratch.borrow().param_grad.clone())
    }
}

/// Relative Hamiltonian residual of a path, max |H| / max scale over the nodes.
///
/// The Hamiltonian of the Freidlin–Wentzell action is H(x, p) = ½ pᵀa(x)p + b(x)·p, and an optimal
/// path carries a momentum p with H = 0 (geometric: T = ∞) or H = E constant (fixed T).
/// - Geometric: on segment i the momentum is pᵢ = M(λᵢΔᵢ − bᵢ) with λᵢ = ‖bᵢ‖_a/‖Δᵢ‖_a (the time
///   parametrisation of the optimal path), which makes H vanish at the midpoints by construction;
///   the residual is H(φⱼ, ½(pⱼ₋₁ + pⱼ)) at the interior nodes, divided by
///   max ⱼ (½ p̄ᵀap̄ + |b·p̄|). It is O(h²) on a smooth path and O(1) at a kink.
/// - Fixed time: pᵢ = M(Δᵢ/h − bᵢ) at the midpoints; the residual is (max H − min H) over the
///   segments divided by the same scale.
///
/// # Errors
/// When a(θ) is not positive definite on the path.
pub fn hamiltonian_residual<B: VectorField, N: Diffusion>(
    drift: &B,
    noise: &N,
    path: &Path,
    functional: Functional,
) -> Result<f64> {
    let (d, n) = (path.dim, path.len());
    let mut ws = noise.workspace();
    let mut m = vec![0.0; d * d];
    let mut a = vec![0.0; d * d];
    let mut b = vec![0.0; d];
    let mut mid = vec![0.0; d];
    let mut v = vec![0.0; d];
    let mut p = vec![0.0; (n - 1) * d];
    let not_pd = |x: &[f64]| Error::NotPositiveDefinite {
        field: "noise a(θ) along the path".into(),
        detail: format!("a(θ) is not positive definite at θ = {x:?}"),
    };
    let mut hs = Vec::with_capacity(n);
    let mut scale: f64 = 0.0;
    for i in 0..n - 1 {
        let (x0, x1) = (path.node(i), path.node(i + 1));
        for k in 0..d {
            mid[k] = 0.5 * (x0[k] + x1[k]);
            v[k] = x1[k] - x0[k];
        }
        drift.drift(&mid, &mut b);
        if !noise.metric(&mid, &mut ws, &mut m) {
            return Err(not_pd(&mid));
        }
        let lam = match functional {
            Functional::Geometric => {
                let dd = crate::linalg::quad_form(&m, d, &v, &v);
                let bb = crate::linalg::quad_form(&m, d, &b, &b);
                if dd > 0.0 {
                    (bb / dd).sqrt()
                } else {
                    0.0
                }
            }
            Functional::Time(t) => (n - 1) as f64 / t,
        };
        for k in 0..d {
            v[k] = lam * v[k] - b[k];
        }
        crate::linalg::mat_vec(&m, d, &v, &mut p[i * d..(i + 1) * d]);
        if let Functional::Time(_) = functional {
            if !noise.diffusion(&mid, &mut ws, &mut a) {
                return Err(not_pd(&mid));
            }
            let pi = &p[i * d..(i + 1) * d];
            let pap = crate::linalg::quad_form(&a, d, pi, pi);
            let bp = crate::linalg::dot(&b, pi);
            hs.push(0.5 * pap + bp);
            scale = scale.max(0.5 * pap + bp.abs());
        }
    }
    if let Functional::Time(_) = functional {
        let hi = hs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lo = hs.iter().cloned().fold(f64::INFINITY, f64::min);
        return Ok(if scale > 0.0 { (hi - lo) / scale } else { 0.0 });
    }
    let mut worst: f64 = 0.0;
    for j in 1..n - 1 {
        let x = path.node(j);
        for k in 0..d {
            v[k] = 0.5 * (p[(j - 1) * d + k] + p[j * d + k]);
        }
        drift.drift(x, &mut b);
        if !noise.diffusion(x, &mut ws, &mut a) {
            return Err(not_pd(x));
        }
        let pap = crate::linalg::quad_form(&a, d, &v, &v);
        let bp = crate::linalg::dot(&b, &v);
        worst = worst.max((0.5 * pap + bp).abs());
        scale = scale.max(0.5 * pap + bp.abs());
    }
    Ok(if scale > 0.0 { worst / scale } else { 0.0 })
}
