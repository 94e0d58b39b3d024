//! Discrete Freidlin–Wentzell actions with exact gradients (DESIGN §1).
//!
//! A path is a flat slice of `n` nodes in ℝᵈ (`nodes[i·d..(i+1)·d]` is φᵢ). Every quantity of a
//! segment φᵢ → φᵢ₊₁ is evaluated at its midpoint m = ½(φᵢ + φᵢ₊₁) (midpoint rule, second
//! order), with Δ = φᵢ₊₁ − φᵢ, b = b(m), M = a(m)⁻¹ and ⟨u, v⟩_a = uᵀMv:
//!
//! - **geometric action** (Heymann & Vanden-Eijnden 2008, CPAM 61:1052):
//!   S(φ) = Σᵢ (‖Δ‖_a ‖b‖_a − ⟨Δ, b⟩_a);
//! - **time action** on a uniform grid of step h:
//!   S_T(φ) = Σᵢ ½ h (Δ/h − b)ᵀ M (Δ/h − b).
//!
//! The gradients with respect to every node are exact: they include the drift Jacobian
//! J = ∂b/∂x at m and, for state-dependent noise, ∂M/∂xₖ (from
//! [`Diffusion::metric_with_derivatives`]). The kernels allocate nothing (the row buffers of the
//! workspace grow once per path length). With constant noise the metric is read once per
//! workspace and the segments are batched: the drifts at all midpoints
//! ([`VectorField::drift_rows`]), the products [Δ; b]·M and the pull-backs Jᵀ∂s/∂b
//! ([`VectorField::jacobian_transpose_rows`]) are each one sequential faer matrix product over
//! all segments for a linear drift (row by row through the model otherwise): O(n·d²) in
//! cache- and SIMD-friendly form. Where a(θ) varies, each segment is evaluated on its own,
//! O(d³).
//!
//! Removable singularities: where b(m) = 0 (at θ* and at saddles) or Δ = 0 the term ‖Δ‖‖b‖ is
//! not differentiable; the kernels use the zero subgradient of that cone term there (the ratios
//! ‖b‖/‖Δ‖ and ‖Δ‖/‖b‖ are bounded by the condition number of M elsewhere, so nothing blows up).

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas in the kernels

use crate::error::{Error, Result};
use crate::problem::{Diffusion, NoiseWorkspace, VectorField};

/// Scratch space for the action kernels; one per thread (allocated once per run).
#[derive(Clone, Debug)]
pub struct ActionWorkspace {
    d: usize,
    constant: bool,
    noise: NoiseWorkspace,
    m: Vec<f64>,
    dm: Vec<f64>,
    jac: Vec<f64>,
    mid: Vec<f64>,
    delta: Vec<f64>,
    b: Vec<f64>,
    m_delta: Vec<f64>,
    m_b: Vec<f64>,
    g_delta: Vec<f64>,
    g_b: Vec<f64>,
    g_mid: Vec<f64>,
    /// Batched buffers (constant noise), rows of d values per segment: midpoints; Δ rows then
    /// b rows; MΔ rows then Mb rows (overwritten by ∂s/∂Δ); ∂s/∂b rows; Jᵀ∂s/∂b rows.
    rows_mid: Vec<f64>,
    rows_db: Vec<f64>,
    rows_m: Vec<f64>,
    rows_gb: Vec<f64>,
    rows_gmid: Vec<f64>,
}

impl ActionWorkspace {
    /// Workspace for `noise` (dimension `noise.dim()`); for constant noise M = a⁻¹ is read here
    /// once.
    pub fn new<N: Diffusion>(noise: &N) -> Self {
        let d = noise.dim();
        let constant = noise.is_constant();
        let mut ws = ActionWorkspace {
            d,
            constant,
            noise: noise.workspace(),
            m: vec![0.0; d * d],
            dm: if constant {
                Vec::new()
            } else {
                vec![0.0; d * d * d]
            },
            jac: vec![0.0; d * d],
            mid: vec![0.0; d],
            delta: vec![0.0; d],
            b: vec![0.0; d],
            m_delta: vec![0.0; d],
            m_b: vec![0.0; d],
            g_delta: vec![0.0; d],
            g_b: vec![0.0; d],
            g_mid: vec![0.0; d],
            rows_mid: Vec::new(),
            rows_db: Vec::new(),
            rows_m: Vec::new(),
            rows_gb: Vec::new(),
            rows_gmid: Vec::new(),
        };
        if constant {
            let zero = vec![0.0; d];
            noise.metric(&zero, &mut ws.noise, &mut ws.m);
        }
        ws
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// The same workspace forced onto the per-segment kernels (M re-read at every midpoint),
    /// for checking the batched constant-noise kernels against them.
    #[cfg(test)]
    fn per_segment(mut self) -> Self {
        self.constant = false;
        self.dm = vec![0.0; self.d * self.d * self.d];
        self
    }

    /// Load Δ, m, b(m) and M(m) (and ∂M when `derivatives`) for segment `i`.
    #[inline]
    fn load_segment<B: VectorField, N: Diffusion>(
        &mut self,
        drift: &B,
        noise: &N,
        nodes: &[f64],
        i: usize,
        derivatives: bool,
    ) -> Result<()> {
        let d = self.d;
        let (p, q) = (&nodes[i * d..(i + 1) * d], &nodes[(i + 1) * d..(i + 2) * d]);
        for k in 0..d {
            self.delta[k] = q[k] - p[k];
            self.mid[k] = 0.5 * (q[k] + p[k]);
        }
        drift.drift(&self.mid, &mut self.b);
        if !self.constant {
            let ok = if derivatives {
                noise.metric_with_derivatives(&self.mid, &mut self.noise, &mut self.m, &mut self.dm)
            } else {
                noise.metric(&self.mid, &mut self.noise, &mut self.m)
            };
            if !ok {
                return Err(Error::NotPositiveDefinite {
                    field: "noise a(θ) along the path".into(),
                    detail: format!(
                        "a(θ) is not positive definite at θ = {:?} (midpoint of segment {i})",
                        self.mid
                    ),
                });
            }
        }
        // Fused M·Δ and M·b: one pass over M.
        for r in 0..d {
            let row = &self.m[r * d..(r + 1) * d];
            let (mut s1, mut s2) = (0.0, 0.0);
            for c in 0..d {
                s1 += row[c] * self.delta[c];
                s2 += row[c] * self.b[c];
            }
            self.m_delta[r] = s1;
            self.m_b[r] = s2;
        }
        Ok(())
    }

    /// Constant noise: Δᵢ, mᵢ, bᵢ = b(mᵢ) and MΔᵢ, Mbᵢ for all `segs` segments at once, as
    /// rows ([`VectorField::drift_rows`], then one sequential faer product [Δ; b]·M). The row
    /// buffers grow on the first call with a longer path and are reused afterwards.
    fn load_rows<B: VectorField>(&mut self, drift: &B, nodes: &[f64], segs: usize) {
        let d = self.d;
        let len = segs * d;
        if self.rows_mid.len() < len {
            self.rows_mid.resize(len, 0.0);
            self.rows_db.resize(2 * len, 0.0);
            self.rows_m.resize(2 * len, 0.0);
            self.rows_gb.resize(len, 0.0);
            self.rows_gmid.resize(len, 0.0);
        }
        for i in 0..segs {
            let (p, q) = (&nodes[i * d..(i + 1) * d], &nodes[(i + 1) * d..(i + 2) * d]);
            let mid = &mut self.rows_mid[i * d..(i + 1) * d];
            let delta = &mut self.rows_db[i * d..(i + 1) * d];
            for k in 0..d {
                delta[k] = q[k] - p[k];
                mid[k] = 0.5 * (q[k] + p[k]);
            }
        }
        drift.drift_rows(&self.rows_mid[..len], &mut self.rows_db[len..2 * len]);
        let db = faer::MatRef::from_row_major_slice(&self.rows_db[..2 * len], 2 * segs, d);
        let m = faer::MatRef::from_row_major_slice(&self.m, d, d);
        let dst = faer::MatMut::from_row_major_slice_mut(&mut self.rows_m[..2 * len], 2 * segs, d);
        faer::linalg::matmul::matmul(dst, faer::Accum::Replace, db, m, 1.0, faer::Par::Seq);
    }

    /// Constant noise, after the per-segment pass stored ∂s/∂Δ in the MΔ rows and ∂s/∂b in
    /// `rows_gb`: Jᵀ∂s/∂b for all segments ([`VectorField::jacobian_transpose_rows`]) and the
    /// scatter onto the nodes.
    fn pull_back_rows<B: VectorField>(&mut self, drift: &B, segs: usize, grad: &mut [f64]) {
        let d = self.d;
        let len = segs * d;
        drift.jacobian_transpose_rows(
            &self.rows_mid[..len],
            &self.rows_gb[..len],
            &mut self.jac,
            &mut self.rows_gmid[..len],
        );
        for i in 0..segs {
            let gd = &self.rows_m[i * d..(i + 1) * d];
            let gm = &self.rows_gmid[i * d..(i + 1) * d];
            for k in 0..d {
                let h = 0.5 * gm[k];
                grad[i * d + k] += h - gd[k];
                grad[(i + 1) * d + k] += h + gd[k];
            }
        }
    }

    /// g_mid = Jᵀ g_b (+ the ∂M terms, added by the caller), J = ∂b/∂x at the midpoint.
    #[inline]
    fn pull_back_drift<B: VectorField>(&mut self, drift: &B) {
        let d = self.d;
        drift.jacobian(&self.mid, &mut self.jac);
        self.g_mid.fill(0.0);
        for r in 0..d {
            let row = &self.jac[r * d..(r + 1) * d];
            let w = self.g_b[r];
            for c in 0..d {
                self.g_mid[c] += row[c] * w;
            }
        }
    }

    /// grad[i] += −g_Δ + ½ g_mid, grad[i+1] += g_Δ + ½ g_mid.
    #[inline]
    fn scatter(&self, grad: &mut [f64], i: usize) {
        let d = self.d;
        for k in 0..d {
            let h = 0.5 * self.g_mid[k];
            grad[i * d + k] += h - self.g_delta[k];
            grad[(i + 1) * d + k] += h + self.g_delta[k];
        }
    }
}

fn check_shape(nodes: &[f64], d: usize, grad: &Option<&mut [f64]>) {
    assert!(
        d > 0 && nodes.len().is_multiple_of(d),
        "nodes must hold n·d values"
    );
    if let Some(g) = grad {
        assert_eq!(g.len(), nodes.len(), "grad must have the shape of nodes");
    }
}

/// Geometric action S(φ) = Σᵢ (‖Δᵢ‖_a ‖b(mᵢ)‖_a − ⟨Δᵢ, b(mᵢ)⟩_a) of the polygon through `nodes`,
/// and, when `grad` is given, its exact gradient with respect to every node (overwritten).
///
/// Per segment, with p = ΔᵀMΔ, q = bᵀMb: ∂s/∂Δ = √(q/p) MΔ − Mb, ∂s/∂b = √(p/q) Mb − MΔ, pulled
/// back through Jᵀ, plus ½√(q/p) ΔᵀMₖΔ + ½√(p/q) bᵀMₖb − ΔᵀMₖb for ∂M/∂xₖ.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] naming the midpoint where a(θ) is not positive definite.
///
/// # Panics
/// If `nodes.len()` is not a multiple of d or `grad` has another length.
pub fn geometric_action<B: VectorField, N: Diffusion>(
    drift: &B,
    noise: &N,
    nodes: &[f64],
    ws: &mut ActionWorkspace,
    mut grad: Option<&mut [f64]>,
) -> Result<f64> {
    let d = ws.d;
    check_shape(nodes, d, &grad);
    let n = nodes.len() / d;
    let want = grad.is_some();
    if let Some(g) = grad.as_deref_mut() {
        g.fill(0.0);
    }
    if ws.constant {
        return Ok(geometric_rows(drift, nodes, ws, grad));
    }
    let mut total = 0.0;
    for i in 0..n.saturating_sub(1) {
        ws.load_segment(drift, noise, nodes, i, want)?;
        let p = dot(&ws.delta, &ws.m_delta).max(0.0);
        let q = dot(&ws.b, &ws.m_b).max(0.0);
        let r = dot(&ws.delta, &ws.m_b);
        let (sp, sq) = (p.sqrt(), q.sqrt());
        total += sp * sq - r;
        if let Some(g) = grad.as_deref_mut() {
            // Zero subgradient of the cone term where Δ = 0 or b = 0.
            let qp = if p > f64::MIN_POSITIVE { sq / sp } else { 0.0 };
            let pq = if q > f64::MIN_POSITIVE { sp / sq } else { 0.0 };
            for k in 0..d {
                ws.g_delta[k] = qp * ws.m_delta[k] - ws.m_b[k];
                ws.g_b[k] = pq * ws.m_b[k] - ws.m_delta[k];
            }
            ws.pull_back_drift(drift);
            if !ws.constant {
                let (al, be) = (0.5 * qp, 0.5 * pq);
                for k in 0..d {
                    let mk = &ws.dm[k * d * d..(k + 1) * d * d];
                    let mut s = 0.0;
                    for r in 0..d {
                        let (dr, br) = (ws.delta[r], ws.b[r]);
                        let row = &mk[r * d..(r + 1) * d];
                        for c in 0..d {
                            s +=
                                row[c] * (al * dr * ws.delta[c] + be * br * ws.b[c] - dr * ws.b[c]);
                        }
                    }
                    ws.g_mid[k] += s;
                }
            }
            ws.scatter(g, i);
        }
    }
    Ok(total)
}

/// Time action S_T(φ) = Σᵢ ½ h (Δᵢ/h − b(mᵢ))ᵀ M(mᵢ) (Δᵢ/h − b(mᵢ)) on a uniform time grid of
/// step `h` (so T = (n − 1) h), and, when `grad` is given, its exact gradient with respect to
/// every node (overwritten).
///
/// Per segment, with w = Δ/h − b: ∂s/∂Δ = Mw, ∂s/∂m = −h JᵀMw + ½ h wᵀMₖw.
///
/// # Errors
/// [`Error::NotPositiveDefinite`] naming the midpoint where a(θ) is not positive definite.
///
/// # Panics
/// If `nodes.len()` is not a multiple of d, `grad` has another length or `h ≤ 0`.
pub fn time_action<B: VectorField, N: Diffusion>(
    drift: &B,
    noise: &N,
    nodes: &[f64],
    h: f64,
    ws: &mut ActionWorkspace,
    mut grad: Option<&mut [f64]>,
) -> Result<f64> {
    let d = ws.d;
    check_shape(nodes, d, &grad);
    assert!(h > 0.0, "time step must be positive");
    let n = nodes.len() / d;
    let want = grad.is_some();
    if let Some(g) = grad.as_deref_mut() {
        g.fill(0.0);
    }
    if ws.constant {
        return Ok(time_rows(drift, nodes, h, ws, grad));
    }
    let inv_h = 1.0 / h;
    let mut total = 0.0;
    for i in 0..n.saturating_sub(1) {
        ws.load_segment(drift, noise, nodes, i, want)?;
        // w = Δ/h − b and Mw = MΔ/h − Mb, from the fused products.
        let mut s = 0.0;
        for k in 0..d {
            let w = ws.delta[k] * inv_h - ws.b[k];
            let mw = ws.m_delta[k] * inv_h - ws.m_b[k];
            s += w * mw;
            ws.g_delta[k] = mw;
            ws.g_b[k] = -h * mw;
        }
        total += 0.5 * h * s;
        if let Some(g) = grad.as_deref_mut() {
            ws.pull_back_drift(drift);
            if !ws.constant {
                for k in 0..d {
                    let mk = &ws.dm[k * d * d..(k + 1) * d * d];
                    let mut s = 0.0;
                    for r in 0..d {
                        let wr = ws.delta[r] * inv_h - ws.b[r];
                        let row = &mk[r * d..(r + 1) * d];
                        for c in 0..d {
                            s += row[c] * wr * (ws.delta[c] * inv_h - ws.b[c]);
                        }
                    }
                    ws.g_mid[k] += 0.5 * h * s;
                }
            }
            ws.scatter(g, i);
        }
    }
    Ok(total)
}

/// [`geometric_action`] for constant noise, segments batched (same formulas; the products by
/// M, the drift and the Jacobian pull-back are matrix products over all segments).
fn geometric_rows<B: VectorField>(
    drift: &B,
    nodes: &[f64],
    ws: &mut ActionWorkspace,
    grad: Option<&mut [f64]>,
) -> f64 {
    let d = ws.d;
    let segs = (nodes.len() / d).saturating_sub(1);
    if segs == 0 {
        return 0.0;
    }
    ws.load_rows(drift, nodes, segs);
    let len = segs * d;
    let want = grad.is_some();
    let mut total = 0.0;
    for i in 0..segs {
        let r0 = i * d..(i + 1) * d;
        let r1 = len + i * d..len + (i + 1) * d;
        let (delta, b) = (&ws.rows_db[r0.clone()], &ws.rows_db[r1.clone()]);
        let (md, mb) = (&ws.rows_m[r0.clone()], &ws.rows_m[r1]);
        let p = dot(delta, md).max(0.0);
        let q = dot(b, mb).max(0.0);
        let r = dot(delta, mb);
        let (sp, sq) = (p.sqrt(), q.sqrt());
        total += sp * sq - r;
        if want {
            // Zero subgradient of the cone term where Δ = 0 or b = 0.
            let qp = if p > f64::MIN_POSITIVE { sq / sp } else { 0.0 };
            let pq = if q > f64::MIN_POSITIVE { sp / sq } else { 0.0 };
            let (head, tail) = ws.rows_m.split_at_mut(len);
            let md = &mut head[r0.clone()];
            let mb = &tail[i * d..(i + 1) * d];
            let gb = &mut ws.rows_gb[r0];
            for k in 0..d {
                let (x, y) = (md[k], mb[k]);
                md[k] = qp * x - y;
                gb[k] = pq * y - x;
            }
        }
    }
    if let Some(g) = grad {
        ws.pull_back_rows(drift, segs, g);
    }
    total
}

/// [`time_action`] for constant noise, segments batched.
fn time_rows<B: VectorField>(
    drift: &B,
    nodes: &[f64],
    h: f64,
    ws: &mut ActionWorkspace,
    grad: Option<&mut [f64]>,
) -> f64 {
    let d = ws.d;
    let segs = (nodes.len() / d).saturating_sub(1);
    if segs == 0 {
        return 0.0;
    }
    ws.load_rows(drift, nodes, segs);
    let len = segs * d;
    let inv_h = 1.0 / h;
    let mut total = 0.0;
    for i in 0..segs {
        let (head, tail) = ws.rows_m.split_at_mut(len);
        let md = &mut head[i * d..(i + 1) * d];
        let mb = &tail[i * d..(i + 1) * d];
        let delta = &ws.rows_db[i * d..(i + 1) * d];
        let b = &ws.rows_db[len + i * d..len + (i + 1) * d];
        let gb = &mut ws.rows_gb[i * d..(i + 1) * d];
        // w = Δ/h − b and Mw = MΔ/h − Mb; ∂s/∂Δ = Mw (into the MΔ row), ∂s/∂b = −h Mw.
        let mut s = 0.0;
        for k in 0..d {
            let w = delta[k] * inv_h - b[k];
            let mw = md[k] * inv_h - mb[k];
            s += w * mw;
            md[k] = mw;
            gb[k] = -h * mw;
        }
        total += 0.5 * h * s;
    }
    if let Some(g) = grad {
        ws.pull_back_rows(drift, segs, g);
    }
    total
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for k in 0..a.len() {
        s += a[k] * b[k];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, ModelVisitor, Problem};

    /// Central differences of the action against the analytic gradient, at every node.
    struct FdCheck {
        nodes: Vec<f64>,
        time_step: Option<f64>,
    }

    impl ModelVisitor for FdCheck {
        type Output = f64;
        fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> f64 {
            let mut ws = ActionWorkspace::new(n);
            let eval =
                |x: &[f64], ws: &mut ActionWorkspace, g: Option<&mut [f64]>| match self.time_step {
                    Some(h) => time_action(b, n, x, h, ws, g).unwrap(),
                    None => geometric_action(b, n, x, ws, g).unwrap(),
                };
            let mut g = vec![0.0; self.nodes.len()];
            eval(&self.nodes, &mut ws, Some(&mut g));
            let s0 = eval(&self.nodes, &mut ws, None);
            let mut worst: f64 = 0.0;
            let step = 1e-6;
            for k in 0..self.nodes.len() {
                let mut x = self.nodes.clone();
                x[k] += step;
                let sp = eval(&x, &mut ws, None);
                x[k] -= 2.0 * step;
                let sm = eval(&x, &mut ws, None);
                let fd = (sp - sm) / (2.0 * step);
                worst = worst.max((fd - g[k]).abs() / (1.0 + g[k].abs() + s0.abs()));
            }
            worst
        }
    }

    fn wiggly_path(start: &[f64], end: &[f64], n: usize) -> Vec<f64> {
        let d = start.len();
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            let t = i as f64 / (n - 1) as f64;
            for k in 0..d {
                let bump = 0.2 * (std::f64::consts::PI * t).sin() * ((k + 1) as f64 * 0.7).cos();
                x.push(start[k] + t * (end[k] - start[k]) + bump);
            }
        }
        x
    }

    #[test]
    fn gradients_match_finite_differences() {
        type Case = (&'static str, Vec<(String, f64)>, Vec<f64>);
        let cases: Vec<Case> = vec![
            ("maier-stein", vec![("beta".into(), 10.0)], vec![0.0, 0.1]),
            ("manufactured-anisotropic", vec![], vec![0.6, -0.4]),
            ("quadratic-anisotropic-3d", vec![], vec![0.3, -0.2, 0.25]),
            ("rotational-double-well", vec![], vec![-0.2, 0.3]),
        ];
        for (name, params, end) in cases {
            let opts = BuildOptions {
                parameters: params,
                ..Default::default()
            };
            let p = Problem::load(name, &opts).unwrap();
            for h in [None, Some(0.05)] {
                let nodes = wiggly_path(&p.minimum, &end, 9);
                let worst = p.visit(FdCheck {
                    nodes,
                    time_step: h,
                });
                assert!(worst < 1e-6, "{name} (h = {h:?}): relative error {worst:e}");
            }
        }
    }

    /// The batched constant-noise kernels (matrix products over all segments) against the
    /// per-segment kernels, value and gradient, for a linear drift (overridden row methods) and
    /// a nonlinear one (default row methods).
    #[test]
    fn batched_kernels_match_per_segment_kernels() {
        struct Cmp {
            nodes: Vec<f64>,
        }
        impl ModelVisitor for Cmp {
            type Output = f64;
            fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> f64 {
                assert!(n.is_constant());
                let mut worst: f64 = 0.0;
                for h in [None, Some(0.07)] {
                    let mut out = Vec::new();
                    for ws in [
                        ActionWorkspace::new(n),
                        ActionWorkspace::new(n).per_segment(),
                    ] {
                        let mut ws = ws;
                        let mut g = vec![0.0; self.nodes.len()];
                        // Twice: the second call reuses the batched buffers.
                        let mut s = 0.0;
                        for _ in 0..2 {
                            s = match h {
                                Some(h) => time_action(b, n, &self.nodes, h, &mut ws, Some(&mut g)),
                                None => geometric_action(b, n, &self.nodes, &mut ws, Some(&mut g)),
                            }
                            .unwrap();
                        }
                        out.push((s, g));
                    }
                    let (a, c) = (&out[0], &out[1]);
                    let scale = 1.0 + a.0.abs();
                    worst = worst.max((a.0 - c.0).abs() / scale);
                    for (x, y) in a.1.iter().zip(&c.1) {
                        worst = worst.max((x - y).abs() / scale);
                    }
                }
                worst
            }
        }
        for (name, end) in [
            ("quadratic-anisotropic-3d", vec![0.3, -0.2, 0.25]),
            ("maier-stein", vec![0.0, 0.1]),
        ] {
            let p = Problem::load(name, &BuildOptions::default()).unwrap();
            let worst = p.visit(Cmp {
                nodes: wiggly_path(&p.minimum, &end, 11),
            });
            assert!(worst < 1e-13, "{name}: batched vs per-segment {worst:e}");
        }
        // d = 64 (faer's blocked kernels), a full Hessian and a full noise matrix.
        let d = 64;
        let mat = |f: &dyn Fn(usize, usize) -> f64| {
            let rows: Vec<String> = (0..d)
                .map(|i| {
                    let r: Vec<String> = (0..d).map(|j| format!("{:.17e}", f(i, j))).collect();
                    format!("[{}]", r.join(", "))
                })
                .collect();
            format!("[{}]", rows.join(", "))
        };
        let a = mat(&|i, j| {
            if i == j {
                1.5
            } else {
                0.3 * ((i * j) as f64 * 0.37).sin() / d as f64
            }
        });
        let c = mat(&|i, j| {
            if i == j {
                1.0
            } else {
                0.2 * ((i + j) as f64).cos() / d as f64
            }
        });
        let center: Vec<f64> = (0..d).map(|i| 0.1 * (i as f64).cos()).collect();
        let text = format!(
            "minimum = {center:?}\n[drift]\nhessian = {a}\n[noise]\nsource = \"matrix\"\nmatrix = {c}\n[domain]\nkind = \"ball\"\nradius = 1.0\n"
        );
        let p = crate::problem::ProblemSpec::from_toml(&text, "test")
            .unwrap()
            .build(std::path::Path::new("."), &BuildOptions::default())
            .unwrap();
        let end: Vec<f64> = (0..d)
            .map(|i| center[i] + 0.1 * ((i * 5) as f64).sin())
            .collect();
        let worst = p.visit(Cmp {
            nodes: wiggly_path(&p.minimum, &end, 9),
        });
        assert!(worst < 1e-13, "d = {d}: batched vs per-segment {worst:e}");
    }

    #[test]
    fn state_dependent_hessian_noise_gradient() {
        // C(θ) = ∇²L(θ), genuinely state-dependent, with both weights.
        let text = r#"
            variables = ["x", "y"]
            minimum = [0.0, 0.0]
            [drift]
            loss = "x^2/2 + x^4/4 + y^2/2 + 0.2*x^2*y^2"
            [noise]
            source = "hessian"
            [domain]
            kind = "ball"
            radius = 1.0
        "#;
        let spec = crate::problem::ProblemSpec::from_toml(text, "test").unwrap();
        for w in [
            crate::problem::Weight::InverseSqrt,
            crate::problem::Weight::Inverse,
        ] {
            let opts = BuildOptions {
                weight: Some(w),
                ..Default::default()
            };
            let p = spec.build(std::path::Path::new("."), &opts).unwrap();
            assert!(!p.noise.is_constant());
            for h in [None, Some(0.1)] {
                let nodes = wiggly_path(&p.minimum, &[0.5, -0.4], 7);
                let worst = p.visit(FdCheck {
                    nodes,
                    time_step: h,
                });
                assert!(worst < 1e-6, "hessian noise {w:?} (h = {h:?}): {worst:e}");
            }
        }
    }

    #[test]
    fn straight_path_with_zero_drift_segment_is_finite() {
        // A path that starts and ends at stationary points (θ* and the saddle): b = 0 at the
        // end nodes must not produce NaN in the gradient.
        let p = Problem::load("maier-stein", &BuildOptions::default()).unwrap();
        let nodes = vec![-1.0, 0.0, -1.0, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0];
        struct G(Vec<f64>);
        impl ModelVisitor for G {
            type Output = Vec<f64>;
            fn visit<B: VectorField, N: Diffusion>(self, b: &B, n: &N) -> Vec<f64> {
                let mut ws = ActionWorkspace::new(n);
                let mut g = vec![0.0; self.0.len()];
                let s = geometric_action(b, n, &self.0, &mut ws, Some(&mut g)).unwrap();
                g.push(s);
                g
            }
        }
        let g = p.visit(G(nodes));
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
