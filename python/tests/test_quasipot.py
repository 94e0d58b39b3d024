"""The Python package against closed forms, the exact engine and the CLI."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import quasipot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def random_spd(d, seed, spread=10.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = np.exp(np.linspace(0.0, np.log(spread), d))
    return (q * lam) @ q.T, lam


# --- V0 from arrays -------------------------------------------------------------------------

def test_v0_of_a_hessian_is_theorem_2s_term_for_c_equal_h():
    h, lam = random_spd(6, 1)
    r = quasipot.v0(h, depth=0.3)
    # C = H*, a = C^{1/2}: V0 = 2ΔL λ_max^{-1/2} (DESIGN §2), exact.
    assert r.v0 == pytest.approx(0.6 / math.sqrt(lam.max()), rel=1e-10)
    assert r.paper["kappa"] == pytest.approx(lam.max() / lam.min(), rel=1e-10)
    inv = quasipot.v0(h, depth=0.3, weight="inverse")
    assert inv.v0 == pytest.approx(0.6 / lam.max(), rel=1e-10)


def test_v0_with_a_separate_noise_matrix_matches_the_lyapunov_solution():
    # Diagonal H and C commute: Σ = ½ C^{1/2} H^{-1} (a = C^{1/2}), V = ½uᵀΣ⁻¹u, and on the
    # level set ½uᵀHu = ΔL the least V is ΔL·min_i (Σ⁻¹)_ii / H_ii = ΔL·min 2 / c_i^{1/2}.
    h = np.diag([1.0, 3.0, 5.0])
    c = np.diag([0.5, 2.0, 0.1])
    r = quasipot.v0(h, depth=0.2, noise=c)
    assert r.v0 == pytest.approx(0.2 * min(2 / np.sqrt(np.diag(c))), rel=1e-10)


def test_v0_from_arrays_matches_the_cli(tmp_path):
    h, _ = random_spd(4, 7)
    np.save(tmp_path / "h.npy", h)
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                       "release", "quasipot")
    if not os.path.exists(exe):
        pytest.skip("target/release/quasipot not built")
    out = subprocess.run([exe, "v0", "--hessian", str(tmp_path / "h.npy"), "--depth", "0.5", "--json"],
                         capture_output=True, text=True, check=True).stdout
    cli = json.loads(out)
    found = []

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "v0" and isinstance(v, float):
                    found.append(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(cli)
    py = quasipot.v0(h, depth=0.5).v0
    # The CLI's JSON holds the same V0 to the last bit (same engine, same input).
    assert py in found, (py, found)


def test_bad_arrays_raise_value_or_type_errors():
    with pytest.raises(ValueError, match="square"):
        quasipot.v0(np.ones((2, 3)), depth=1.0)
    with pytest.raises(ValueError, match="2-D"):
        quasipot.v0(np.ones(3), depth=1.0)
    with pytest.raises(ValueError):
        quasipot.v0(np.diag([1.0, -1.0]), depth=1.0)
    with pytest.raises(ValueError, match="depth"):
        quasipot.v0(np.eye(2), depth=-1.0)
    with pytest.raises(ValueError):
        quasipot.v0(np.array([[1.0, np.nan], [np.nan, 1.0]]), depth=1.0)
    with pytest.raises(TypeError):
        quasipot.v0([["a", "b"], ["c", "d"]], depth=1.0)
    with pytest.raises(TypeError):
        quasipot.v0(np.eye(2), depth="deep")
    with pytest.raises(ValueError, match="weight"):
        quasipot.v0(np.eye(2), depth=1.0, weight="sqrt")
    with pytest.raises(ValueError, match="noise"):
        quasipot.v0(np.eye(2), depth=1.0, noise=np.eye(3))


# --- Problems ---------------------------------------------------------------------------------

def test_builtin_problem_engines_agree_with_the_exact_value():
    p = quasipot.Problem.load("quadratic-2d")
    assert p.dim == 2
    exact = p.v0("exact").v0
    assert exact == pytest.approx(1.0, rel=1e-12)   # 2ΔL λ_max^{-1/2} = 2·1/√4
    g = p.v0("gmam", quick=True)
    assert g.results[0]["v0"] == pytest.approx(exact, rel=1e-3)
    path = p.path()
    assert path.path.shape[1] == 2
    assert np.allclose(path.path[0], p.info["minimum"], atol=1e-9)


def test_problem_from_toml_text_and_dict_are_the_same_problem():
    toml = """
name = "ou"
[drift]
hessian = [[2.0, 0.0], [0.0, 1.0]]
[noise]
source = "hessian-at-minimum"
[domain]
kind = "level-set"
depth = 0.5
"""
    a = quasipot.Problem.from_toml(toml)
    b = quasipot.Problem.from_dict({
        "name": "ou",
        "drift": {"hessian": np.diag([2.0, 1.0])},
        "noise": {"source": "hessian-at-minimum"},
        "domain": {"kind": "level-set", "depth": 0.5},
    })
    assert a.v0("exact").v0 == b.v0("exact").v0 == pytest.approx(1.0 / math.sqrt(2.0), rel=1e-12)
    with pytest.raises(ValueError, match="domain"):
        quasipot.Problem.from_dict({"drift": {"hessian": [[1.0]]}, "domain": {"kind": "moon"}})
    with pytest.raises(ValueError):
        quasipot.Problem.from_toml("this is not toml = = =")
    with pytest.raises(ValueError):
        quasipot.Problem.load("no-such-problem")


def test_field_on_the_ou_problem_matches_the_exact_quasi_potential():
    p = quasipot.Problem.load("quadratic-2d")
    f = p.field(grid=129)
    X, Y = np.meshgrid(f.x, f.y)
    # quadratic-2d: H = diag(1, 4), C = H, a = H^{1/2}: V = uᵀH^{1/2}u = x² + 2y².
    exact = X**2 + 2 * Y**2
    ok = np.isfinite(f.V) & (exact < 0.9 * f.v0)
    assert ok.sum() > 1000
    assert np.max(np.abs(f.V[ok] - exact[ok])) < 0.02 * f.v0


def test_exit_times_are_reproducible_whatever_the_thread_count():
    p = quasipot.Problem.load("double-well-1d")
    a = p.exit_times([0.5], runs=64, seed=3, threads=1)
    b = p.exit_times([0.5], runs=64, seed=3, threads=2)
    assert np.array_equal(a.times[0], b.times[0])
    assert a.levels[0]["exited"] + a.levels[0].get("censored", 0) >= 1
    seen = []
    p.exit_times([0.5], runs=16, seed=4, progress=lambda done, total: seen.append((done, total)))
    assert seen and all(d <= t for d, t in seen)
    assert seen[-1] == (16, 16)


def test_an_exception_in_the_progress_callback_stops_the_run_with_partial_results():
    p = quasipot.Problem.load("double-well-1d")

    def stop(done, total):
        raise RuntimeError("enough")

    with pytest.raises(quasipot.Interrupted) as info:
        p.exit_times([0.2], runs=20000, seed=1, max_steps=10**9, progress=stop)
    partial = info.value.partial
    assert partial.termination == "interrupted"
    assert len(partial.times[0]) <= 20000


def test_ctrl_c_raises_interrupted_with_the_partial_result():
    # A real SIGINT to a Python process inside a long exit_times run.
    script = (
        "import quasipot, sys\n"
        "p = quasipot.Problem.load('double-well-1d')\n"
        "print('started', flush=True)\n"
        "try:\n"
        "    p.exit_times([0.15], runs=100000, seed=1, max_steps=10**10)\n"
        "except quasipot.Interrupted as e:\n"
        "    lv = e.partial.levels[0]\n"
        "    print('partial', e.partial.termination, lv['exited'], lv['censored'] + lv['interrupted'], len(e.partial.times[0]))\n"
        "    sys.exit(0)\n"
        "print('finished without interrupt')\n"
        "sys.exit(1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    word, termination, exited, stopped, rows = out.split()
    assert word == "partial" and termination == "interrupted"
    # Trajectories in flight are kept as censored, as in the CLI.
    assert int(stopped) >= 1 and int(exited) + int(stopped) == int(rows)


def test_validate_is_a_library_call_with_verdicts():
    v = quasipot.Problem.load("quadratic-2d").validate(quick=True, monte_carlo=False)
    methods = [r["method"] for r in v.results]
    assert "exact" in methods and "gmam" in methods
    assert v.all_agree is True
    assert v.to_dict()["verdicts"]


def test_lemma4_on_a_quadratic_minimum_matches_the_closed_forms():
    p = quasipot.Problem.load("quadratic-2d")     # H = diag(1, 4), ΔL = 1
    r = p.lemma4(deltas=[])
    ws = {w["weight"]: w["v0"]["v0"] for w in r.rows[0]["weights"]}
    # C = H*: V0 = 2ΔL λ_max^{-1/2} = 1 (inverse-sqrt) and 2ΔL/λ_max = 0.5 (inverse).
    assert ws["inverse-sqrt"] == pytest.approx(1.0, rel=1e-6)
    assert ws["inverse"] == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(ValueError, match="noise"):
        p.lemma4(noise="identity")
    with pytest.raises(ValueError, match="kappa"):
        p.lemma4(kappas=[0.5])


def test_scaling_sweep_is_reproducible_and_checks_its_arguments():
    p = quasipot.Problem.load("quadratic-2d")
    calls = []
    a = p.scaling(vary="lr", runs=20, max_steps=20000, seed=2,
                  progress=lambda done, total: calls.append((done, total)))
    b = p.scaling(vary="lr", runs=20, max_steps=20000, seed=2)
    assert len(a.points) == 10 and len(a.fits) == 4
    def numbers(points):   # everything but the wall times
        return json.dumps([{k: v for k, v in q.items() if k != "wall_seconds"} for q in points],
                          sort_keys=True)

    assert numbers(a.points) == numbers(b.points)
    assert calls and calls[-1][0] == calls[-1][1]
    # The control of a problem that is its own quadratic model: same system, own stream, so its
    # slope agrees with the method's within their combined error (3 sigma).
    c = p.scaling(vary="batch", values=[6.0, 8.0, 10.0], runs=200, seed=5,
                  methods=["gaussian-sgd"], quadratic_control=True)
    for f in c.fits:
        q = f["quadratic_control"]
        z = (q["fit"]["slope"] - f["fit"]["slope"]) / math.hypot(q["fit"]["slope_se"],
                                                              f["fit"]["slope_se"])
        assert abs(z) < 3.0, (q["fit"], f["fit"])
    assert all(f["quadratic_control"] is None for f in a.fits)
    with pytest.raises(ValueError, match="vary"):
        p.scaling(vary="temperature")
    with pytest.raises(ValueError, match="gradient"):
        quasipot.Problem.load("maier-stein").scaling(vary="sharpness", runs=5)


# --- Exit times a user measured ---------------------------------------------------------------

def test_fit_exit_times_recovers_an_exponential_law_with_censoring():
    # E[τ] = A e^{V0/ε²} with V0 = 0.5, A = 2; exponential times censored at 3× the mean.
    rng = np.random.default_rng(5)
    eps_levels = [0.5, 0.6, 0.7, 0.8]
    times, cens, eps = [], [], []
    for e in eps_levels:
        mean = 2.0 * math.exp(0.5 / e**2)
        t = rng.exponential(mean, 4000)
        budget = 3.0 * mean
        times.append(np.minimum(t, budget))
        cens.append(t > budget)
        eps.append(np.full(t.size, e))
    fit = quasipot.fit_exit_times(np.concatenate(times), np.concatenate(cens), np.concatenate(eps))
    lo, hi = fit.arrhenius["slope_ci95"]
    assert lo <= 0.5 <= hi
    assert hi - lo < 0.1
    for lev, e in zip(fit.levels, eps_levels):
        m = lev["estimate"]["mean"]
        assert abs(math.log(m / (2.0 * math.exp(0.5 / e**2)))) < 5 * lev["estimate"]["ln_se"] + 1e-12


def test_fit_exit_times_bad_inputs():
    with pytest.raises(ValueError, match="lengths"):
        quasipot.fit_exit_times([1.0, 2.0], [False], [0.1, 0.1])
    with pytest.raises(ValueError, match="eps"):
        quasipot.fit_exit_times([1.0], [False], [-0.1])
    with pytest.raises(ValueError, match="times"):
        quasipot.fit_exit_times([np.nan], [False], [0.1])
    with pytest.raises(ValueError, match="common budget"):
        quasipot.fit_exit_times([1.0, 2.0, 3.0], [True, True, False], [0.1] * 3)


# --- Matrix-free Hessians ---------------------------------------------------------------------

def test_hvp_lanczos_matches_the_dense_answer_at_d_200():
    h, lam = random_spd(200, 11, spread=50.0)
    s = quasipot.spectrum(lambda v: h @ v, dim=200)
    vmax, rmax = s.lambda_max
    vmin, rmin = s.lambda_min
    assert vmax == pytest.approx(lam.max(), rel=1e-9)
    assert vmin == pytest.approx(lam.min(), rel=1e-8)
    assert rmax <= 1e-8 * lam.max()
    b = s.v0(depth=0.5)
    assert b.v0 == pytest.approx(quasipot.v0(h, depth=0.5).v0, rel=1e-9)
    assert b.error_bound <= 1e-8 * b.v0
    x = b.exit_point
    assert 0.5 * x @ h @ x == pytest.approx(0.5, rel=1e-8)     # on the level set
    q = s.paper_quantities(0.5)
    assert q.quantities["kappa"] == pytest.approx(lam.max() / lam.min(), rel=1e-7)
    ball = s.v0(radius=2.0)
    assert ball.v0 == pytest.approx(4.0 * math.sqrt(lam.min()), rel=1e-8)


def test_diagonal_plus_low_rank_at_large_d_against_the_closed_form():
    d, r = 200_000, 3
    rng = np.random.default_rng(2)
    diag = rng.uniform(0.01, 1.0, d)
    # Orthonormal U supported on disjoint coordinates where δ = 0.5: eigenvalues 0.5 + s_k.
    u = np.zeros((d, r))
    for k in range(r):
        idx = np.arange(k * 100, (k + 1) * 100)
        diag[idx] = 0.5
        u[idx, k] = 0.1
    s = np.array([20.0, 5.0, 2.0])
    sp = quasipot.spectrum(diagonal=diag, factor=u, weights=s, smallest=False)
    assert sp.lambda_max[0] == pytest.approx(20.5, rel=1e-9)
    assert sp.v0(depth=1.0).v0 == pytest.approx(2.0 / math.sqrt(20.5), rel=1e-9)


def test_given_eigenpairs_and_matrix_free_bad_inputs():
    s = quasipot.spectrum(eigenvalues=[9.0, 4.0, 1.0], dim=1000)
    assert s.v0(depth=0.5).v0 == pytest.approx(1.0 / 3.0)
    assert s.lambda_min is None
    with pytest.raises(ValueError, match="smallest"):
        s.v0(radius=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        quasipot.spectrum()
    with pytest.raises(ValueError, match="dim"):
        quasipot.spectrum(lambda v: v)
    with pytest.raises(ValueError, match="returned 2 numbers"):
        quasipot.spectrum(lambda v: v[:2], dim=5)
    with pytest.raises(ZeroDivisionError):
        quasipot.spectrum(lambda v: 1 / 0, dim=5)
    with pytest.raises(ValueError, match="positive definite"):
        quasipot.spectrum(hessian=np.diag([1.0, -2.0, 3.0])).v0(depth=1.0)
    with pytest.raises(ValueError, match="exactly one of depth"):
        s.v0()
    calls = []

    def progress(products, residual):
        calls.append(products)
        if products >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quasipot.spectrum(lambda v: np.arange(1.0, 101.0) * v, dim=100, progress=progress)
    assert calls[:3] == [1, 2, 3]


def test_results_have_to_dict():
    r = quasipot.v0(np.eye(2) * 4.0, depth=0.5)
    d = r.to_dict()
    assert d["result"]["method"] == "exact"
    json.dumps(d)
