//! `cargo xtask`: project automation.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "plugboard project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the generated JSON Schemas under `schemas/`.
    Schemas {
        /// Fail with a diff instead of writing when the committed schemas are stale.
        #[arg(long)]
        check: bool,
    },
    /// Build every connector as a plugin and copy the libraries into one directory.
    Plugins {
        /// Where to put the libraries.
        #[arg(long, default_value = "target/plugins")]
        out: PathBuf,
        /// Build with optimizations.
        #[arg(long)]
        release: bool,
    },
    /// Measure the runner against the sandbox and print the figures (nothing is asserted).
    Bench {
        /// Which benchmarks (default: all).
        #[arg(value_enum)]
        benches: Vec<xtask::bench::Bench>,
        /// Short runs that only check the benchmarks work.
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = xtask::workspace_root();
    match cli.command {
        Command::Schemas { check: true } => {
            xtask::schemas::check(&root)?;
            println!("schemas/ is up to date");
        }
        Command::Schemas { check: false } => {
            let report = xtask::schemas::write(&root)?;
            println!("{report}");
        }
        Command::Bench { benches, quick } => {
            use xtask::bench::{Bench, Scale};
            let benches = if benches.is_empty() {
                vec![
                    Bench::Overhead,
                    Bench::Streaming,
                    Bench::Limiter,
                    Bench::SharedLimiter,
                ]
            } else {
                benches
            };
            let scale = if quick { Scale::QUICK } else { Scale::FULL };
            xtask::bench::run(&root, &benches, scale)?;
        }
        Command::Plugins { out, release } => {
            let out = root.join(out);
            for path in xtask::plugins::build_all(&root, &out, release)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}
