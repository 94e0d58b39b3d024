"""quasipot for numpy and PyTorch users.

How hard is it for noisy gradient descent to leave a minimum? SGD near θ* behaves like
dθ = −∇L dt + ε a(θ)^{1/2} dW (ε² = η/B), whose mean exit time from a neighbourhood D grows
like exp(V0/ε²). This package calls the same Rust engines as the ``quasipot`` command line:

>>> import numpy as np, quasipot
>>> quasipot.v0(np.diag([1.0, 4.0]), depth=0.5).v0      # 2ΔL λ_max^{-1/2}
0.5

Matrix-free Hessians (a Hessian-vector product, e.g. from ``torch.autograd``) go through
:func:`spectrum`; exit times you measured yourself through :func:`fit_exit_times`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import _native

__all__ = [
    "v0",
    "Problem",
    "fit_exit_times",
    "spectrum",
    "Spectrum",
    "Result",
    "Interrupted",
    "__version__",
]
__version__ = _native.__version__


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or an exception in a progress callback) stopped a run; ``partial`` holds what was
    computed, with the runs in flight reported as censored, as the CLI keeps them."""

    def __init__(self, partial: "Result"):
        super().__init__("interrupted; the partial result is in .partial")
        self.partial = partial


class Result:
    """A result: the engine's report as attributes (the same fields as the CLI's ``--json``),
    numpy arrays for large data, and :meth:`to_dict`."""

    kind = "result"

    def __init__(self, data: dict, arrays: Optional[dict] = None):
        self._data = data
        self._arrays = arrays or {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._arrays:
            return self._arrays[name]
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; fields: {sorted(self.keys())}"
            ) from None

    def keys(self):
        return list(self._data) + list(self._arrays)

    def to_dict(self) -> dict:
        """Plain Python data: JSON fields as they are, arrays as numpy arrays."""
        d = dict(self._data)
        d.update(self._arrays)
        return d

    def __repr__(self) -> str:
        shown = {k: v for k, v in self._data.items() if not isinstance(v, (list, dict))}
        return f"{type(self).__name__}({shown})"


class V0Result(Result):
    """V0 by each engine that ran (``results``), the engines skipped, and the paper's quantities
    when the problem is a gradient problem on a level set. ``v0`` is the first result's."""

    @property
    def v0(self) -> float:
        if "result" in self._data:
            return self._data["result"]["v0"]
        return self._data["results"][0]["v0"]


class PathResult(Result):
    """The minimum action path: ``path`` is an (n, d) array of nodes from θ* to ∂D."""


class FieldResult(Result):
    """The quasi-potential on a grid: ``V[j, i]`` = V(x[i], y[j]); unreached points are +inf."""


class ExitTimesResult(Result):
    """Monte Carlo exit times: per noise level ``times[k]`` and ``censored[k]`` arrays, the
    estimates in ``levels`` and the Arrhenius fit in ``arrhenius``."""


class ValidationResult(Result):
    """Every engine side by side with a verdict per pair."""


class Lemma4Result(Result):
    """Lemma 4's table: ``rows`` (one per H*, κ) with, per weight, gMAM's V0 against
    λ_max^{-1/2}V̂0 and the bound's verdict."""


class ScalingResult(Result):
    """An exit-time sweep: ``points`` (one ensemble each), ``fits`` (fitted against predicted
    slopes with CIs) and ``notes``."""


class ExitTimeFit(Result):
    """Censored means per noise level and the Arrhenius fit with its 95 % interval."""


class Spectrum:
    """Extreme eigenpairs of H* (by Lanczos or given), and what follows from them.

    ``lambda_max`` / ``lambda_min`` are ``(value, residual)`` pairs: some eigenvalue of H* lies
    within ``residual`` of ``value``.
    """

    def __init__(self, native):
        self._native = native
        self._data = json.loads(native.to_json())

    @property
    def dim(self) -> int:
        return self._data["dim"]

    @property
    def lambda_max(self) -> tuple:
        p = self._data["lambda_max"]
        return (p["value"], p["residual"])

    @property
    def lambda_min(self) -> Optional[tuple]:
        p = self._data["lambda_min"]
        return None if p is None else (p["value"], p["residual"])

    @property
    def vector_max(self) -> np.ndarray:
        return self._native.vector_max()

    @property
    def vector_min(self) -> np.ndarray:
        return self._native.vector_min()

    @property
    def lanczos(self) -> Optional[dict]:
        """Products, restarts, convergence and timing of the Lanczos run (None when given)."""
        return self._data["lanczos"]

    def v0(self, depth: Optional[float] = None, radius: Optional[float] = None,
           weight: str = "inverse-sqrt") -> Result:
        """V0 for C = H* on the level set {L < depth} or the ball of ``radius``, with
        ``error_bound`` from the eigenvalue residual and ``exit_point`` (θ − θ*)."""
        data = json.loads(self._native.barrier(depth, radius, weight))
        arrays = {}
        if data.get("exit_point") is not None:
            arrays["exit_point"] = np.asarray(data.pop("exit_point"))
        return Result(data, arrays)

    def paper_quantities(self, depth: float) -> Result:
        """λ_max, λ_min, κ, Theorem 2's term 2ΔL λ_max^{-1/2}, V̂0 = 2ΔL and Lemma 4's factor
        λ_min^{1/2}(κ^{1/2} − 1) (``quantities``), each with its ± (``errors``)."""
        return Result(json.loads(self._native.paper_quantities(depth)))

    def to_dict(self) -> dict:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Spectrum(dim={self.dim}, lambda_max={self.lambda_max}, lambda_min={self.lambda_min})"


def _float_matrix(a, name: str) -> np.ndarray:
    try:
        m = np.ascontiguousarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected a 2-D array of numbers ({e})") from None
    if m.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got {m.ndim} dimension(s)")
    return m


def v0(hessian, depth: float, noise=None, weight: str = "inverse-sqrt") -> V0Result:
    """V0 of the quadratic minimum L = ½θᵀHθ on the level set {L < depth}, with the noise
    covariance C = H (the paper's Assumption 2) or ``noise``, by the exact Lyapunov engine.

    ``weight`` is the action's weight: ``inverse-sqrt`` (a = C^{1/2}, the paper's Definition 4)
    or ``inverse`` (a = C, Gaussian SGD). The result also has the paper's quantities
    (``paper``: λ_max, λ_min, κ, Theorem 2's term, V̂0, Lemma 4's factor).
    For Hessians too large to store use :func:`spectrum`.
    """
    h = _float_matrix(hessian, "hessian")
    c = None if noise is None else _float_matrix(noise, "noise")
    if not isinstance(depth, (int, float)) or isinstance(depth, bool):
        raise TypeError(f"depth: expected a number, got {type(depth).__name__}")
    return V0Result(json.loads(_native.v0_hessian(h, float(depth), c, weight)))


class Problem:
    """A problem: a built-in name, a TOML file or text, or a dict with the TOML tables."""

    def __init__(self, native):
        self._native = native
        self.info = json.loads(native.describe())

    @classmethod
    def load(cls, name_or_path: str, weight: Optional[str] = None) -> "Problem":
        """A built-in problem (``quasipot problems`` lists them) or a TOML file."""
        return cls(_native.NativeProblem.load(str(name_or_path), weight))

    @classmethod
    def from_toml(cls, text_or_path: str, weight: Optional[str] = None) -> "Problem":
        """From TOML text, or a path to a ``.toml`` file."""
        text_or_path = str(text_or_path)
        if "\n" not in text_or_path and os.path.isfile(text_or_path):
            base = os.path.dirname(os.path.abspath(text_or_path))
            with open(text_or_path, encoding="utf-8") as f:
                return cls(_native.NativeProblem.from_toml(f.read(), base, weight))
        return cls(_native.NativeProblem.from_toml(text_or_path, ".", weight))

    @classmethod
    def from_dict(cls, spec: dict, weight: Optional[str] = None) -> "Problem":
        """From a dict with the TOML file's tables (``drift``, ``noise``, ``domain``, …);
        numpy arrays are accepted where the file has lists."""
        if not isinstance(spec, dict):
            raise TypeError(f"spec: expected a dict, got {type(spec).__name__}")

        def plain(x):
            if isinstance(x, np.ndarray):
                return x.tolist()
            if isinstance(x, dict):
                return {k: plain(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [plain(v) for v in x]
            if isinstance(x, np.generic):
                return x.item()
            return x

        return cls(_native.NativeProblem.from_json(json.dumps(plain(spec)), ".", weight))

    @property
    def dim(self) -> int:
        return self.info["dimension"]

    def v0(self, method: str = "auto", quick: bool = False) -> V0Result:
        """V0 by ``auto`` (exact if linear-Gaussian, else gMAM), ``exact``, ``gmam``, ``olim``
        or ``all``."""
        return V0Result(json.loads(self._native.v0(method, quick)))

    def validate(self, quick: bool = True, monte_carlo: bool = True, seed: int = 1) -> ValidationResult:
        """Every engine that applies, with a verdict per pair (``verdicts``, ``all_agree``)."""
        return ValidationResult(json.loads(self._native.validate(quick, monte_carlo, seed)))

    def path(self, nodes: Optional[int] = None, tol: Optional[float] = None) -> PathResult:
        """The minimum action path by geometric MAM (free endpoint on ∂D)."""
        js, flat = self._native.path(nodes, tol)
        data = json.loads(js)
        return PathResult(data, {"path": flat.reshape(-1, data["dim"])})

    def field(self, grid: int = 513) -> FieldResult:
        """V on a grid × grid mesh by the ordered line integral method (d = 2)."""
        js, values, x, y = self._native.field(grid)
        return FieldResult(json.loads(js), {"V": values.reshape(len(y), len(x)), "x": x, "y": y})

    def exit_times(self, eps: Sequence[float], runs: int = 1000, dt: Optional[float] = None,
                   seed: int = 1, max_steps: Optional[int] = None, threads: Optional[int] = None,
                   progress: Optional[Callable[[int, int], Any]] = None) -> ExitTimesResult:
        """Monte Carlo exit times at each ε (boundary-corrected Euler–Maruyama). Same seed,
        same numbers, whatever ``threads``. ``progress(done, total)`` is called every 50 ms.
        Ctrl-C raises :class:`Interrupted` with the partial result."""
        eps = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=float))]
        js, interrupted, levels = self._native.exit_times(
            eps, int(runs), dt, int(seed), max_steps, threads, progress)
        r = ExitTimesResult(json.loads(js), {
            "times": [t for t, _ in levels],
            "censored": [c for _, c in levels],
        })
        if interrupted:
            raise Interrupted(r)
        return r

    def lemma4(self, noise: str = "hessian", kappas: Optional[Sequence[float]] = None,
               lambda_min: Optional[float] = None, deltas: Optional[Sequence[float]] = None,
               weights: Optional[Sequence[str]] = None, seed: int = 1) -> Lemma4Result:
        """Lemma 4 for the problem's H* (or a family with condition numbers ``kappas``), as
        ``quasipot lemma4``; ``deltas=[]`` skips the proof-constant measurement."""
        return Lemma4Result(json.loads(self._native.lemma4(
            noise, None if kappas is None else [float(k) for k in kappas], lambda_min,
            None if deltas is None else [float(d) for d in deltas],
            None if weights is None else list(weights), int(seed))))

    def scaling(self, vary: str = "lr", values: Optional[Sequence[float]] = None, runs: int = 100,
                max_steps: int = 200_000, seed: int = 1, methods: Optional[Sequence[str]] = None,
                quadratic_control: bool = False,
                progress: Optional[Callable[[int, int], Any]] = None) -> ScalingResult:
        """Exit times swept over ``vary`` (``lr``, ``batch``, ``sharpness``, ``depth``) with the
        predicted and fitted Arrhenius slopes, as ``quasipot scaling``. ``quadratic_control``
        also runs every Gaussian point on the quadratic model of L at θ* (its own stream) and
        fits it beside its flux prediction (``fits[i]["quadratic_control"]``), as
        ``--quadratic-control``. Ctrl-C is honoured when the sweep ends (sweeps take no
        cancellation flag yet)."""
        return ScalingResult(json.loads(self._native.scaling(
            vary, None if values is None else [float(v) for v in values], int(runs),
            int(max_steps), int(seed), None if methods is None else list(methods),
            bool(quadratic_control), progress)))

    def __repr__(self) -> str:
        i = self.info
        return f"Problem({i['name']!r}, d={i['dimension']}, drift={i['drift']}, domain={i['domain']})"


def fit_exit_times(times, censored, eps, prefactor_exponent: float = 0.0) -> ExitTimeFit:
    """Mean exit times and the Arrhenius fit from exit times you measured (e.g. PyTorch SGD).

    ``times[i]`` is run i's exit time (or the budget it was stopped at, ``censored[i]`` True)
    at noise ``eps[i]``. Per ε: the Kaplan–Meier restricted mean plus an exponential tail for
    the censored runs (they must share one budget per ε), with a bootstrap standard error;
    then ln E[τ] − κ ln ε = ln A + V0/ε² fitted with its 95 % interval (``arrhenius``).
    """
    t = np.ascontiguousarray(times, dtype=np.float64).ravel()
    c = np.ascontiguousarray(censored, dtype=bool).ravel()
    e = np.broadcast_to(np.asarray(eps, dtype=np.float64), t.shape).copy() \
        if np.ndim(eps) == 0 else np.ascontiguousarray(eps, dtype=np.float64).ravel()
    return ExitTimeFit(json.loads(_native.fit_exit_times(t, c, e, float(prefactor_exponent))))


def spectrum(hvp: Optional[Callable[[np.ndarray], np.ndarray]] = None, dim: Optional[int] = None, *,
             hessian=None, diagonal=None, factor=None, weights=None,
             eigenvalues=None, eigenvectors=None, complete: bool = False,
             smallest: bool = True, tol: float = 1e-10, basis: int = 40,
             max_products: int = 20000, seed: int = 1,
             progress: Optional[Callable[[int, float], Any]] = None) -> Spectrum:
    """λ_max and λ_min of H* without storing it, by thick-restart Lanczos (memory ≈ 2·basis·d).

    Give one of:
      * ``hvp`` and ``dim``: a callable v ↦ H v on float64 vectors (e.g. wrapping
        ``torch.autograd.functional.hvp``);
      * ``hessian``: a dense array (for testing against the matrix-free path);
      * ``diagonal``, ``factor`` (d×r) and ``weights`` (r): H = diag(δ) + U diag(s) Uᵀ, applied
        natively;
      * ``eigenvalues`` (and ``eigenvectors`` as rows), e.g. the top-k you already have;
        ``complete=True`` if they include the smallest.

    ``tol`` is the relative residual ‖Hx − θx‖/‖H‖ at which Lanczos stops; the residuals are
    recomputed and reported as error bounds. ``progress(products, worst_residual)`` is called
    after each product; raising in it (or Ctrl-C) stops the solve.
    """
    given = [hvp is not None, hessian is not None, diagonal is not None, eigenvalues is not None]
    if sum(given) != 1:
        raise ValueError("give exactly one of hvp (with dim), hessian, diagonal/factor/weights, eigenvalues")
    if eigenvalues is not None:
        vals = np.ascontiguousarray(eigenvalues, dtype=np.float64).ravel()
        vecs = None
        if eigenvectors is not None:
            vecs = _float_matrix(eigenvectors, "eigenvectors")
            if vecs.shape[0] != vals.size:
                raise ValueError(
                    f"eigenvectors: expected one row per eigenvalue ({vals.size}), got {vecs.shape[0]}")
            dim = vecs.shape[1] if dim is None else dim
        if dim is None:
            raise ValueError("dim: needed when eigenvectors are not given")
        return Spectrum(_native.spectrum_eigenpairs(vals, int(dim), vecs, bool(complete)))
    opts = dict(smallest=bool(smallest), tol=float(tol), basis=int(basis),
                max_products=int(max_products), seed=int(seed), progress=progress)
    if diagonal is not None:
        if factor is None or weights is None:
            raise ValueError("diagonal needs factor (d×r) and weights (r) too")
        return Spectrum(_native.spectrum_diagonal_plus_low_rank(
            np.ascontiguousarray(diagonal, dtype=np.float64).ravel(),
            _float_matrix(factor, "factor"),
            np.ascontiguousarray(weights, dtype=np.float64).ravel(), **opts))
    if hessian is not None:
        h = _float_matrix(hessian, "hessian")
        if h.shape[0] != h.shape[1]:
            raise ValueError(f"hessian: expected a square array, got shape {h.shape}")
        if not np.allclose(h, h.T, rtol=1e-12, atol=1e-14 * np.abs(h).max()):
            raise ValueError("hessian: not symmetric")
        return Spectrum(_native.spectrum_hvp(lambda v: h @ v, h.shape[0], **opts))
    if dim is None or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim: the dimension of the hvp's vectors (a positive int), got {dim!r}")
    return Spectrum(_native.spectrum_hvp(hvp, int(dim), **opts))
