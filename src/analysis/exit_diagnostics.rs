//! Exit diagnostics: were the simulated exits the large-deviation events the predictions describe?
//!
//! The asymptotics E\[τ\] ≍ e^{V0/ε²} assume that an exit is a rare excursion of a chain that has
//! relaxed into the quasi-stationary Gaussian N(θ*, ε²Σ) (HΣ + ΣH = a(θ*), the linearisation), and
//! that it leaves D near the minimisers of V on ∂D (the exit channels), where the true loss is
//! close to the barrier. These checks read that off the exit points:
//!
//! - **loss at exit**: L(θ_exit) − L* against the barrier (ΔL for a level set of L, else L at the
//!   predicted exit point). Much lower values mean D is crossed somewhere the model did not put
//!   a barrier (e.g. a quadratic ellipsoid of H* in a valley that is flatter than H* says);
//! - **energy shares**: the share of ½xᵀH*x (x = θ_exit − θ*) in each eigen-direction of H*,
//!   beside the predicted channel's shares;
//! - **flat directions**: |q·x| in the flattest directions of H*, against D's half-width along
//!   them and the stationary standard deviation ε√(qᵀΣq);
//! - **channels**: the fraction of exits nearest each predicted exit point (by direction from θ*)
//!   and the fraction near none of them;
//! - **fluctuation ratio**: max over eigen-directions q of ε²·qᵀΣq / w(q)², w the distance from θ*
//!   to ∂D along q. At ≥ 0.25 ∂D is within 2 stationary standard deviations of θ* (the
//!   stationary Gaussian already puts ≈ 2.3 % of its mass beyond ∂D on each side of that
//!   direction): exits are not rare, and the exponential law is out of reach (the proximal
//!   system's ε²c/λ_min against the size of D is the special case Σ = c/(2H)). On a quadratic
//!   level set the ratio is ε²/(2V0), so 0.25 is V0/ε² = 2.

use crate::error::Result;
use crate::linalg::{symmetric_eigen, Matrix};
use crate::problem::{Domain, Problem, ScalarField};
use serde::{Deserialize, Serialize};

/// At this fluctuation ratio and above the exits are not large-deviation events (∂D within two
/// stationary standard deviations of θ*).
pub const FLUCTUATION_LIMIT: f64 = 0.25;
/// Below this median (L − L*)/barrier at exit, D is crossed far below the predicted barrier.
pub const LOSS_RATIO_LIMIT: f64 = 0.5;
/// An exit whose direction from θ* has cosine below this with every predicted channel is "other".
pub const CHANNEL_COSINE: f64 = 0.9;
/// Flattest directions reported.
const FLAT_MODES: usize = 3;

/// Quantiles of a sample.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    /// Mean.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub mean: f64,
    /// 10 %, 50 %, 90 % quantiles.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub q10: f64,
    /// Median.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub median: f64,
    /// 90 % quantile.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub q90: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Option<Self> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Some(Spread {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            q10: q(0.1),
            median: q(0.5),
            q90: q(0.9),
        })
    }
}

/// One eigen-direction of H*.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Mode {
    /// Eigenvalue λ of H*.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub lambda: f64,
    /// Mean share of ½xᵀH*x at exit in this direction.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub exit_share: f64,
    /// The share at the predicted (first) exit channel.
    pub predicted_share: Option<f64>,
    /// Stationary standard deviation ε√(qᵀΣq) along q.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub stationary_sd: f64,
    /// Distance from θ* to ∂D along q (the smaller of ±q; None if D is unbounded both ways).
    pub half_width: Option<f64>,
    /// Root mean square of q·x at exit.
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub exit_rms: f64,
}

/// How many exits went through one predicted channel.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChannelCount {
    /// The predicted exit point.
    pub point: Vec<f64>,
    /// Fraction of exits whose direction from θ* is nearest this channel's (cosine ≥ 0.9).
    #[serde(deserialize_with = "crate::analysis::scaling::f64_or_nan")]
    pub fraction: f64,
}

/// The diagnostics of one ensemble's exits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExitDiagnostics {
    /// Exit points used.
    pub exits: usize,
    /// L(θ_exit) − L* (when the drift is a gradient).
    pub loss_at_exit: Option<Spread>,
    /// The barrier it is compared with: ΔL for a level set, else L − L* at the predicted exit.
    pub barrier_loss: Option<f64>,
    /// median (L − L*) / `barrier_loss`.
    pub loss_ratio: Option<f64>,
    /// Every eigen-direction of H*, ascending λ.
    pub modes: Vec<Mode>,
    /// Indices into `modes` of the flattest directions (at most 3).
    pub flattest: Vec<usize>,
    /// Exits by predicted channel.
    pub channels: Vec<ChannelCount>,
    /// Fraction of exits near no predicted channel.
    pub other_channel_fraction: Option<f64>,
    /// max_q ε²qᵀΣq / w(q)² (see the module docs).
    pub fluctuation_ratio: Option<f64>,
    /// True when the checks show exits that are not the predicted large-deviation events.
    pub outside_regime: bool,
    /// What the checks found, in words.
    pub warnings: Vec<String>,
}

/// What the diagnostics need to know about the simulated system.
pub struct Setting<'a> {
    /// θ*.
    pub theta_star: &'a [f64],
    /// H* (for a non-gradient drift, the symmetric part of −J(θ*)).
    pub hessian: &'a Matrix,
    /// a(θ*), the covariance of the simulated noise per unit ε².
    pub diffusion: &'a Matrix,
    /// ε².
    pub eps2: f64,
    /// Step η of a discrete chain (its stationary covariance solves HΣ + ΣH − ηHΣH = a), or None
    /// for the SDE.
    pub step: Option<f64>,
    /// L − L*, when the drift is a gradient.
    pub loss: Option<&'a (dyn Fn(&[f64]) -> f64 + Sync)>,
    /// The level function of D (< 0 inside).
    pub level: &'a (dyn Fn(&[f64]) -> f64 + Sync),
    /// The barrier in loss units, when known (ΔL of a level set).
    pub barrier_loss: Option<f64>,
    /// Predicted exit points (the exit channels).
    pub channels: &'a [Vec<f64>],
}

/// Distance from θ* to the boundary along the unit vector u (bisection on the level function);
/// None if the ray does not leave D within 1e6 units.
fn ray_exit(level: &(dyn Fn(&[f64]) -> f64 + Sync), theta: &[f64], u: &[f64]) -> Option<f64> {
    let at = |t: f64| -> f64 {
        let x: Vec<f64> = theta.iter().zip(u).map(|(a, b)| a + t * b).collect();
        level(&x)
    };
    let (mut lo, mut hi) = (0.0, 1e-3);
    while at(hi) < 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if at(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// The diagnostics of `exit_points` (points of ∂D or just beyond, one per exited trajectory).
pub fn diagnose(s: &Setting, exit_points: &[Vec<f64>]) -> Result<ExitDiagnostics> {
    let d = s.theta_star.len();
    let (lam, q) = symmetric_eigen(s.hessian, "H*")?;
    let ap = q.transpose() * s.diffusion.to_faer() * &q;
    let eta = s.step.unwrap_or(0.0);
    // Stationary covariance in H's eigenbasis: Σ'ᵢᵢ = a'ᵢᵢ/(2λᵢ − ηλᵢ²) (the diagonal is all the
    // per-direction checks need).
    let sigma_ii: Vec<f64> = (0..d)
        .map(|i| {
            let den = 2.0 * lam[i] - eta * lam[i] * lam[i];
            if den > 0.0 {
                ap[(i, i)].max(0.0) / den
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let column = |i: usize| -> Vec<f64> { (0..d).map(|k| q[(k, i)]).collect() };
    let coords = |x: &[f64]| -> Vec<f64> {
        (0..d)
            .map(|i| (0..d).map(|k| q[(k, i)] * (x[k] - s.theta_star[k])).sum())
            .collect()
    };
    let shares = |y: &[f64]| -> Vec<f64> {
        let e: Vec<f64> = y
            .iter()
            .zip(&lam)
            .map(|(yi, l)| 0.5 * l.max(0.0) * yi * yi)
            .collect();
        let tot: f64 = e.iter().sum();
        e.iter()
            .map(|v| if tot > 0.0 { v / tot } else { 0.0 })
            .collect()
    };
    let ys: Vec<Vec<f64>> = exit_points.iter().map(|x| coords(x)).collect();
    let n = ys.len();
    let mut mean_share = vec![0.0; d];
    let mut ms = vec![0.0; d];
    for y in &ys {
        for (i, sh) in shares(y).into_iter().enumerate() {
            mean_share[i] += sh / n as f64;
            ms[i] += y[i] * y[i] / n as f64;
        }
    }
    let predicted = s.channels.first().map(|c| shares(&coords(c)));
    let mut warnings = Vec::new();
    let mut fluctuation: Option<f64> = None;
    let mut modes = Vec::with_capacity(d);
    for i in 0..d {
        let u = column(i);
        let minus: Vec<f64> = u.iter().map(|v| -v).collect();
        let w = match (
            ray_exit(s.level, s.theta_star, &u),
            ray_exit(s.level, s.theta_star, &minus),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let var = s.eps2 * sigma_ii[i];
        if let Some(w) = w {
            let r = var / (w * w);
            fluctuation = Some(fluctuation.map_or(r, |f: f64| f.max(r)));
        }
        modes.push(Mode {
            lambda: lam[i],
            exit_share: if n > 0 { mean_share[i] } else { f64::NAN },
            predicted_share: predicted.as_ref().map(|p| p[i]),
            stationary_sd: var.sqrt(),
            half_width: w,
            exit_rms: ms[i].sqrt(),
        });
    }
    let flattest: Vec<usize> = (0..d.min(FLAT_MODES)).collect();
    if let Some(f) = fluctuation {
        if f >= FLUCTUATION_LIMIT {
            warnings.push(format!(
                "the stationary fluctuations reach ∂D: max over H*'s eigen-directions of ε²·qᵀΣq/w² = {f:.3} ≥ {FLUCTUATION_LIMIT} (∂D within {:.1} standard deviations of θ*): exits are not rare, the exponential asymptotics does not apply",
                1.0 / f.sqrt()
            ));
        }
    }
    let loss_at_exit = s
        .loss
        .and_then(|l| Spread::of(exit_points.iter().map(|x| l(x)).collect()));
    let barrier_loss = s
        .barrier_loss
        .or_else(|| s.loss.zip(s.channels.first()).map(|(l, c)| l(c)));
    let loss_ratio = loss_at_exit
        .as_ref()
        .zip(barrier_loss)
        .filter(|(_, b)| *b > 0.0)
        .map(|(sp, b)| sp.median / b);
    if let Some(r) = loss_ratio {
        if r < LOSS_RATIO_LIMIT {
            warnings.push(format!(
                "exits cross ∂D at a true loss far below the barrier: median (L − L*) at exit is {r:.3}× the barrier {:.4e} — D is left where the model puts no barrier (a valley flatter than H* says), so the quadratic model's V0 does not describe these exits",
                barrier_loss.unwrap_or(f64::NAN)
            ));
        }
    }
    let dirs: Vec<Vec<f64>> = s
        .channels
        .iter()
        .map(|c| unit(&coords(c)))
        .collect::<Vec<_>>();
    let mut counts = vec![0usize; dirs.len()];
    let mut other = 0usize;
    for y in &ys {
        let u = unit(y);
        let best = dirs
            .iter()
            .enumerate()
            .map(|(k, c)| (k, dot(c, &u)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((k, c)) if c >= CHANNEL_COSINE => counts[k] += 1,
            _ => other += 1,
        }
    }
    let channels = s
        .channels
        .iter()
        .zip(&counts)
        .map(|(p, &c)| ChannelCount {
            point: p.clone(),
            fraction: if n > 0 { c as f64 / n as f64 } else { f64::NAN },
        })
        .collect();
    let other_channel_fraction = (n > 0 && !dirs.is_empty()).then(|| other as f64 / n as f64);
    if let Some(o) = other_channel_fraction {
        if o > 0.5 {
            warnings.push(format!(
                "{:.0} % of exits are near none of the predicted exit channels (direction cosine < {CHANNEL_COSINE})",
                100.0 * o
            ));
        }
    }
    let outside_regime = fluctuation.is_some_and(|f| f >= FLUCTUATION_LIMIT)
        || loss_ratio.is_some_and(|r| r < LOSS_RATIO_LIMIT);
    Ok(ExitDiagnostics {
        exits: n,
        loss_at_exit,
        barrier_loss,
        loss_ratio,
        modes,
        flattest,
        channels,
        other_channel_fraction,
        fluctuation_ratio: fluctuation,
        outside_regime,
        warnings,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn unit(v: &[f64]) -> Vec<f64> {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

/// The predicted exit channels of a problem: the exact engine's exit point and, where the problem
/// is symmetric about θ* (the mirror point is on ∂D with the same V), its mirror; else every
/// channel of the minimum action method. Empty if neither applies.
pub fn predicted_channels(problem: &Problem) -> Vec<Vec<f64>> {
    if let Ok(b) = crate::exact::quasi_potential_barrier(problem) {
        let mirror: Vec<f64> = b
            .exit_point
            .iter()
            .zip(&problem.minimum)
            .map(|(x, m)| 2.0 * m - x)
            .collect();
        let scale = b
            .exit_point
            .iter()
            .zip(&problem.minimum)
            .map(|(x, m)| (x - m).abs())
            .fold(0.0, f64::max)
            .max(1e-300);
        let on_boundary = problem.domain.level(&mirror).abs() <= 1e-9 * scale.max(1.0);
        let mut out = vec![b.exit_point];
        if on_boundary && problem.is_linear_gaussian() {
            out.push(mirror);
        }
        return out;
    }
    match crate::mam::run(problem, &crate::mam::Config::default()) {
        Ok(r) if !r.channels.is_empty() => r
            .channels
            .iter()
            .map(|c| c.result.exit_point.clone())
            .collect(),
        Ok(r) => vec![r.exit_point],
        Err(_) => Vec::new(),
    }
}

/// The diagnostics of exits simulated on `problem` at noise ε (a discrete chain when `step` is
/// given), with the given predicted channels.
pub fn diagnose_problem(
    problem: &Problem,
    eps: f64,
    step: Option<f64>,
    channels: &[Vec<f64>],
    exit_points: &[Vec<f64>],
) -> Result<ExitDiagnostics> {
    let (a, diffusion) = problem.linearization()?;
    let d = a.n;
    let hessian = Matrix {
        n: d,
        data: (0..d * d)
            .map(|k| 0.5 * (a.data[k] + a.data[(k % d) * d + k / d]))
            .collect(),
    };
    let l0 = problem.loss.as_ref().map(|l| l.value(&problem.minimum));
    let loss_fn = |x: &[f64]| -> f64 {
        match (&problem.loss, l0) {
            (Some(l), Some(b)) => l.value(x) - b,
            _ => f64::NAN,
        }
    };
    let level = |x: &[f64]| problem.domain.level(x);
    let barrier_loss = match &problem.domain {
        Domain::LevelSet { depth, .. } => Some(*depth),
        _ => None,
    };
    diagnose(
        &Setting {
            theta_star: &problem.minimum,
            hessian: &hessian,
            diffusion: &diffusion,
            eps2: eps * eps,
            step,
            loss: problem
                .loss
                .is_some()
                .then_some(&loss_fn as &(dyn Fn(&[f64]) -> f64 + Sync)),
            level: &level,
            barrier_loss,
            channels,
        },
        exit_points,
    )
}

impl ExitDiagnostics {
    /// One line for a report: loss at exit against the barrier, the leading energy share beside
    /// the prediction, the flattest direction, the channels and the fluctuation ratio.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} exits", self.exits)];
        if let (Some(l), Some(b)) = (&self.loss_at_exit, self.barrier_loss) {
            parts.push(format!(
                "(L−L*)/barrier median {:.3} [10–90 %: {:.3}–{:.3}]",
                l.median / b,
                l.q10 / b,
                l.q90 / b
            ));
        }
        if let Some((m, top)) = self
            .modes
            .iter()
            .max_by(|a, b| a.exit_share.total_cmp(&b.exit_share))
            .map(|m| (m, m.exit_share))
        {
            parts.push(format!(
                "largest energy share {:.0} % along λ = {:.3e}{}",
                100.0 * top,
                m.lambda,
                m.predicted_share
                    .map(|p| format!(" (predicted {:.0} %)", 100.0 * p))
                    .unwrap_or_default()
            ));
        }
        if let Some(m) = self.flattest.first().map(|&i| &self.modes[i]) {
            parts.push(format!(
                "flattest λ = {:.3e}: rms displacement {:.3e} (half-width {}, stationary sd {:.3e})",
                m.lambda,
                m.exit_rms,
                m.half_width
                    .map(|w| format!("{w:.3e}"))
                    .unwrap_or_else(|| "∞".into()),
                m.stationary_sd
            ));
        }
        if !self.channels.is_empty() {
            let f: Vec<String> = self
                .channels
                .iter()
                .map(|c| format!("{:.0} %", 100.0 * c.fraction))
                .collect();
            parts.push(format!(
                "channels {} + other {:.0} %",
                f.join(" / "),
                100.0 * self.other_channel_fraction.unwrap_or(0.0)
            ));
        }
        if let Some(f) = self.fluctuation_ratio {
            parts.push(format!("fluctuation ratio {f:.3}"));
        }
        parts.join("; ")
    }
}

/// The modal exit point: the exit whose direction from θ* has the most other exits within
/// direction cosine 0.9 (the densest exit channel), with that count. Unlike the mean of the
/// exit points — deep inside D when exits split between channels — it is a point of the
/// sample, on (or just beyond) ∂D. None without exits.
pub fn modal_exit_point(theta_star: &[f64], points: &[Vec<f64>]) -> Option<(Vec<f64>, usize)> {
    let dirs: Vec<Vec<f64>> = points
        .iter()
        .map(|x| {
            let v: Vec<f64> = x.iter().zip(theta_star).map(|(a, b)| a - b).collect();
            unit(&v)
        })
        .collect();
    (0..dirs.len())
        .map(|i| {
            let n = dirs
                .iter()
                .filter(|d| dot(d, &dirs[i]) >= CHANNEL_COSINE)
                .count();
            (i, n)
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(i, n)| (points[i].clone(), n))
}
