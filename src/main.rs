//! `quasipot` command-line entry: parse, run, map errors to exit codes
//! (0 success, 1 a computed "no" such as engines disagreeing under `--strict`, 2 bad input,
//! 3 a run stopped by Ctrl-C whose partial results were written, see `cli::EXIT_INTERRUPTED`).

use clap::Parser;

mod cli;

fn main() {
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(cli::exit_code(&e));
        }
    }
}
