//! Any text as a formula over x, y and a parameter a: parsing, evaluating and differentiating
//! must return a value or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quasipot::problem::formula::Formula;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let symbols = ["x".to_string(), "y".to_string(), "a".to_string()];
    if let Ok(f) = Formula::parse(text, &symbols, "fuzz") {
        let _ = f.eval(&[0.3, -1.2, 2.0]);
        for k in 0..symbols.len() {
            if let Ok(g) = f.partial(k, "fuzz") {
                let _ = g.eval(&[0.3, -1.2, 2.0]);
            }
        }
    }
});
