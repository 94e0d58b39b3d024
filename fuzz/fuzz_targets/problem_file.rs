//! Any text as a problem file: parsing and building the problem (formulas, noise checks,
//! domain, the stationary-point check) must return a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasipot::problem::{BuildOptions, ProblemSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // File references (hessian_file, …) resolve against a directory with no files in it.
    let base = std::path::Path::new("/nonexistent-quasipot-fuzz");
    if let Ok(spec) = ProblemSpec::from_toml(text, "fuzz.toml") {
        let _ = spec.build(base, &BuildOptions::default());
    }
});
