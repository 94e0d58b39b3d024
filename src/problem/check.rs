//! Checks of a problem on points of D that every engine shares: the drift b(θ) is finite and
//! not singular, the diffusion a(θ) is positive definite, and results are finite.
//!
//! Engines evaluate b and a only where their discretisation lands (grid midpoints, path nodes,
//! trajectory states), so a singular drift or a noise field that loses positive definiteness
//! in part of D used to give different finite answers per engine. [`Problem::validate_on_samples`]
//! runs once when a problem is built, on the same deterministic points of D for every
//! subcommand; the engines then check their own evaluation points with the helpers here.

use super::model::{Diffusion, ScalarField, VectorField};
use super::noise::Noise;
use super::{Domain, Drift, Problem};
use crate::error::{Error, Result};

/// Largest extent (in any coordinate, from θ*) of a domain or grid box that the engines accept:
/// squared distances and the quadratic V overflow f64 near 1e154 and quartic drifts near 1e77,
/// so a box beyond 1e100 can only give overflowed (NaN or infinite) results.
pub const MAX_EXTENT: f64 = 1e100;

/// Sample points per ray from θ* to ∂D (θ* excluded).
const RAY_POINTS: usize = 16;
/// Bisections spent at most on sign changes of b along one polyline (bounds the cost of
/// [`Problem::validate_drift_along`] on long paths).
const POLE_BISECTION_BUDGET: usize = 64;

/// A number for messages: plain with up to 6 decimals in [1e-4, 1e6), otherwise scientific.
pub fn fmt_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    if (1e-4..1e6).contains(&v.abs()) {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// A point for messages: `(0.5, 0.1)`; long vectors are elided after 4 coordinates.
pub fn fmt_theta(x: &[f64]) -> String {
    let shown: Vec<String> = x.iter().take(4).map(|v| fmt_number(*v)).collect();
    if x.len() > 4 {
        format!("({}, … {} more)", shown.join(", "), x.len() - 4)
    } else {
        format!("({})", shown.join(", "))
    }
}

impl Problem {
    /// Refuse a grid box too large for f64 ([`MAX_EXTENT`]): squared distances and V overflow,
    /// and the answer would be NaN. `grid` names the grid in the message; `explicit` when the box
    /// came from --box.
    pub fn check_grid_extent(
        &self,
        grid: &str,
        lo: &[f64],
        hi: &[f64],
        explicit: bool,
    ) -> Result<()> {
        let widths = || lo.iter().zip(hi).map(|(l, h)| h - l);
        let w = widths().fold(0.0, f64::max);
        if w <= MAX_EXTENT && widths().all(f64::is_finite) {
            return Ok(());
        }
        let bounds: Vec<String> = lo
            .iter()
            .zip(hi)
            .map(|(l, h)| format!("[{}, {}]", fmt_number(*l), fmt_number(*h)))
            .collect();
        let (field, fix) = if explicit {
            ("--box", "pass a smaller --box")
        } else {
            (self.domain_size_field(), "shrink the domain")
        };
        Err(Error::invalid(
            field,
            format!(
                "overflow of the grid box: the {grid} grid {} is {} wide (at most {} is representable without overflow); {fix}",
                bounds.join(" × "),
                fmt_number(w),
                fmt_number(MAX_EXTENT),
            ),
        ))
    }

    /// How far D reaches from θ* in any coordinate (∞ for a half-space direction that never
    /// leaves D is not counted: a half-space reports the distance from θ* to ∂D).
    pub fn domain_extent(&self) -> f64 {
        let theta = &self.minimum;
        match &self.domain {
            Domain::HalfSpace { normal, offset } => {
                (offset - crate::linalg::dot(normal, theta)).abs()
            }
            dom => match dom.bounding_box() {
                Some((lo, hi)) => lo
                    .iter()
                    .zip(&hi)
                    .zip(theta)
                    .map(|((l, h), t)| (t - l).abs().max((h - t).abs()))
                    .fold(0.0, f64::max),
                // Level sets of formulas: the farthest sample point.
                None => self
                    .sample_rays()
                    .iter()
                    .flatten()
                    .map(|x| {
                        x.iter()
                            .zip(theta)
                            .map(|(a, b)| (a - b).abs())
                            .fold(0.0, f64::max)
                    })
                    .fold(0.0, f64::max),
            },
        }
    }

    /// The field to change when D is too large, for messages.
    pub fn domain_size_field(&self) -> &'static str {
        match &self.domain {
            Domain::Ball { .. } => "domain.radius",
            Domain::Ellipsoid { .. } => "domain.matrix",
            Domain::Box { .. } => "domain.lo/domain.hi",
            Domain::HalfSpace { .. } => "domain.offset",
            Domain::LevelSet { .. } => "domain.depth",
        }
    }

    /// Refuse a domain whose extent overflows what the engines can represent
    /// ([`MAX_EXTENT`]); `engine` names the caller.
    pub fn check_domain_extent(&self, engine: &str) -> Result<()> {
        let e = self.domain_extent();
        if !(e <= MAX_EXTENT) {
            return Err(Error::invalid(
                self.domain_size_field(),
                format!(
                    "{engine}: D reaches {} from θ* (beyond {}): overflow of the grid box and of V; shrink the domain",
                    fmt_number(e),
                    fmt_number(MAX_EXTENT)
                ),
            ));
        }
        Ok(())
    }

    /// The error for a non-finite result `quantity` (e.g. "V0", "the exit point") of `engine`,
    /// naming the likely cause: overflow when D is beyond [`MAX_EXTENT`], otherwise a
    /// singular or overflowing drift or noise.
    pub fn non_finite_result(&self, engine: &str, quantity: &str, value: &str) -> Error {
        let e = self.domain_extent();
        let cause = if !(e <= MAX_EXTENT) {
            format!(
                "overflow: D reaches {} from θ*, beyond what double precision resolves; shrink the domain ({})",
                fmt_number(e),
                self.domain_size_field()
            )
        } else {
            format!(
                "an overflow or a singular drift or noise on the way (D reaches {} from θ*); check the formulas in [drift] and [noise] on D",
                fmt_number(e)
            )
        };
        Error::NonFinite {
            engine: engine.into(),
            quantity: quantity.into(),
            value: value.into(),
            cause,
        }
    }

    /// Check a result value: finite, or [`Problem::non_finite_result`].
    pub fn check_finite_value(&self, engine: &str, quantity: &str, v: f64) -> Result<()> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(self.non_finite_result(engine, quantity, &fmt_number(v)))
        }
    }

    /// Check a result point: finite, or [`Problem::non_finite_result`].
    pub fn check_finite_point(&self, engine: &str, quantity: &str, x: &[f64]) -> Result<()> {
        if x.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(self.non_finite_result(engine, quantity, &fmt_theta(x)))
        }
    }

    /// Deterministic rays of sample points from θ* to just inside ∂D: along ±each axis (the
    /// first 16), 2 diagonals and, in d = 2, 64 equally spaced directions (d ≥ 3: 32 seeded
    /// pseudo-random ones), each with [`RAY_POINTS`] points at s*·k/16 (the last at 0.999 s*),
    /// s* the distance to ∂D. Directions along which D is unbounded (half-spaces) stop at twice
    /// the largest finite s*.
    pub fn sample_rays(&self) -> Vec<Vec<Vec<f64>>> {
        let theta = &self.minimum;
        let d = theta.len();
        let mut dirs: Vec<Vec<f64>> = Vec::new();
        if d == 2 {
            for k in 0..64 {
                let t = k as f64 * std::f64::consts::TAU / 64.0;
                dirs.push(vec![t.cos(), t.sin()]);
            }
        } else {
            for i in 0..d.min(16) {
                for s in [1.0, -1.0] {
                    let mut v = vec![0.0; d];
                    v[i] = s;
                    dirs.push(v);
                }
            }
            if d > 1 {
                for s in [1.0, -1.0] {
                    dirs.push(vec![s / (d as f64).sqrt(); d]);
                }
                // SplitMix64: a fixed, dependency-free sequence.
                let mut state = 0x9E37_79B9_7F4A_7C15u64;
                let mut next = || {
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                };
                for _ in 0..32 {
                    let v: Vec<f64> = (0..d).map(|_| next()).collect();
                    let n = crate::linalg::norm(&v);
                    if n > 0.0 {
                        dirs.push(v.iter().map(|x| x / n).collect());
                    }
                }
            }
        }
        let at = |v: &[f64], s: f64| -> Vec<f64> {
            theta.iter().zip(v).map(|(t, vi)| t + s * vi).collect()
        };
        let inside = |x: &[f64]| self.domain.level(x) < 0.0;
        let s0 = 1e-3 * (1.0 + crate::linalg::norm(theta));
        let exits: Vec<Option<f64>> = dirs
            .iter()
            .map(|v| {
                let (mut a, mut b) = (0.0, s0);
                while inside(&at(v, b)) {
                    a = b;
                    b *= 4.0;
                    if !(b < 1e300) {
                        return None;
                    }
                }
                for _ in 0..40 {
                    let m = 0.5 * (a + b);
                    if inside(&at(v, m)) {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                Some(a)
            })
            .collect();
        let cap = 2.0 * exits.iter().flatten().cloned().fold(s0, f64::max);
        dirs.iter()
            .zip(&exits)
            .map(|(v, e)| {
                let s = e.unwrap_or(cap);
                (1..=RAY_POINTS)
                    .map(|k| {
                        let f = if k == RAY_POINTS {
                            0.999
                        } else {
                            k as f64 / RAY_POINTS as f64
                        };
                        at(v, f * s)
                    })
                    .filter(|x| inside(x))
                    .collect()
            })
            .collect()
    }

    /// Check the model on the sample points of [`Problem::sample_rays`]: a(θ) positive definite
    /// ([`Problem::validate_noise_on`]) and b finite and without a pole along each ray
    /// ([`Problem::validate_drift_along`]). Linear drifts with constant noise cannot fail and
    /// are not sampled.
    pub fn validate_on_samples(&self) -> Result<()> {
        if matches!(self.drift, Drift::Linear(_)) && self.noise.is_constant() {
            return Ok(());
        }
        let rays = self.sample_rays();
        let mut all: Vec<Vec<f64>> = vec![self.minimum.clone()];
        all.extend(rays.iter().flatten().cloned());
        self.validate_noise_on(&all)?;
        if let Some(l) = &self.loss {
            // b = −∇L can stay finite where L itself is undefined (ln of a negative number).
            if let Some(x) = all.iter().find(|x| !l.value(x).is_finite()) {
                return Err(Error::invalid(
                    "drift.loss",
                    format!(
                        "the loss L(θ) is not finite at θ = {} inside D (L = {}): the problem is undefined there; change the loss or the domain",
                        fmt_theta(x),
                        l.value(x)
                    ),
                ));
            }
        }
        for ray in &rays {
            let mut line = Vec::with_capacity(ray.len() + 1);
            line.push(self.minimum.clone());
            line.extend(ray.iter().cloned());
            self.validate_drift_along(&line, "inside D")?;
        }
        Ok(())
    }

    /// a(θ) must be positive definite (with finite entries) at every point: the one noise check
    /// every engine relies on. The error names the first point where it fails.
    pub fn validate_noise_on(&self, points: &[Vec<f64>]) -> Result<()> {
        let Noise::Variable(n) = &self.noise else {
            // Constant noise was checked SPD when it was built.
            return Ok(());
        };
        let d = self.dim();
        let mut ws = n.workspace();
        let mut a = vec![0.0; d * d];
        for x in points {
            let ok = n.diffusion(x, &mut ws, &mut a);
            if ok && a.iter().all(|v| v.is_finite()) {
                continue;
            }
            let what = if ok {
                "has non-finite entries"
            } else {
                "is not positive definite"
            };
            let field = match self.noise_description.source.as_str() {
                "field" => "noise.field",
                _ => "noise",
            };
            return Err(Error::invalid(
                field,
                format!(
                    "a(θ) {what} at θ = {} inside D; every engine needs a(θ) positive definite on all of D: change the noise or shrink the domain",
                    fmt_theta(x)
                ),
            ));
        }
        Ok(())
    }

    /// b must be finite at each point of `points`; `where_` says where the points are (e.g.
    /// "on the gMAM path"). The error names the first point where it is not.
    pub fn validate_drift_on(&self, points: &[Vec<f64>], where_: &str) -> Result<()> {
        let mut b = vec![0.0; self.dim()];
        for x in points {
            self.eval_drift_into(x, &mut b);
            if b.iter().any(|v| !v.is_finite()) {
                return Err(singular_drift(x, &b, where_));
            }
        }
        Ok(())
    }

    /// [`Problem::validate_drift_on`] on the polyline `points`, and a pole test on each segment:
    /// where a component of b changes sign between consecutive points, bisection finds the
    /// crossing; a zero of b leaves |bᵢ| small there, a pole makes it blow up (or non-finite),
    /// which is reported as a singular drift.
    pub fn validate_drift_along(&self, points: &[Vec<f64>], where_: &str) -> Result<()> {
        self.validate_drift_on(points, where_)?;
        self.check_peaks(points, where_)?;
        let d = self.dim();
        let (mut bp, mut bq, mut bm) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
        let mut budget = POLE_BISECTION_BUDGET;
        for w in points.windows(2) {
            let (p, q) = (&w[0], &w[1]);
            self.eval_drift_into(p, &mut bp);
            self.eval_drift_into(q, &mut bq);
            for i in 0..d {
                if !(bp[i] * bq[i] < 0.0) || budget == 0 {
                    continue;
                }
                budget -= 1;
                let ends = bp[i].abs().max(bq[i].abs());
                let (mut lo, mut hi) = (0.0f64, 1.0f64);
                let sign_lo = bp[i] > 0.0;
                let mut x = p.clone();
                let mut peak = 0.0f64;
                for _ in 0..64 {
                    let t = 0.5 * (lo + hi);
                    if t <= lo || t >= hi {
                        break;
                    }
                    for k in 0..d {
                        x[k] = p[k] + t * (q[k] - p[k]);
                    }
                    self.eval_drift_into(&x, &mut bm);
                    if bm.iter().any(|v| !v.is_finite()) {
                        return Err(singular_drift(&x, &bm, where_));
                    }
                    peak = peak.max(bm[i].abs());
                    if (bm[i] > 0.0) == sign_lo {
                        lo = t;
                    } else {
                        hi = t;
                    }
                }
                // At a zero |bᵢ| shrinks to rounding; at a pole it grows like 1/distance.
                if peak > 1e6 * ends.max(f64::MIN_POSITIVE) {
                    return Err(Error::invalid(
                        "drift",
                        format!(
                            "drift b(θ) is singular near θ = {} {where_}: component {} changes sign through ±∞ there (|b| reaches {} against {} at the neighbouring points); the problem is singular there: change the drift or the domain",
                            fmt_theta(&x),
                            self.variables.get(i).map_or_else(|| format!("{i}"), |v| format!("b_{v}")),
                            fmt_number(peak),
                            fmt_number(ends)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Even-order poles do not change sign: at each interior local maximum of |bᵢ| along the
    /// polyline, maximise |bᵢ| on the two adjacent segments by golden-section search; growth
    /// by 1e12 over the samples (rounding-level distance to the pole) means a singularity.
    fn check_peaks(&self, points: &[Vec<f64>], where_: &str) -> Result<()> {
        let d = self.dim();
        let bs: Vec<Vec<f64>> = points.iter().map(|x| self.drift.eval(x)).collect();
        let mut budget = POLE_BISECTION_BUDGET;
        let mut bm = vec![0.0; d];
        let mut x = vec![0.0; d];
        for k in 1..points.len().saturating_sub(1) {
            for i in 0..d {
                let (l, m, r) = (bs[k - 1][i].abs(), bs[k][i].abs(), bs[k + 1][i].abs());
                if !(m > l && m >= r) || budget == 0 {
                    continue;
                }
                budget -= 1;
                for (p, q) in [(&points[k - 1], &points[k]), (&points[k], &points[k + 1])] {
                    let f = |t: f64, x: &mut Vec<f64>, bm: &mut Vec<f64>| -> Option<f64> {
                        for j in 0..d {
                            x[j] = p[j] + t * (q[j] - p[j]);
                        }
                        self.eval_drift_into(x, bm);
                        bm.iter().all(|v| v.is_finite()).then(|| bm[i].abs())
                    };
                    let g = 0.5 * (5f64.sqrt() - 1.0);
                    let (mut a, mut c) = (0.0f64, 1.0f64);
                    let mut peak = m;
                    for _ in 0..100 {
                        let (t1, t2) = (c - g * (c - a), a + g * (c - a));
                        let Some(f1) = f(t1, &mut x, &mut bm) else {
                            return Err(singular_drift(&x, &bm, where_));
                        };
                        let Some(f2) = f(t2, &mut x, &mut bm) else {
                            return Err(singular_drift(&x, &bm, where_));
                        };
                        peak = peak.max(f1).max(f2);
                        if f1 > f2 {
                            c = t2;
                        } else {
                            a = t1;
                        }
                        if c - a < 1e-17 {
                            break;
                        }
                    }
                    if peak > 1e12 * l.max(r).max(f64::MIN_POSITIVE) {
                        return Err(Error::invalid(
                            "drift",
                            format!(
                                "drift b(θ) is singular near θ = {} {where_}: |b| grows to {} there against {} at the neighbouring points; the problem is singular there: change the drift or the domain",
                                fmt_theta(&x),
                                fmt_number(peak),
                                fmt_number(l.max(r))
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn eval_drift_into(&self, x: &[f64], out: &mut [f64]) {
        match &self.drift {
            Drift::Linear(b) => b.drift(x, out),
            Drift::Gradient(b) => b.drift(x, out),
            Drift::Field(b) => b.drift(x, out),
            Drift::Native(b) => b.drift(x, out),
        }
    }
}

/// The error for a drift that is not finite at `x`.
pub fn singular_drift(x: &[f64], b: &[f64], where_: &str) -> Error {
    Error::invalid(
        "drift",
        format!(
            "drift b(θ) is not finite at θ = {} {where_} (b = {}): the problem is singular or undefined there, or b overflows; change the drift or the domain",
            fmt_theta(x),
            fmt_theta(b)
        ),
    )
}
