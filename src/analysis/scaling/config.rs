//! What a sweep varies, which systems it simulates, and its settings.

use crate::error::{Error, Result};
use crate::problem::mlp::MlpConfig;
use crate::problem::{BuildOptions, ProblemSpec};
use crate::sde::Shard;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The quantity a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vary {
    /// α in L(θ) → L(√α θ) (λ_max → αλ_max).
    Sharpness,
    /// The learning rate η.
    Lr,
    /// The batch size B.
    Batch,
    /// β in L → βL (ΔL → βΔL, D fixed).
    Depth,
}

impl Vary {
    /// All four, in the paper's panel order.
    pub const ALL: [Vary; 4] = [Vary::Sharpness, Vary::Lr, Vary::Batch, Vary::Depth];
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Vary::Sharpness => "sharpness",
            Vary::Lr => "lr",
            Vary::Batch => "batch",
            Vary::Depth => "depth",
        }
    }
    /// Axis label.
    pub fn label(self) -> &'static str {
        match self {
            Vary::Sharpness => "α (sharpness: L(√α θ), λmax → αλmax)",
            Vary::Lr => "η (learning rate)",
            Vary::Batch => "B (batch size)",
            Vary::Depth => "β (depth: L → βL, ΔL → βΔL)",
        }
    }
    /// Parse a command-line name.
    pub fn parse(s: &str) -> Result<Self> {
        Vary::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "--vary",
                    format!("expected sharpness, lr, batch or depth, got \"{s}\""),
                )
            })
    }
    /// Default sweep as multiples of the base value (α, β: the values themselves).
    pub(super) fn multipliers(self) -> [f64; 5] {
        match self {
            Vary::Sharpness | Vary::Depth => [0.8, 0.9, 1.0, 1.15, 1.3],
            Vary::Lr => [0.8, 0.9, 1.0, 1.133, 1.333],
            Vary::Batch => [0.75, 0.875, 1.0, 1.125, 1.25],
        }
    }
}

/// A simulated system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Gaussian SGD, eq. (2).
    GaussianSgd,
    /// The proximal isotropic system, eq. (4): C = c·I.
    Proximal,
    /// Real minibatch SGD, eq. (1) (finite sums only).
    MinibatchSgd,
}

impl Method {
    /// All three, in figure order (the paper's Figures 5, 6, 7).
    pub const ALL: [Method; 3] = [Method::GaussianSgd, Method::Proximal, Method::MinibatchSgd];
    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Method::GaussianSgd => "gaussian-sgd",
            Method::Proximal => "proximal",
            Method::MinibatchSgd => "minibatch-sgd",
        }
    }
    /// Parse a command-line name.
    pub fn parse(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "--methods",
                    format!("expected gaussian-sgd, proximal or minibatch-sgd, got \"{s}\""),
                )
            })
    }
    pub(crate) fn title(self) -> &'static str {
        match self {
            Method::GaussianSgd => "Gaussian SGD, eq. (2)",
            Method::Proximal => "proximal system C = cI, eq. (4)",
            Method::MinibatchSgd => "minibatch SGD, eq. (1)",
        }
    }
}

/// What to sweep: the finite-sum `mlp` problem or a gradient problem (built-in or TOML).
#[derive(Clone, Debug)]
pub enum Target {
    /// The one-hidden-layer network of [`crate::problem::mlp`] (its `sharpness`/`depth` fields are
    /// the base α, β; normally 1).
    Mlp(MlpConfig),
    /// A problem spec with a gradient drift. Sharpness and depth sweeps need a quadratic one
    /// (`hessian` or `hessian_file`); η and B sweeps accept any loss.
    Problem {
        /// The spec.
        spec: Box<ProblemSpec>,
        /// Directory its relative paths are resolved against.
        base: PathBuf,
        /// Parameter overrides and `refine_minimum` (weight and noise are set here).
        options: BuildOptions,
    },
}

impl Target {
    /// The problem named `name` (a built-in or a TOML file), with `options`.
    pub fn load(name: &str, options: BuildOptions) -> crate::error::Result<Self> {
        let (spec, base) = ProblemSpec::load(name)?;
        Ok(Target::Problem {
            spec: Box::new(spec),
            base,
            options,
        })
    }
}

/// Settings of a sweep. `None` fields take problem-dependent defaults (stated in the report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalingConfig {
    /// What is varied.
    pub vary: Vary,
    /// The values of the varied quantity (default: 5 values around the base, see the report).
    pub values: Option<Vec<f64>>,
    /// Base η (default: 0.3 for `mlp`; 0.1/λ_max(H*) for problems).
    pub eta: Option<f64>,
    /// Base B (default: 32 for `mlp`, 8 for problems).
    pub batch: Option<usize>,
    /// Depth ΔL of the level set D: for `mlp` D = {½(θ−θ*)ᵀH*(θ−θ*) < ΔL} (default 0.005); for a
    /// problem with a level-set domain it replaces the file's depth (default: the depth that puts
    /// (B/η)·V0 = 6 for Gaussian SGD, weight inverse, at the base setting, so that E\[ν\] ~ 1e3);
    /// an error for other domains.
    pub delta_l: Option<f64>,
    /// Runs per point (default 100).
    pub runs: usize,
    /// Step budget per run; longer runs are censored (default 200 000).
    pub max_steps: u64,
    /// Seed (default 1). Each point draws from its own stream, derived from (seed, sweep, method,
    /// point), so points are independent, as the weighted least squares assumes.
    pub seed: u64,
    /// Use the same stream (`seed`) at every point instead (common random numbers): smoother
    /// curves, but correlated points, so the slopes' standard errors are not valid.
    pub common_random_numbers: bool,
    /// Methods (default: all that apply — minibatch SGD only for finite sums).
    pub methods: Option<Vec<Method>>,
    /// Gaussian-SGD covariance: `gradient-covariance` (default for `mlp`) or `hessian-at-minimum`
    /// (the only choice, and default, for problems).
    pub noise: Option<String>,
    /// Noise level c of the proximal system C = c·I (default: tr C/d of the Gaussian-SGD
    /// covariance at the base setting, the same total noise power).
    pub proximal_scale: Option<f64>,
    /// Relative eigenvalue floor applied to C* for the predictions (default 1e-6).
    pub covariance_floor: f64,
    /// Also run each Gaussian point on the quadratic model (drift −H*(θ−θ*), the same noise and
    /// D, its own stream) as a control: a ratio far from 1 says the loss is not quadratic where
    /// the exits happen.
    pub quadratic_control: bool,
    /// Run only the points [`Shard::range`]`(P)` of the P = settings × methods points, in their
    /// order (`--shard k/n`); `quasipot merge` combines the shards. Default: all.
    #[serde(default)]
    pub shard: Option<Shard>,
}

impl Default for ScalingConfig {
    fn default() -> Self {
        ScalingConfig {
            vary: Vary::Lr,
            values: None,
            eta: None,
            batch: None,
            delta_l: None,
            runs: 100,
            max_steps: 200_000,
            seed: 1,
            common_random_numbers: false,
            methods: None,
            noise: None,
            proximal_scale: None,
            covariance_floor: 1e-6,
            quadratic_control: false,
            shard: None,
        }
    }
}
