//! `quasipot._native`: the library's engines for Python, over the same calls as the CLI.
//!
//! Results cross the boundary as JSON text (the library's serde output, the same as
//! `--json`) plus numpy arrays for anything large; `quasipot/__init__.py` turns them into
//! result objects. Engines run with the GIL released; long runs poll for Ctrl-C and stop with
//! their partial results, which the Python side raises as `quasipot.Interrupted`.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use quasipot::error::Error;
use quasipot::linalg::Matrix;
use quasipot::matfree::lanczos::{self, Progress};
use quasipot::matfree::paper::{Neighbourhood, Spectrum};
use quasipot::matfree::{DiagonalPlusLowRank, LinearOperator};
use quasipot::problem::spec::MatrixSource;
use quasipot::problem::{BuildOptions, Problem, ProblemSpec, Weight};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The library's error as the Python exception a user expects: bad input is `ValueError`.
fn py_err(e: Error) -> PyErr {
    match e {
        Error::Invalid { .. } | Error::NotPositiveDefinite { .. } | Error::Unsupported(_) => {
            PyValueError::new_err(e.to_string())
        }
        Error::Io { .. } => PyOSError::new_err(e.to_string()),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        _ => PyRuntimeError::new_err(e.to_string()),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

fn weight_of(name: &str) -> PyResult<Weight> {
    Weight::parse(name, "weight").map_err(py_err)
}

fn matrix_of(a: &PyReadonlyArray2<'_, f64>, field: &str) -> PyResult<Matrix> {
    let v = a.as_array();
    let (r, c) = v.dim();
    if r != c || r == 0 {
        return Err(PyValueError::new_err(format!(
            "{field}: expected a square, non-empty 2-D array, got shape ({r}, {c})"
        )));
    }
    let data: Vec<f64> = v.iter().copied().collect();
    let m = Matrix { n: r, data };
    m.check_finite(field).map_err(py_err)?;
    Ok(m)
}

/// V0 of the quadratic minimum L = ½θᵀHθ on {L < depth}, with C = H (default) or `noise`,
/// by the exact (Lyapunov) engine, and the paper's quantities. Returns JSON.
#[pyfunction]
#[pyo3(signature = (hessian, depth, noise=None, weight="inverse-sqrt"))]
fn v0_hessian(
    py: Python<'_>,
    hessian: PyReadonlyArray2<'_, f64>,
    depth: f64,
    noise: Option<PyReadonlyArray2<'_, f64>>,
    weight: &str,
) -> PyResult<String> {
    let h = matrix_of(&hessian, "hessian")?;
    let c = noise.as_ref().map(|n| matrix_of(n, "noise")).transpose()?;
    if let Some(c) = &c {
        if c.n != h.n {
            return Err(PyValueError::new_err(format!(
                "noise: shape ({0}, {0}) does not match the hessian's ({1}, {1})",
                c.n, h.n
            )));
        }
    }
    let w = weight_of(weight)?;
    let (result, paper) = py
        .allow_threads(|| -> quasipot::Result<_> {
            let spec = ProblemSpec::quadratic_minimum(
                "hessian",
                MatrixSource::Inline(&h),
                c.as_ref().map(MatrixSource::Inline),
                depth,
            );
            let p = spec.build(
                std::path::Path::new("."),
                &BuildOptions {
                    weight: Some(w),
                    ..Default::default()
                },
            )?;
            let r = quasipot::estimate::run_exact(&p)?;
            Ok((r, quasipot::estimate::paper_quantities(&p)))
        })
        .map_err(py_err)?;
    to_json(&json!({"result": result, "paper": paper}))
}

/// A problem: built-in, TOML file or text, or a dict (as JSON).
#[pyclass(frozen, module = "quasipot._native")]
struct NativeProblem {
    problem: Arc<Problem>,
    /// The spec and the directory its relative paths resolve against: `lemma4` and `scaling`
    /// rebuild the problem with other weights, noise sources or scalings.
    spec: ProblemSpec,
    base: std::path::PathBuf,
    options: BuildOptions,
}

fn build_options(weight: Option<&str>) -> PyResult<BuildOptions> {
    Ok(BuildOptions {
        weight: weight.map(weight_of).transpose()?,
        ..Default::default()
    })
}

/// Run `work` with the GIL released on a worker thread while this thread polls for Ctrl-C
/// every 50 ms (and calls `progress(done, total)` with `counts()`); on an interrupt `cancel`
/// is set (engines that take it stop with partial results) and `true` is returned beside the
/// result.
fn run_interruptible<T: Send>(
    py: Python<'_>,
    cancel: Arc<AtomicBool>,
    progress: Option<Py<PyAny>>,
    counts: impl Fn() -> Option<(u64, u64)> + Send + Sync,
    work: impl FnOnce() -> T + Send,
) -> (T, bool) {
    let interrupted = AtomicBool::new(false);
    let out = py.allow_threads(|| {
        std::thread::scope(|s| {
            let (done, finished) = std::sync::mpsc::channel::<()>();
            let h = s.spawn(move || {
                let v = work();
                let _ = done.send(());
                v
            });
            // Wake as soon as the work ends; otherwise every 50 ms for signals and progress.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(Duration::from_millis(50))
            {
                let stop = Python::with_gil(|py| {
                    // An exception in the user's callback stops the run like Ctrl-C.
                    let cb = match (&progress, counts()) {
                        (Some(f), Some((done, total))) => f.call1(py, (done, total)).map(|_| ()),
                        _ => Ok(()),
                    };
                    py.check_signals().is_err() || cb.is_err()
                });
                if stop && !interrupted.load(Ordering::SeqCst) {
                    interrupted.store(true, Ordering::SeqCst);
                    cancel.store(true, Ordering::SeqCst);
                }
            }
            h.join()
        })
    });
    // One last call with the final counts, so a callback always sees the end.
    if let (Some(f), Some((done, total))) = (&progress, counts()) {
        let _ = f.call1(py, (done, total));
    }
    match out {
        Ok(v) => (v, interrupted.load(Ordering::SeqCst)),
        Err(p) => std::panic::resume_unwind(p),
    }
}

#[pymethods]
impl NativeProblem {
    /// A built-in problem name or a TOML file path.
    #[staticmethod]
    #[pyo3(signature = (name_or_path, weight=None))]
    fn load(py: Python<'_>, name_or_path: &str, weight: Option<&str>) -> PyResult<Self> {
        let (spec, base) = ProblemSpec::load(name_or_path).map_err(py_err)?;
        py.allow_threads(|| Self::build_at(spec, base, weight))
    }

    /// A problem from TOML text; relative files resolve against `base_dir`.
    #[staticmethod]
    #[pyo3(signature = (text, base_dir=".", weight=None))]
    fn from_toml(text: &str, base_dir: &str, weight: Option<&str>) -> PyResult<Self> {
        let spec = ProblemSpec::from_toml(text, "<toml text>").map_err(py_err)?;
        Self::build(spec, base_dir, weight)
    }

    /// A problem from the JSON text of a dict with the TOML file's tables.
    #[staticmethod]
    #[pyo3(signature = (text, base_dir=".", weight=None))]
    fn from_json(text: &str, base_dir: &str, weight: Option<&str>) -> PyResult<Self> {
        let spec: ProblemSpec = serde_json::from_str(text)
            .map_err(|e| PyValueError::new_err(format!("problem dict: {e}")))?;
        Self::build(spec, base_dir, weight)
    }

    /// Name, dimension, minimum, drift/noise/domain kinds (JSON).
    fn describe(&self) -> PyResult<String> {
        to_json(&quasipot::estimate::describe(&self.problem))
    }

    /// V0 by one engine or all (`auto`, `exact`, `gmam`, `olim`, `all`): JSON list of results
    /// and the engines skipped.
    #[pyo3(signature = (method="auto", quick=false))]
    fn v0(&self, py: Python<'_>, method: &str, quick: bool) -> PyResult<String> {
        let m: quasipot::estimate::Method = method.parse().map_err(py_err)?;
        let effort = effort(quick);
        let p = self.problem.clone();
        let o = py
            .allow_threads(|| quasipot::estimate::run_engines(&p, m, effort, false, 1))
            .map_err(py_err)?;
        to_json(&json!({"results": o.results, "skipped": o.skipped,
            "paper": quasipot::estimate::paper_quantities(&p)}))
    }

    /// Every engine side by side with pairwise verdicts (JSON).
    #[pyo3(signature = (quick=true, monte_carlo=true, seed=1))]
    fn validate(
        &self,
        py: Python<'_>,
        quick: bool,
        monte_carlo: bool,
        seed: u64,
    ) -> PyResult<String> {
        let p = self.problem.clone();
        let v = py
            .allow_threads(|| quasipot::estimate::validate(&p, effort(quick), monte_carlo, seed))
            .map_err(py_err)?;
        to_json(&json!({
            "results": v.engines.results,
            "skipped": v.engines.skipped,
            "verdicts": v.verdicts,
            "all_agree": v.all_agree(),
            "monte_carlo_disagrees": v.monte_carlo_disagrees(),
            "reference_v0": p.reference.v0,
        }))
    }

    /// The minimum action path by gMAM: (JSON report, nodes of the first channel as a flat
    /// array of n·d numbers).
    #[pyo3(signature = (nodes=None, tol=None))]
    fn path<'py>(
        &self,
        py: Python<'py>,
        nodes: Option<usize>,
        tol: Option<f64>,
    ) -> PyResult<(String, Bound<'py, PyArray1<f64>>)> {
        let mut c = quasipot::mam::Config::default();
        if let Some(n) = nodes {
            if n < 3 {
                return Err(PyValueError::new_err(format!(
                    "nodes: need at least 3, got {n}"
                )));
            }
            c.max_points = n;
        }
        if let Some(t) = tol {
            if !(t > 0.0 && t < 1.0) {
                return Err(PyValueError::new_err(format!(
                    "tol: must be in (0, 1), got {t}"
                )));
            }
            c.tol = t;
        }
        let p = self.problem.clone();
        let r = py
            .allow_threads(|| quasipot::mam::run(&p, &c))
            .map_err(py_err)?;
        let nodes = r
            .channels
            .first()
            .map(|ch| ch.result.path.nodes.clone())
            .unwrap_or_default();
        Ok((to_json(&r)?, nodes.into_pyarray(py)))
    }

    /// The quasi-potential on an N×N grid by OLIM (d = 2): (JSON report, V as a flat array,
    /// x axis, y axis).
    #[pyo3(signature = (grid=513))]
    #[allow(clippy::type_complexity)]
    fn field<'py>(
        &self,
        py: Python<'py>,
        grid: usize,
    ) -> PyResult<(
        String,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<f64>>,
        Bound<'py, PyArray1<f64>>,
    )> {
        let c = quasipot::olim::Config::new(grid).map_err(py_err)?;
        let p = self.problem.clone();
        let mut r = py
            .allow_threads(|| quasipot::olim::run(&p, &c))
            .map_err(py_err)?;
        let (x, y) = (r.axis(0), r.axis(1));
        let values = std::mem::take(&mut r.values);
        Ok((
            to_json(&r)?,
            values.into_pyarray(py),
            x.into_pyarray(py),
            y.into_pyarray(py),
        ))
    }

    /// Lemma 4's table: V0 by gMAM for each weight against λ_max^{-1/2}V̂0 and the bound, for
    /// the problem's own H* or a κ family (JSON).
    #[pyo3(signature = (noise="hessian", kappas=None, lambda_min=None, deltas=None, weights=None, seed=1))]
    #[allow(clippy::too_many_arguments)]
    fn lemma4(
        &self,
        py: Python<'_>,
        noise: &str,
        kappas: Option<Vec<f64>>,
        lambda_min: Option<f64>,
        deltas: Option<Vec<f64>>,
        weights: Option<Vec<String>>,
        seed: u64,
    ) -> PyResult<String> {
        use quasipot::analysis::lemma4::{self, CovarianceSource};
        let mut config = lemma4::Config {
            noise: CovarianceSource::parse(noise, "noise").map_err(py_err)?,
            kappas,
            lambda_min,
            mam: quasipot::mam::Config {
                seed,
                ..Default::default()
            },
            ..lemma4::Config::default()
        };
        if let Some(d) = deltas {
            config.deltas = d;
        }
        if let Some(w) = weights {
            config.weights = w.iter().map(|w| weight_of(w)).collect::<PyResult<_>>()?;
        }
        let opts = BuildOptions {
            weight: None,
            ..self.options.clone()
        };
        let r = py
            .allow_threads(|| lemma4::run(&self.spec, &self.base, &config, &opts))
            .map_err(py_err)?;
        to_json(&r)
    }

    /// A sweep of exit times over η, B, sharpness or depth with the predicted and fitted slopes
    /// (JSON). `progress(done, total)` is called between ensembles.
    #[pyo3(signature = (vary="lr", values=None, runs=100, max_steps=200000, seed=1, methods=None, quadratic_control=false, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn scaling(
        &self,
        py: Python<'_>,
        vary: &str,
        values: Option<Vec<f64>>,
        runs: usize,
        max_steps: u64,
        seed: u64,
        methods: Option<Vec<String>>,
        quadratic_control: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        use quasipot::analysis::scaling::{scaling, Method, ScalingConfig, Target, Vary};
        let config = ScalingConfig {
            vary: Vary::parse(vary).map_err(py_err)?,
            values,
            runs,
            max_steps,
            seed,
            methods: methods
                .map(|m| {
                    m.iter()
                        .map(|s| Method::parse(s))
                        .collect::<quasipot::Result<_>>()
                })
                .transpose()
                .map_err(py_err)?,
            quadratic_control,
            ..ScalingConfig::default()
        };
        let target = Target::Problem {
            spec: Box::new(self.spec.clone()),
            base: self.base.clone(),
            options: BuildOptions {
                weight: None,
                ..self.options.clone()
            },
        };
        let counts = Mutex::new((0u64, 0u64));
        let report = |done: usize, total: usize| {
            *counts.lock().unwrap() = (done as u64, total as u64);
        };
        // Sweeps take no cancellation flag: Ctrl-C is seen when the sweep ends.
        let (r, interrupted) = run_interruptible(
            py,
            Arc::new(AtomicBool::new(false)),
            progress,
            || Some(*counts.lock().unwrap()),
            || scaling(&target, &config, &report),
        );
        let r = r.map_err(py_err)?;
        if interrupted {
            return Err(PyKeyboardInterrupt::new_err(
                "interrupted (the sweep had finished)",
            ));
        }
        to_json(&r)
    }

    /// Monte Carlo exit times (Euler–Maruyama, boundary-corrected): (JSON report, interrupted,
    /// per noise level the exit times and their censored flags).
    #[pyo3(signature = (eps, runs=1000, dt=None, seed=1, max_steps=None, threads=None, progress=None))]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn exit_times<'py>(
        &self,
        py: Python<'py>,
        eps: Vec<f64>,
        runs: u64,
        dt: Option<f64>,
        seed: u64,
        max_steps: Option<u64>,
        threads: Option<usize>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(
        String,
        bool,
        Vec<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<bool>>)>,
    )> {
        use quasipot::sde;
        let p = self.problem.clone();
        let mut c = sde::Config::default();
        c.set_eps(eps).map_err(py_err)?;
        c.set_runs(runs).map_err(py_err)?;
        let h = match dt {
            Some(h) => h,
            None => {
                let s = sde::ensemble::stiffness(&p).map_err(py_err)?;
                (0.02 * s.h_max).min(1e-3)
            }
        };
        c.set_dt(h).map_err(py_err)?;
        if let Some(m) = max_steps {
            c.max_steps = m;
        }
        c.seed = seed;
        c.detection = sde::ExitDetection::BoundaryCorrected;
        c.prefactor_exponent = quasipot::estimate::default_prefactor_exponent(&p);
        let cancel = Arc::new(AtomicBool::new(false));
        // (finished trajectories over all levels, total) for the Python progress callback.
        let counts = Arc::new(Mutex::new((0u64, 0u64)));
        let counter = counts.clone();
        let hooks = sde::Hooks {
            cancel: Some(cancel.clone()),
            progress: Some(Arc::new(move |p: &sde::Progress| {
                let mut c = counter.lock().unwrap();
                c.0 += 1;
                c.1 = p.total * p.levels as u64;
            })),
        };
        let pool = match threads {
            Some(0) => return Err(PyValueError::new_err("threads: must be at least 1")),
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
            ),
            None => None,
        };
        let report = move || -> Option<(u64, u64)> { Some(*counts.lock().unwrap()) };
        let (r, interrupted) = run_interruptible(py, cancel, progress, report, || match &pool {
            Some(pool) => pool.install(|| sde::run_with(&p, &c, &hooks)),
            None => sde::run_with(&p, &c, &hooks),
        });
        let r = r.map_err(py_err)?;
        let dt = r.dt;
        let levels = r
            .trajectories
            .iter()
            .map(|ts| {
                let times: Vec<f64> = ts.iter().map(|t| t.steps as f64 * dt).collect();
                let censored: Vec<bool> =
                    ts.iter().map(|t| t.status != sde::Status::Exited).collect();
                (times.into_pyarray(py), censored.into_pyarray(py))
            })
            .collect();
        Ok((to_json(&r)?, interrupted, levels))
    }
}

impl NativeProblem {
    fn build(spec: ProblemSpec, base_dir: &str, weight: Option<&str>) -> PyResult<Self> {
        Self::build_at(spec, std::path::PathBuf::from(base_dir), weight)
    }

    fn build_at(
        spec: ProblemSpec,
        base: std::path::PathBuf,
        weight: Option<&str>,
    ) -> PyResult<Self> {
        let options = build_options(weight)?;
        let p = spec.build(&base, &options).map_err(py_err)?;
        Ok(NativeProblem {
            problem: Arc::new(p),
            spec,
            base,
            options,
        })
    }
}

fn effort(quick: bool) -> quasipot::estimate::Effort {
    if quick {
        quasipot::estimate::Effort::Quick
    } else {
        quasipot::estimate::Effort::Full
    }
}

/// Mean exit times from a user's own runs (e.g. PyTorch SGD): per noise level the
/// Kaplan–Meier restricted mean with an exponential tail for runs censored at a common budget,
/// then the Arrhenius fit ln E[τ] − κ ln ε = ln A + V0/ε² with its CI (JSON).
#[pyfunction]
#[pyo3(signature = (times, censored, eps, prefactor_exponent=0.0))]
fn fit_exit_times(
    times: PyReadonlyArray1<'_, f64>,
    censored: PyReadonlyArray1<'_, bool>,
    eps: PyReadonlyArray1<'_, f64>,
    prefactor_exponent: f64,
) -> PyResult<String> {
    use quasipot::analysis::arrhenius::{fit_arrhenius, ArrheniusPoint};
    use quasipot::analysis::censored::censored_mean;
    let (t, c, e) = (times.as_array(), censored.as_array(), eps.as_array());
    if t.len() != c.len() || t.len() != e.len() {
        return Err(PyValueError::new_err(format!(
            "times, censored, eps: lengths must match, got {}, {}, {}",
            t.len(),
            c.len(),
            e.len()
        )));
    }
    if t.is_empty() {
        return Err(PyValueError::new_err("times: no runs given"));
    }
    for (i, (&ti, &ei)) in t.iter().zip(e.iter()).enumerate() {
        if !(ti >= 0.0 && ti.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "times: entry {i} is {ti}; exit times are finite and ≥ 0"
            )));
        }
        if !(ei > 0.0 && ei.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "eps: entry {i} is {ei}; noise levels are positive"
            )));
        }
    }
    if !prefactor_exponent.is_finite() {
        return Err(PyValueError::new_err("prefactor_exponent: must be finite"));
    }
    let mut levels: Vec<f64> = e.iter().copied().collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let mut per_level = Vec::new();
    let mut points = Vec::new();
    for &lv in &levels {
        let idx: Vec<usize> = (0..t.len()).filter(|&i| e[i] == lv).collect();
        let exits: Vec<f64> = idx.iter().filter(|&&i| !c[i]).map(|&i| t[i]).collect();
        let cens: Vec<f64> = idx.iter().filter(|&&i| c[i]).map(|&i| t[i]).collect();
        let budget = cens.iter().copied().fold(0.0f64, f64::max);
        if let Some(&lo) = cens.iter().min_by(|a, b| a.total_cmp(b)) {
            // The Kaplan–Meier curve below the budget is the empirical one only when every
            // censored run stopped at the same budget.
            if budget - lo > 1e-9 * budget {
                return Err(PyValueError::new_err(format!(
                    "censored: at eps = {lv} the censored runs stopped at different times ({lo} … {budget}); give runs censored at one common budget"
                )));
            }
            if let Some(&late) = exits.iter().find(|&&x| x > budget * (1.0 + 1e-12)) {
                return Err(PyValueError::new_err(format!(
                    "times: at eps = {lv} an exit at {late} lies after the censoring budget {budget}"
                )));
            }
        }
        let m = if cens.is_empty() {
            censored_mean(&exits, 0, exits.iter().copied().fold(0.0, f64::max), 0.0)
        } else {
            censored_mean(&exits, cens.len(), budget, 0.0)
        };
        if let (Some(mean), Some(se)) = (m.mean, m.ln_se) {
            points.push(ArrheniusPoint {
                eps: lv,
                mean,
                log_se: se,
            });
        }
        per_level.push(json!({"eps": lv, "runs": idx.len(), "exits": exits.len(),
            "censored": cens.len(), "estimate": m}));
    }
    let fit = if points.len() >= 2 {
        match fit_arrhenius(&points, prefactor_exponent) {
            Ok(f) => serde_json::to_value(f).unwrap_or(Value::Null),
            Err(e) => json!({"error": e.to_string()}),
        }
    } else {
        Value::Null
    };
    to_json(&json!({"levels": per_level, "arrhenius": fit}))
}

/// A Python callable v ↦ H v as an operator; its first exception is kept and re-raised.
struct PyOperator {
    f: Py<PyAny>,
    dim: usize,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl LinearOperator for PyOperator {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) -> quasipot::Result<()> {
        let r = Python::with_gil(|py| -> PyResult<()> {
            let xs = PyArray1::from_slice(py, x);
            let out = self.f.call1(py, (xs,))?;
            let arr: PyReadonlyArray1<'_, f64> = out.extract(py).map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(
                    "hvp: must return a 1-D float64 numpy array (np.asarray(v, dtype=float))",
                )
            })?;
            let a = arr.as_array();
            if a.len() != y.len() {
                return Err(PyValueError::new_err(format!(
                    "hvp: returned {} numbers for a vector of dimension {}",
                    a.len(),
                    y.len()
                )));
            }
            for (yi, ai) in y.iter_mut().zip(a.iter()) {
                *yi = *ai;
            }
            Ok(())
        });
        r.map_err(|e| {
            *self.error.lock().unwrap() = Some(e);
            Error::Interrupted
        })
    }
}

/// Extreme eigenpairs of H* behind a handle, for V0 and the paper's quantities.
#[pyclass(frozen, module = "quasipot._native")]
struct NativeSpectrum {
    spectrum: Spectrum,
}

fn lanczos_config(tol: f64, basis: usize, max_products: usize, seed: u64) -> lanczos::Config {
    lanczos::Config {
        tol,
        basis,
        max_products,
        seed,
        ..lanczos::Config::default()
    }
}

/// The observer: Ctrl-C and the user's progress callback (products, worst relative residual).
fn observer(
    progress: Option<Py<PyAny>>,
    error: Arc<Mutex<Option<PyErr>>>,
) -> impl FnMut(&Progress) -> quasipot::Result<()> {
    move |p: &Progress| {
        Python::with_gil(|py| {
            let r = py.check_signals().and_then(|_| match &progress {
                Some(f) => f
                    .call1(py, (p.products, p.worst_relative_residual))
                    .map(|_| ()),
                None => Ok(()),
            });
            r.map_err(|e| {
                *error.lock().unwrap() = Some(e);
                Error::Interrupted
            })
        })
    }
}

/// Lanczos on `op` with the GIL released; a Python exception raised in the operator or the
/// observer (kept in `error`) is re-raised as it was.
#[allow(clippy::too_many_arguments)]
fn run_spectrum<O: LinearOperator + Send>(
    py: Python<'_>,
    op: &mut O,
    error: Arc<Mutex<Option<PyErr>>>,
    smallest: bool,
    cfg: lanczos::Config,
    progress: Option<Py<PyAny>>,
) -> PyResult<NativeSpectrum> {
    let mut obs = observer(progress, error.clone());
    let r = py.allow_threads(|| Spectrum::by_lanczos(op, &cfg, smallest, &mut obs));
    match r {
        Ok(spectrum) => Ok(NativeSpectrum { spectrum }),
        Err(e) => Err(error.lock().unwrap().take().unwrap_or_else(|| py_err(e))),
    }
}

/// λ_max (and λ_min when `smallest`) of a Hessian given as a callable Hessian-vector product.
#[pyfunction]
#[pyo3(signature = (hvp, dim, smallest=true, tol=1e-10, basis=40, max_products=20000, seed=1, progress=None))]
#[allow(clippy::too_many_arguments)]
fn spectrum_hvp(
    py: Python<'_>,
    hvp: Py<PyAny>,
    dim: usize,
    smallest: bool,
    tol: f64,
    basis: usize,
    max_products: usize,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<NativeSpectrum> {
    if !hvp.bind(py).is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "hvp: must be a callable v -> H @ v",
        ));
    }
    let error = Arc::new(Mutex::new(None));
    let mut op = PyOperator {
        f: hvp,
        dim,
        error: error.clone(),
    };
    let cfg = lanczos_config(tol, basis, max_products, seed);
    run_spectrum(py, &mut op, error, smallest, cfg, progress)
}

/// The same for H = diag(δ) + U diag(s) Uᵀ (U is d×r), applied natively.
#[pyfunction]
#[pyo3(signature = (diagonal, factor, weights, smallest=true, tol=1e-10, basis=40, max_products=20000, seed=1, progress=None))]
#[allow(clippy::too_many_arguments)]
fn spectrum_diagonal_plus_low_rank(
    py: Python<'_>,
    diagonal: PyReadonlyArray1<'_, f64>,
    factor: PyReadonlyArray2<'_, f64>,
    weights: PyReadonlyArray1<'_, f64>,
    smallest: bool,
    tol: f64,
    basis: usize,
    max_products: usize,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<NativeSpectrum> {
    let diag: Vec<f64> = diagonal.as_array().iter().copied().collect();
    let u = factor.as_array();
    let (d, r) = u.dim();
    if d != diag.len() {
        return Err(PyValueError::new_err(format!(
            "factor: has {d} rows but the diagonal has {} entries",
            diag.len()
        )));
    }
    // Column-major d×r for the operator.
    let mut cols = Vec::with_capacity(d * r);
    for k in 0..r {
        cols.extend(u.column(k).iter().copied());
    }
    let s: Vec<f64> = weights.as_array().iter().copied().collect();
    let mut op = DiagonalPlusLowRank::new(diag, cols, s).map_err(py_err)?;
    let cfg = lanczos_config(tol, basis, max_products, seed);
    run_spectrum(
        py,
        &mut op,
        Arc::new(Mutex::new(None)),
        smallest,
        cfg,
        progress,
    )
}

/// From eigenvalues (and optionally eigenvectors as rows) a user already has.
#[pyfunction]
#[pyo3(signature = (values, dim, vectors=None, complete=false))]
fn spectrum_eigenpairs(
    values: PyReadonlyArray1<'_, f64>,
    dim: usize,
    vectors: Option<PyReadonlyArray2<'_, f64>>,
    complete: bool,
) -> PyResult<NativeSpectrum> {
    let vals: Vec<f64> = values.as_array().iter().copied().collect();
    let vecs: Option<Vec<f64>> = vectors.map(|v| v.as_array().iter().copied().collect());
    let spectrum =
        Spectrum::from_eigenpairs(dim, &vals, vecs.as_deref(), complete).map_err(py_err)?;
    Ok(NativeSpectrum { spectrum })
}

#[pymethods]
impl NativeSpectrum {
    /// The spectrum and its Lanczos run (JSON; vectors not included).
    fn to_json(&self) -> PyResult<String> {
        to_json(&self.spectrum)
    }

    /// The unit eigenvector of λ_max (empty when not known).
    fn vector_max<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.spectrum.lambda_max.vector.clone().into_pyarray(py)
    }

    /// The unit eigenvector of λ_min (empty when not known).
    fn vector_min<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        self.spectrum
            .lambda_min
            .as_ref()
            .map(|p| p.vector.clone())
            .unwrap_or_default()
            .into_pyarray(py)
    }

    /// V0 for C = H* on a level set (`depth`) or ball (`radius`), JSON.
    #[pyo3(signature = (depth=None, radius=None, weight="inverse-sqrt"))]
    fn barrier(&self, depth: Option<f64>, radius: Option<f64>, weight: &str) -> PyResult<String> {
        let domain = match (depth, radius) {
            (Some(d), None) => Neighbourhood::LevelSet { depth: d },
            (None, Some(r)) => Neighbourhood::Ball { radius: r },
            _ => {
                return Err(PyValueError::new_err(
                    "give exactly one of depth (level set {L < depth}) or radius (ball)",
                ))
            }
        };
        let b = self
            .spectrum
            .barrier(domain, weight_of(weight)?)
            .map_err(py_err)?;
        to_json(&b)
    }

    /// λ_max, λ_min, κ, Theorem 2's term, V̂0, Lemma 4's factor and their ± (JSON).
    fn paper_quantities(&self, depth: f64) -> PyResult<String> {
        let (q, e) = self.spectrum.paper_quantities(depth).map_err(py_err)?;
        to_json(&json!({"quantities": q, "errors": e}))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(v0_hessian, m)?)?;
    m.add_function(wrap_pyfunction!(fit_exit_times, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum_hvp, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum_diagonal_plus_low_rank, m)?)?;
    m.add_function(wrap_pyfunction!(spectrum_eigenpairs, m)?)?;
    m.add_class::<NativeProblem>()?;
    m.add_class::<NativeSpectrum>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
