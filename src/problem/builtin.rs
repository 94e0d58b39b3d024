//! Built-in problems. Each is the TOML file of the same name under `examples/problems/`,
//! compiled into the binary, so users see exactly the format they would write.

/// (name, TOML text) of every built-in problem.
const BUILTINS: &[(&str, &str)] = &[
    (
        "quadratic-2d",
        include_str!("../../examples/problems/quadratic-2d.toml"),
    ),
    (
        "quadratic-anisotropic-3d",
        include_str!("../../examples/problems/quadratic-anisotropic-3d.toml"),
    ),
    (
        "maier-stein",
        include_str!("../../examples/problems/maier-stein.toml"),
    ),
    (
        "rotational-double-well",
        include_str!("../../examples/problems/rotational-double-well.toml"),
    ),
    (
        "rotational-linear",
        include_str!("../../examples/problems/rotational-linear.toml"),
    ),
    (
        "double-well-1d",
        include_str!("../../examples/problems/double-well-1d.toml"),
    ),
    (
        "manufactured-anisotropic",
        include_str!("../../examples/problems/manufactured-anisotropic.toml"),
    ),
];

/// Names of the built-in problems.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// The TOML text of a built-in problem.
pub fn toml_text(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The one-line description of a built-in problem (its `description` key).
pub fn describe(name: &str) -> String {
    toml_text(name)
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("description = "))
                .map(|s| s.trim().trim_matches('"').to_string())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{BuildOptions, Problem};

    #[test]
    fn every_builtin_loads_and_validates() {
        for name in names() {
            let p = Problem::load(name, &BuildOptions::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
            assert!(!describe(name).is_empty());
        }
    }
}
