//! One OLIM solve, for profiling (`valgrind --tool=callgrind`, `perf record`) and for looking at
//! where the error is.
//!
//! `cargo run --release --example olim_one -- FIELD N [K|-] [INIT_RADIUS]`, FIELD = `d`
//! (rotational-double-well on [−2,0]×[−1,1]), `l` (rotational-linear on [−1,1]²), `m`
//! (manufactured-anisotropic, default box), or any problem name or TOML path. Prints the solve
//! time (wall clock, solver only; `THOROUGH=1` turns on the thorough triangle updates; `run=` is all of `olim::run`, with `NOCOMPARE=1` without the
//! comparison with the exact V), K, ErrMax, ERMS, V₀ and the update counts. With `REPS=r` the
//! solve is repeated and the least time printed. With `BINS=1` it also prints the signed error
//! U − V in ten bins of V/V₀, where the largest |U − V| is, and the relative error (U − V)/V in 24 angular sectors about θ*
//! (points with V ≥ 0.3·V₀): a discretisation error that builds up along the characteristics
//! shows as mean error growing in proportion to V.

use quasipot::olim::{run, Config, Report};
use quasipot::problem::{BuildOptions, Problem};

fn main() -> quasipot::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let field = args.get(1).map_or("l", String::as_str);
    let (name, bounds) = match field {
        "d" => ("rotational-double-well", Some(([-2.0, -1.0], [0.0, 1.0]))),
        "l" => ("rotational-linear", Some(([-1.0, -1.0], [1.0, 1.0]))),
        "m" => ("manufactured-anisotropic", None),
        other => (other, None),
    };
    let n: usize = args.get(2).map_or(1025, |s| s.parse().expect("N"));
    let p = Problem::load(name, &BuildOptions::default())?;
    let mut c = Config::new(n)?;
    c.estimate_error = false;
    if let Some((lo, hi)) = bounds {
        c = c.with_box(lo, hi)?;
    }
    if let Some(k) = args.get(3).filter(|s| *s != "-") {
        c = c.with_k(k.parse().expect("K"))?;
    }
    if let Some(r) = args.get(4) {
        c = c.with_init_radius(r.parse().expect("init radius"))?;
    }
    let reps: usize = std::env::var("REPS").map_or(1, |s| s.parse().expect("REPS"));
    if std::env::var_os("THOROUGH").is_some() {
        c.thorough = true;
    }
    if std::env::var_os("NOCOMPARE").is_some() {
        c.compare_with_reference = false;
    }
    let clock = std::time::Instant::now();
    let mut r = run(&p, &c)?;
    let mut total = clock.elapsed().as_secs_f64();
    let mut best = r.seconds;
    for _ in 1..reps {
        let clock = std::time::Instant::now();
        r = run(&p, &c)?;
        total = total.min(clock.elapsed().as_secs_f64());
        best = best.min(r.seconds);
    }
    let (emax, erms) = r
        .errors
        .as_ref()
        .map_or((f64::NAN, f64::NAN), |e| (e.error_max, e.error_rms));
    println!(
        "{field} N={n} K={} t={best:.3}s run={total:.3}s errmax={emax:.3e} erms={erms:.3e} v0={:?} acc={} one={} tri={} term={:?}",
        r.k, r.v0, r.accepted, r.one_point_updates, r.triangle_updates, r.termination
    );
    if std::env::var_os("BINS").is_some() {
        error_bins(&p, &r);
    }
    Ok(())
}

/// Signed error by V/V₀ and relative error by angle about θ* (module docs).
fn error_bins(p: &Problem, r: &Report) {
    let n = r.grid.n;
    let v0 = p.reference.v0.unwrap_or(1.0);
    let (nb, na) = (10usize, 24usize);
    let mut by_v = vec![(0usize, 0.0f64, f64::NEG_INFINITY, f64::INFINITY); nb];
    let mut by_angle = vec![(0usize, 0.0f64, f64::NEG_INFINITY); na];
    let mut worst = (0.0f64, [0.0; 2], 0.0, 0.0);
    for j in 0..n {
        for i in 0..n {
            let u = r.values[j * n + i];
            let x = [
                r.grid.lo[0] + i as f64 * r.grid.h[0],
                r.grid.lo[1] + j as f64 * r.grid.h[1],
            ];
            if !u.is_finite() || p.domain.level(&x) > 0.0 {
                continue;
            }
            let Some(v) = p.reference.quasi_potential_at(&x) else {
                continue;
            };
            if v > v0 {
                continue;
            }
            let e = u - v;
            if e.abs() > worst.0 {
                worst = (e.abs(), x, u, v);
            }
            let b = &mut by_v[((v / v0 * nb as f64) as usize).min(nb - 1)];
            *b = (b.0 + 1, b.1 + e, b.2.max(e), b.3.min(e));
            if v >= 0.3 * v0 {
                let t = (x[1] - p.minimum[1]).atan2(x[0] - p.minimum[0]);
                let k = (((t / std::f64::consts::TAU) + 0.5) * na as f64) as usize;
                let a = &mut by_angle[k.min(na - 1)];
                *a = (a.0 + 1, a.1 + e / v, a.2.max(e / v));
            }
        }
    }
    println!(
        "largest |U − V| = {:.3e} at ({:.5}, {:.5}): U = {:.9}, V = {:.9}",
        worst.0, worst.1[0], worst.1[1], worst.2, worst.3
    );
    for (k, (cnt, sum, max, min)) in by_v.iter().enumerate() {
        println!(
            "V/V0 in [{:.1}, {:.1}): n = {cnt:7}  mean U−V = {:+.3e}  max {max:+.3e}  min {min:+.3e}",
            k as f64 / nb as f64,
            (k + 1) as f64 / nb as f64,
            sum / (*cnt).max(1) as f64
        );
    }
    for (k, (cnt, sum, max)) in by_angle.iter().enumerate() {
        println!(
            "angle {:+6.1}°: n = {cnt:6}  mean (U−V)/V = {:+.3e}  max {max:+.3e}",
            -180.0 + 360.0 * (k as f64 + 0.5) / na as f64,
            sum / (*cnt).max(1) as f64
        );
    }
}
