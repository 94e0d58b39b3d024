//! `quasipot` command-line entry: parse, run, map errors to exit codes
//! (0 success, 1 a computed "no" such as engines disagreeing under `--strict`, 2 bad input,
//! 3 a run stopped by Ctrl-C whose partial results were written, see `cli::EXIT_INTERRUPTED`).

use clap::FromArgMatches;

mod cli;

fn main() {
    let matches = cli::command().get_matches();
    // Refused before the typed parse: a hidden stand-in's value would not fit the global's type.
    let result = cli::refuse_ignored_globals(&matches)
        .and_then(|()| cli::run(cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())));
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Error: {}", cli::error_chain(&e));
            std::process::exit(cli::exit_code(&e));
        }
    }
}
