//! One 3-D OLIM solve: `cargo run --release --example olim3d_one -- PROBLEM N [K]`, printing
//! V₀, the errors against the exact V, time, updates and bytes per point.

use quasipot::olim3d::{run, Config};
use quasipot::problem::{BuildOptions, Problem};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .get(1)
        .map_or("benches/support/manufactured-anisotropic-3d.toml", |s| s);
    let n: usize = args.get(2).map_or(65, |s| s.parse().expect("N"));
    let p = Problem::load(name, &BuildOptions::default()).expect("problem");
    let mut c = Config::new(n).expect("N");
    if let Some(k) = args.get(3) {
        c = c.with_k(k.parse().expect("K")).expect("K");
    }
    c.estimate_error = std::env::var("ESTIMATE").is_ok();
    if std::env::var("LINEAR").is_ok() {
        c.interpolation = quasipot::olim::Interpolation::Linear;
    }
    let r = run(&p, &c).expect("solve");
    let e = r.errors.as_ref();
    println!(
        "{} N={} K={} V0={:?} (ref {:?}) est={:?} exit={:?} ErrMax={:.3e} ERMS={:.3e} ErrMax/maxV={:.3e} pts={} time={:.2}s accepted={} one={} tri={} tet={} bytes/pt={:.1} {:?}",
        r.problem,
        n,
        r.k,
        r.v0,
        r.v0_reference,
        r.v0_error_estimate,
        r.exit_point,
        e.map_or(f64::NAN, |e| e.error_max),
        e.map_or(f64::NAN, |e| e.error_rms),
        e.map_or(f64::NAN, |e| e.error_max_normalised),
        e.map_or(0, |e| e.points),
        r.seconds,
        r.accepted,
        r.one_point_updates,
        r.triangle_updates,
        r.tetrahedron_updates,
        r.bytes_per_point,
        r.termination,
    );
}
