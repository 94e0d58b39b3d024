//! Solve for V on a grid and write V.npy, x.npy, y.npy and field.png/.svg.
//!
//! `cargo run --release --example olim_field -- PROBLEM [N] [OUT_DIR]` (defaults: 513, `olim-out`).

use quasipot::olim::{run, write_files, Config};
use quasipot::problem::{BuildOptions, Problem};
use std::path::PathBuf;

fn main() -> quasipot::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("maier-stein");
    let n = args.get(2).map(|s| s.parse().expect("N")).unwrap_or(513);
    let out = PathBuf::from(args.get(3).map(String::as_str).unwrap_or("olim-out"));
    let problem = Problem::load(name, &BuildOptions::default())?;
    let report = run(&problem, &Config::new(n)?)?;
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    for f in write_files(&report, &problem, None, &out)? {
        println!("wrote {}", f.display());
    }
    Ok(())
}
