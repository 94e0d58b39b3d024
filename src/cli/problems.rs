//! `quasipot problems`: the built-in problems, one line each.

use super::output::{table, Output};
use anyhow::Result;
use quasipot::problem::builtin;
use serde_json::json;

/// List the built-ins.
pub fn run(out: &Output) -> Result<i32> {
    let rows: Vec<Vec<String>> = builtin::names()
        .into_iter()
        .map(|n| vec![n.to_string(), builtin::describe(n)])
        .collect();
    let js = json!({
        "problems": rows.iter().map(|r| json!({"name": r[0], "description": r[1]})).collect::<Vec<_>>()
    });
    let mut human = table(&["name", "description"], &rows);
    human.push_str(
        "\nEach is also a TOML file in examples/problems/ (copy one to start your own).\n",
    );
    out.finish(&human, &js)?;
    Ok(0)
}
