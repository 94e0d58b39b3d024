use quasipot::olim::{run, Config, StopRule};
use quasipot::problem::{BuildOptions, Problem};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let p = Problem::load(&a[1], &BuildOptions::default()).unwrap();
    let n: usize = a[2].parse().unwrap();
    let mut cfg = Config::new(n).unwrap().with_stop(if a.get(3).map(|s| s == "x").unwrap_or(false) { StopRule::Exhaust } else { StopRule::Boundary });
    cfg.estimate_error = false;
    if let Some(k) = a.get(4) { cfg = cfg.with_k(k.parse().unwrap()).unwrap(); }
    if let Some(r) = a.get(5) { cfg = cfg.with_init_radius(r.parse().unwrap()).unwrap(); }
    if a[1] == "rotational-linear" { cfg = cfg.with_box([-1.0,-1.0],[1.0,1.0]).unwrap(); }
    if a[1] == "rotational-double-well" { cfg = cfg.with_box([-2.0,-1.0],[0.0,1.0]).unwrap(); }
    eprintln!("drift kind {}", p.drift.kind());
    let mut c2 = cfg.clone(); c2.compare_with_reference = false;
    let t0 = cpu(); let _ = run(&p, &c2).unwrap(); let t1 = cpu();
    eprintln!("cpu seconds {:.3}", t1 - t0);
    let r = run(&p, &cfg).unwrap();
    let mut v = r.clone(); v.values.clear();
    println!("{}", serde_json::to_string(&v).unwrap());
    let x = r.axis(0); let y = r.axis(1);
    let mut worst = (0.0, 0, 0);
    for j in 0..n { for i in 0..n { let u = r.values[j*n+i]; if !u.is_finite() {continue;}
        let e = (u - p.reference.quasi_potential_at(&[x[i], y[j]]).unwrap()).abs(); if e > worst.0 { worst = (e, i, j); } } }
    println!("worst {:?} at ({}, {}) U={}", worst, x[worst.1], y[worst.2], r.values[worst.2*n+worst.1]);
}
#[allow(dead_code)]
fn kind() {}

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
