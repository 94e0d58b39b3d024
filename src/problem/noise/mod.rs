//! Noise: the covariance C(θ) from its source, and the diffusion a = C^{1/2} or a = C chosen by
//! the action weight (DESIGN §1).

mod closed_form;

use super::drift::Loss;
use super::formula::{Formula, Program};
use super::model::Diffusion;
use crate::error::{Error, Result};
use crate::linalg::{
    check_eigenvalues_positive, check_spd, power_divided_difference, real_power, spectral_apply,
    symmetric_eigen, Matrix, SpectralWorkspace,
};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Which Freidlin–Wentzell action: the exponent p in a = C^p.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Weight {
    /// M = C^{-1/2}, a = C^{1/2}: the paper's Definition 4 (default).
    #[default]
    InverseSqrt,
    /// M = C^{-1}, a = C: the action of the paper's eq. (3) and of Gaussian SGD.
    Inverse,
}

impl Weight {
    /// p in a = C^p.
    pub fn exponent(self) -> f64 {
        match self {
            Weight::InverseSqrt => 0.5,
            Weight::Inverse => 1.0,
        }
    }
    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Weight::InverseSqrt => "inverse-sqrt",
            Weight::Inverse => "inverse",
        }
    }
    /// Parse `inverse-sqrt` or `inverse`.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        match s {
            "inverse-sqrt" => Ok(Weight::InverseSqrt),
            "inverse" => Ok(Weight::Inverse),
            _ => Err(Error::invalid(
                field,
                format!("unknown weight \"{s}\"; expected \"inverse-sqrt\" (M = C^-1/2, a = C^1/2) or \"inverse\" (M = C^-1, a = C)"),
            )),
        }
    }
}

/// Scratch space for noise evaluations; one per thread.
#[derive(Clone, Debug)]
pub struct NoiseWorkspace {
    /// Eigen-decomposition scratch.
    pub spectral: SpectralWorkspace,
    c: Vec<f64>,
    dc: Vec<f64>,
    /// d² scratch for the closed forms (a product, a Cholesky factor).
    tmp: Vec<f64>,
    scratch: Vec<f64>,
}

impl NoiseWorkspace {
    /// Workspace for dimension d.
    pub fn new(d: usize) -> Self {
        NoiseWorkspace {
            spectral: SpectralWorkspace::new(d),
            c: vec![0.0; d * d],
            dc: vec![0.0; d * d * d],
            tmp: vec![0.0; d * d],
            scratch: vec![0.0; d * d],
        }
    }
}

/// Constant noise: a = C^p computed once; a⁻¹ and a^{1/2} computed on first use (large
/// quadratic problems in the exact engine need only a).
#[derive(Clone, Debug)]
pub struct ConstantNoise {
    /// The covariance C.
    pub covariance: Matrix,
    /// a = C^p.
    pub diffusion: Matrix,
    metric: OnceLock<Matrix>,
    sqrt: OnceLock<Matrix>,
    /// p and the eigendecomposition of C (None when p = 1 and no root was needed yet).
    exponent: f64,
    eigen: OnceLock<(Vec<f64>, faer::Mat<f64>)>,
}

impl ConstantNoise {
    /// Build from an SPD covariance; `field` names it for errors.
    pub fn new(covariance: Matrix, weight: Weight, field: &str) -> Result<Self> {
        covariance.check_finite(field)?;
        covariance.check_symmetric(field)?;
        let p = weight.exponent();
        let eigen = OnceLock::new();
        let diffusion = if p == 1.0 {
            check_spd(&covariance, field)?;
            covariance.clone()
        } else {
            let (vals, vecs) = symmetric_eigen(&covariance, field)?;
            check_eigenvalues_positive(&vals, field)?;
            let a = spectral_apply(&vals, &vecs, |l| real_power(l, p));
            let _ = eigen.set((vals, vecs));
            a
        };
        Ok(ConstantNoise {
            covariance,
            diffusion,
            metric: OnceLock::new(),
            sqrt: OnceLock::new(),
            exponent: p,
            eigen,
        })
    }

    fn eigen(&self) -> &(Vec<f64>, faer::Mat<f64>) {
        self.eigen.get_or_init(|| {
            // C was checked SPD at construction, so this cannot fail.
            symmetric_eigen(&self.covariance, "noise").expect("SPD matrix")
        })
    }

    /// M = a⁻¹ = C^{−p}.
    pub fn metric_matrix(&self) -> &Matrix {
        self.metric.get_or_init(|| {
            let (vals, vecs) = self.eigen();
            spectral_apply(vals, vecs, |l| real_power(l, -self.exponent))
        })
    }

    /// σ = a^{1/2} = C^{p/2}.
    pub fn sqrt_matrix(&self) -> &Matrix {
        self.sqrt.get_or_init(|| {
            let (vals, vecs) = self.eigen();
            spectral_apply(vals, vecs, |l| real_power(l, 0.5 * self.exponent))
        })
    }
}

impl Diffusion for ConstantNoise {
    fn dim(&self) -> usize {
        self.covariance.n
    }
    fn is_constant(&self) -> bool {
        true
    }
    fn workspace(&self) -> NoiseWorkspace {
        // Constant noise needs no scratch; keep the workspace tiny.
        NoiseWorkspace::new(0)
    }
    #[inline]
    fn diffusion(&self, _x: &[f64], _ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        out.copy_from_slice(&self.diffusion.data);
        true
    }
    #[inline]
    fn metric(&self, _x: &[f64], _ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        out.copy_from_slice(&self.metric_matrix().data);
        true
    }
    #[inline]
    fn metric_with_derivatives(
        &self,
        _x: &[f64],
        _ws: &mut NoiseWorkspace,
        m: &mut [f64],
        dm: &mut [f64],
    ) -> bool {
        m.copy_from_slice(&self.metric_matrix().data);
        dm.fill(0.0);
        true
    }
    #[inline]
    fn sqrt(&self, _x: &[f64], _ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        out.copy_from_slice(&self.sqrt_matrix().data);
        true
    }
}

/// Where a state-dependent covariance C(θ) comes from.
#[derive(Clone, Debug)]
pub enum CovarianceField {
    /// Entries given by formulas (row-major), with their exact partials at (k·d + i)·d + j.
    Formulas {
        /// Cᵢⱼ.
        entries: Program,
        /// ∂Cᵢⱼ/∂θₖ.
        partials: Program,
        /// Parameter values appended after θ.
        parameters: Vec<f64>,
    },
    /// C = ∇²L(θ), eigenvalues clipped below at `floor`.
    Hessian {
        /// The loss (with third derivatives compiled).
        loss: Loss,
        /// Eigenvalue floor.
        floor: f64,
    },
}

/// State-dependent noise a(θ) = C(θ)^p.
#[derive(Clone, Debug)]
pub struct VariableNoise {
    /// The source of C(θ).
    pub field: CovarianceField,
    /// The weight (p).
    pub weight: Weight,
    d: usize,
    /// Use the closed forms of [`closed_form`] where they apply (off only to check them).
    closed_forms: bool,
}

impl VariableNoise {
    /// Build; `d` is the dimension.
    pub fn new(field: CovarianceField, weight: Weight, d: usize) -> Self {
        VariableNoise {
            field,
            weight,
            d,
            closed_forms: true,
        }
    }

    /// The same noise evaluated through eigendecompositions only (the reference the closed
    /// forms are checked against).
    pub fn spectral_only(&self) -> Self {
        VariableNoise {
            closed_forms: false,
            ..self.clone()
        }
    }

    /// Fill ws.c with C(x), symmetrised (formula round-off must not break the eigensolver's
    /// assumptions).
    #[inline]
    fn covariance(&self, x: &[f64], ws: &mut NoiseWorkspace) {
        match &self.field {
            CovarianceField::Formulas { entries, .. } => entries.eval(x, &mut ws.c),
            CovarianceField::Hessian { loss, .. } => loss.hessian(x, &mut ws.c),
        }
        let d = self.d;
        for i in 0..d {
            for j in 0..i {
                let m = 0.5 * (ws.c[i * d + j] + ws.c[j * d + i]);
                ws.c[i * d + j] = m;
                ws.c[j * d + i] = m;
            }
        }
    }

    /// Fill ws.dc with ∂C/∂xₖ, k = 0..d.
    fn covariance_derivatives(&self, x: &[f64], ws: &mut NoiseWorkspace) {
        match &self.field {
            CovarianceField::Formulas { partials, .. } => partials.eval(x, &mut ws.dc),
            CovarianceField::Hessian { loss, .. } => loss.third_derivatives(x, &mut ws.dc),
        }
    }

    /// Fill ws.c with C(x) and decompose it; returns λ_min of the (unclipped) C.
    fn decompose(&self, x: &[f64], ws: &mut NoiseWorkspace) -> f64 {
        self.covariance(x, ws);
        ws.spectral.decompose(&ws.c);
        ws.spectral
            .vals
            .iter()
            .cloned()
            .fold(f64::INFINITY, f64::min)
    }

    /// True when a⁻¹(θ) and its derivatives come from closed forms (weight `inverse` in any d,
    /// or 2-D), not from an eigendecomposition per point.
    pub fn has_closed_form_metric(&self) -> bool {
        let q = -self.weight.exponent();
        self.closed() && (q == -1.0 || (self.d == 2 && q == -0.5))
    }

    /// True when the closed forms apply: no eigenvalue floor (clipping needs the spectrum).
    fn closed(&self) -> bool {
        self.closed_forms && self.floor() == 0.0
    }

    /// out = C(x)^q in closed form: `Some(positive definite)`, or `None` when no closed form
    /// covers this q and d.
    #[inline]
    fn closed_power(
        &self,
        x: &[f64],
        ws: &mut NoiseWorkspace,
        q: f64,
        out: &mut [f64],
    ) -> Option<bool> {
        use closed_form::{inverse2, spd_inverse, sqrt2};
        let d = self.d;
        let root_cases = d == 2 && matches!(q, 0.5 | -0.5 | 0.25 | -0.25);
        if !self.closed() || !(q == 1.0 || q == -1.0 || root_cases) {
            return None;
        }
        self.covariance(x, ws);
        if q == 1.0 {
            // a = C: only positive definiteness to check.
            let ok = spd_inverse(&ws.c, d, &mut ws.tmp, &mut ws.scratch);
            out.copy_from_slice(&ws.c);
            return Some(ok);
        }
        if q == -1.0 {
            return Some(spd_inverse(&ws.c, d, out, &mut ws.scratch));
        }
        let Some((s, _, _)) = sqrt2(&ws.c) else {
            return Some(false);
        };
        let m = match q {
            0.5 => s,
            -0.5 => inverse2(&s),
            0.25 => sqrt2(&s)?.0,
            _ => inverse2(&sqrt2(&s)?.0),
        };
        out.copy_from_slice(&m);
        Some(true)
    }

    /// m = a⁻¹ = C^q (q = −1, or −½ in 2-D) and dm = ∂m/∂xₖ in closed form; `None` when no
    /// closed form covers this q and d.
    fn closed_metric_with_derivatives(
        &self,
        x: &[f64],
        ws: &mut NoiseWorkspace,
        q: f64,
        m: &mut [f64],
        dm: &mut [f64],
    ) -> Option<bool> {
        use closed_form::{inverse2, inverse_derivative, spd_inverse, sqrt2, sqrt2_derivative};
        let d = self.d;
        if !self.closed() || !(q == -1.0 || (d == 2 && q == -0.5)) {
            return None;
        }
        self.covariance(x, ws);
        let dd = d * d;
        if q == -1.0 {
            if !spd_inverse(&ws.c, d, m, &mut ws.scratch) {
                return Some(false);
            }
            self.covariance_derivatives(x, ws);
            for k in 0..d {
                let dck = &ws.dc[k * dd..(k + 1) * dd];
                inverse_derivative(m, dck, d, &mut ws.tmp, &mut dm[k * dd..(k + 1) * dd]);
            }
            return Some(true);
        }
        let Some(root) = sqrt2(&ws.c) else {
            return Some(false);
        };
        let inv = inverse2(&root.0);
        m.copy_from_slice(&inv);
        self.covariance_derivatives(x, ws);
        for k in 0..2 {
            let ds = sqrt2_derivative(&ws.c, &root, &ws.dc[4 * k..4 * k + 4]);
            inverse_derivative(&inv, &ds, 2, &mut ws.tmp, &mut dm[4 * k..4 * k + 4]);
        }
        Some(true)
    }

    fn floor(&self) -> f64 {
        match &self.field {
            CovarianceField::Hessian { floor, .. } => *floor,
            CovarianceField::Formulas { .. } => 0.0,
        }
    }

    /// F(λ) = max(λ, floor)^q and its first divided difference.
    #[inline]
    fn clipped_power(q: f64, floor: f64, l: f64) -> f64 {
        real_power(l.max(floor), q)
    }
    #[inline]
    fn clipped_dd(q: f64, floor: f64, a: f64, b: f64) -> f64 {
        if a >= floor && b >= floor {
            power_divided_difference(q, a, b)
        } else if a < floor && b < floor {
            0.0
        } else {
            (Self::clipped_power(q, floor, a) - Self::clipped_power(q, floor, b)) / (a - b)
        }
    }

    /// out = C(x)^q (clipped at the floor); false when C is not positive definite.
    #[inline]
    fn power(&self, x: &[f64], ws: &mut NoiseWorkspace, q: f64, out: &mut [f64]) -> bool {
        match self.closed_power(x, ws, q, out) {
            Some(ok) => ok,
            None => self.spectral_power(x, ws, q, out),
        }
    }

    /// [`Self::power`] through the eigendecomposition, which stays in `ws.spectral`.
    fn spectral_power(&self, x: &[f64], ws: &mut NoiseWorkspace, q: f64, out: &mut [f64]) -> bool {
        let lmin = self.decompose(x, ws);
        let floor = self.floor();
        if floor == 0.0 && !(lmin > 0.0) {
            return false;
        }
        ws.spectral.apply(|l| Self::clipped_power(q, floor, l), out);
        true
    }
}

impl Diffusion for VariableNoise {
    fn dim(&self) -> usize {
        self.d
    }
    fn is_constant(&self) -> bool {
        false
    }
    fn diffusion(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        self.power(x, ws, self.weight.exponent(), out)
    }
    fn metric(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        self.power(x, ws, -self.weight.exponent(), out)
    }
    fn metric_with_derivatives(
        &self,
        x: &[f64],
        ws: &mut NoiseWorkspace,
        m: &mut [f64],
        dm: &mut [f64],
    ) -> bool {
        let q = -self.weight.exponent();
        if let Some(ok) = self.closed_metric_with_derivatives(x, ws, q, m, dm) {
            return ok;
        }
        if !self.spectral_power(x, ws, q, m) {
            return false;
        }
        let d = self.d;
        self.covariance_derivatives(x, ws);
        let floor = self.floor();
        for k in 0..d {
            let block = &mut dm[k * d * d..(k + 1) * d * d];
            let dck = &ws.dc[k * d * d..(k + 1) * d * d];
            // Daleckii–Krein: ∂f(C) = Q (f^{[1]} ∘ Qᵀ ∂C Q) Qᵀ.
            ws.spectral
                .apply_derivative(|a, b| Self::clipped_dd(q, floor, a, b), dck, block);
        }
        true
    }
    #[inline]
    fn sqrt(&self, x: &[f64], ws: &mut NoiseWorkspace, out: &mut [f64]) -> bool {
        self.power(x, ws, 0.5 * self.weight.exponent(), out)
    }
}

/// The noise of a problem.
#[derive(Clone, Debug)]
pub enum Noise {
    /// a constant.
    Constant(ConstantNoise),
    /// a = a(θ).
    Variable(VariableNoise),
}

/// What the noise is, for reports.
#[derive(Clone, Debug, Serialize)]
pub struct NoiseDescription {
    /// identity | hessian-at-minimum | hessian | matrix | field.
    pub source: String,
    /// inverse-sqrt | inverse.
    pub weight: Weight,
    /// The eigenvalue floor of the `hessian` source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
}

impl Noise {
    /// The same noise with its formulas interpreted instead of compiled.
    pub fn interpreted(&self) -> Self {
        match self {
            Noise::Variable(v) => {
                let field = match &v.field {
                    CovarianceField::Formulas {
                        entries,
                        partials,
                        parameters,
                    } => CovarianceField::Formulas {
                        entries: entries.interpreted(),
                        partials: partials.interpreted(),
                        parameters: parameters.clone(),
                    },
                    CovarianceField::Hessian { loss, floor } => CovarianceField::Hessian {
                        loss: loss.interpreted(),
                        floor: *floor,
                    },
                };
                Noise::Variable(VariableNoise { field, ..v.clone() })
            }
            other => other.clone(),
        }
    }
    /// Evaluate a(x) (allocating; for set-up code).
    pub fn diffusion_at(&self, x: &[f64]) -> Option<Matrix> {
        let d = x.len();
        let mut out = Matrix::zeros(d);
        let ok = match self {
            Noise::Constant(n) => n.diffusion(x, &mut n.workspace(), &mut out.data),
            Noise::Variable(n) => n.diffusion(x, &mut n.workspace(), &mut out.data),
        };
        ok.then_some(out)
    }
    /// Evaluate a(x)⁻¹ (allocating).
    pub fn metric_at(&self, x: &[f64]) -> Option<Matrix> {
        let d = x.len();
        let mut out = Matrix::zeros(d);
        let ok = match self {
            Noise::Constant(n) => n.metric(x, &mut n.workspace(), &mut out.data),
            Noise::Variable(n) => n.metric(x, &mut n.workspace(), &mut out.data),
        };
        ok.then_some(out)
    }
    /// True for constant noise.
    pub fn is_constant(&self) -> bool {
        matches!(self, Noise::Constant(_))
    }
}

/// Build a covariance-entry field from formulas, with exact partials.
pub fn covariance_formulas(
    entries: Vec<Formula>,
    d: usize,
    parameters: Vec<f64>,
    field: &str,
) -> Result<CovarianceField> {
    let mut partials = Vec::with_capacity(d * d * d);
    for k in 0..d {
        for e in &entries {
            partials.push(e.partial(k, field)?);
        }
    }
    Ok(CovarianceField::Formulas {
        entries: Program::new(entries, d, parameters.clone()),
        partials: Program::new(partials, d, parameters.clone()),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_give_the_right_powers() {
        let c = Matrix::from_rows(&[vec![4.0, 0.0], vec![0.0, 9.0]], "c").unwrap();
        let n = ConstantNoise::new(c.clone(), Weight::InverseSqrt, "c").unwrap();
        assert!((n.diffusion.get(0, 0) - 2.0).abs() < 1e-14);
        assert!((n.metric_matrix().get(1, 1) - 1.0 / 3.0).abs() < 1e-14);
        assert!((n.sqrt_matrix().get(1, 1) - 3f64.sqrt()).abs() < 1e-14);
        let n = ConstantNoise::new(c, Weight::Inverse, "c").unwrap();
        assert!((n.diffusion.get(1, 1) - 9.0).abs() < 1e-14);
        assert!((n.metric_matrix().get(0, 0) - 0.25).abs() < 1e-14);
        assert!((n.sqrt_matrix().get(0, 0) - 2.0).abs() < 1e-14);
    }

    /// A state-dependent SPD field in d dimensions (Gershgorin: diagonal ≥ 1.2, off-diagonal
    /// |0.2 cos| ≤ 0.2, so positive definite for d ≤ 5), symmetric entry by entry.
    fn field(d: usize) -> CovarianceField {
        let names: Vec<String> = (0..d).map(|i| format!("x{i}")).collect();
        let mut entries = Vec::new();
        for i in 0..d {
            for j in 0..d {
                let t = if i == j {
                    format!("1.5 + 0.3*sin(x{i}) + 0.1*x{j}^2")
                } else {
                    let (a, b) = (i.min(j), i.max(j));
                    format!("0.2*cos(x{a} + 2*x{b})")
                };
                entries.push(Formula::parse(&t, &names, "noise.field").unwrap());
            }
        }
        covariance_formulas(entries, d, vec![], "noise.field").unwrap()
    }

    #[test]
    fn closed_forms_agree_with_the_spectral_forms() {
        let close = |a: &[f64], b: &[f64], what: &str| {
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() <= 1e-13 * (1.0 + v.abs()),
                    "{what}: {a:?} vs {b:?}"
                );
            }
        };
        for d in 1..=4 {
            for w in [Weight::Inverse, Weight::InverseSqrt] {
                let closed = VariableNoise::new(field(d), w, d);
                let spectral = closed.spectral_only();
                let (mut wa, mut wb) = (closed.workspace(), spectral.workspace());
                for p in 0..20 {
                    let x: Vec<f64> = (0..d)
                        .map(|i| (0.37 * (p * d + i) as f64).sin() * 2.0)
                        .collect();
                    let (mut a, mut b) = (vec![0.0; d * d], vec![0.0; d * d]);
                    let (mut da, mut db) = (vec![0.0; d * d * d], vec![0.0; d * d * d]);
                    assert!(closed.metric_with_derivatives(&x, &mut wa, &mut a, &mut da));
                    assert!(spectral.metric_with_derivatives(&x, &mut wb, &mut b, &mut db));
                    close(&a, &b, &format!("M, d = {d}, {w:?}"));
                    close(&da, &db, &format!("∂M, d = {d}, {w:?}"));
                    type Eval = fn(&VariableNoise, &[f64], &mut NoiseWorkspace, &mut [f64]) -> bool;
                    for (name, f) in [
                        ("a", VariableNoise::diffusion as Eval),
                        ("M", VariableNoise::metric as Eval),
                        ("σ", VariableNoise::sqrt as Eval),
                    ] {
                        assert!(
                            f(&closed, &x, &mut wa, &mut a) && f(&spectral, &x, &mut wb, &mut b)
                        );
                        close(&a, &b, &format!("{name}, d = {d}, {w:?}"));
                    }
                }
            }
        }
    }

    /// A 2-D covariance field over (x, y) from its four entries (row-major).
    fn field_2d(entries: [&str; 4]) -> CovarianceField {
        let names: Vec<String> = vec!["x".into(), "y".into()];
        let entries = entries
            .iter()
            .map(|t| Formula::parse(t, &names, "noise.field").unwrap())
            .collect();
        covariance_formulas(entries, 2, vec![], "noise.field").unwrap()
    }

    #[test]
    fn closed_forms_refuse_what_is_not_positive_definite() {
        // Eigenvalues 1 ± 2|x|: indefinite where |x| > ½.
        let f = field_2d(["1", "2*x", "2*x", "1"]);
        for w in [Weight::Inverse, Weight::InverseSqrt] {
            let closed = VariableNoise::new(f.clone(), w, 2);
            let spectral = closed.spectral_only();
            let mut ws = closed.workspace();
            let (mut m, mut dm) = ([0.0; 4], [0.0; 8]);
            for (x, pd) in [(0.2, true), (0.49, true), (0.51, false), (-3.0, false)] {
                let p = [x, 0.0];
                assert_eq!(
                    closed.metric_with_derivatives(&p, &mut ws, &mut m, &mut dm),
                    pd,
                    "{w:?} {x}"
                );
                assert_eq!(
                    spectral.metric_with_derivatives(&p, &mut ws, &mut m, &mut dm),
                    pd
                );
                assert_eq!(closed.sqrt(&p, &mut ws, &mut m), pd, "{w:?} {x}");
                assert_eq!(closed.diffusion(&p, &mut ws, &mut m), pd, "{w:?} {x}");
            }
        }
        // Cholesky (d = 4) refuses an indefinite matrix too.
        let mut c = vec![0.0; 16];
        for i in 0..4 {
            c[i * 4 + i] = 1.0;
        }
        c[1] = 1.5;
        c[4] = 1.5;
        let (mut out, mut scratch) = (vec![0.0; 16], vec![0.0; 16]);
        assert!(!closed_form::spd_inverse(&c, 4, &mut out, &mut scratch));
        c[1] = 0.5;
        c[4] = 0.5;
        assert!(closed_form::spd_inverse(&c, 4, &mut out, &mut scratch));
        // C C⁻¹ = I.
        for i in 0..4 {
            for j in 0..4 {
                let s: f64 = (0..4).map(|k| c[i * 4 + k] * out[k * 4 + j]).sum();
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn variable_metric_derivatives_match_finite_differences() {
        let field = field_2d(["1 + x^2", "0.3*sin(y)", "0.3*sin(y)", "2 + x*y + y^2"]);
        for w in [Weight::InverseSqrt, Weight::Inverse] {
            let n = VariableNoise::new(field.clone(), w, 2);
            let mut ws = n.workspace();
            let x = [0.4, -0.3];
            let (mut m, mut dm) = ([0.0; 4], [0.0; 8]);
            assert!(n.metric_with_derivatives(&x, &mut ws, &mut m, &mut dm));
            let h = 1e-6;
            for k in 0..2 {
                let (mut p, mut q) = (x, x);
                p[k] += h;
                q[k] -= h;
                let (mut mp, mut mq) = ([0.0; 4], [0.0; 4]);
                n.metric(&p, &mut ws, &mut mp);
                n.metric(&q, &mut ws, &mut mq);
                for e in 0..4 {
                    let fd = (mp[e] - mq[e]) / (2.0 * h);
                    assert!((fd - dm[k * 4 + e]).abs() < 1e-7, "{w:?} k={k} e={e}");
                }
            }
        }
    }
}
