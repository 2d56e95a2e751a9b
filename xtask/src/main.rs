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
    /// Scaffold `connectors/<name>/` (connector, example method, tests, plugin), register it as a
    /// built-in of `plugboard` and `xtask`, and generate its schemas.
    NewConnector {
        /// The connector id in kebab-case, e.g. `acme-crm`.
        name: String,
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
    /// Run the tests (`cargo test --workspace` unless the arguments select packages) with the
    /// services they need (a throwaway PostgreSQL), which are always stopped afterwards. Every
    /// argument goes to `cargo test` as it is.
    Test {
        /// Arguments for `cargo test`, e.g. `-p plugboard-store-postgres -- migrations`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run plugboard on Temporal with its state in PostgreSQL across three worker processes,
    /// against the sandbox at its real limits: the shared rate limit, expiring tokens, killed
    /// workers, a PostgreSQL restart and wrong set-ups. Starts and stops every service it needs;
    /// prints one JSON line of figures last and fails when a check fails.
    ScaleCheck {
        /// Run only these checks (limit, tokens, kills, restarts, refusals).
        only: Vec<String>,
    },
    /// Measure the runner against the sandbox and print the figures as a markdown table
    /// (nothing is asserted). Always measured optimized: a debug xtask rebuilds itself in release.
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
    // `test` takes the rest of the line as it is, `--` included (clap would drop a leading one,
    // and with it the boundary between cargo's options and the test binaries').
    let args: Vec<String> = std::env::args().collect();
    let result = if args.get(1).is_some_and(|command| command == "test") {
        xtask::test_command::run(&xtask::workspace_root(), &args[2..]).map(ExitCode::from)
    } else {
        run(Cli::parse())
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let root = xtask::workspace_root();
    match cli.command {
        // Normally taken before clap parses (see `main`).
        Command::Test { args } => {
            return Ok(ExitCode::from(xtask::test_command::run(&root, &args)?));
        }
        Command::Schemas { check: true } => {
            xtask::schemas::check(&root)?;
            println!("schemas/ is up to date");
        }
        Command::Schemas { check: false } => {
            let report = xtask::schemas::write(&root)?;
            println!("{report}");
        }
        Command::ScaleCheck { only } => {
            return Ok(ExitCode::from(xtask::scale_check::run(&root, &only)?));
        }
        Command::Bench { benches, quick } => {
            use xtask::bench::{Bench, Scale};
            // The sandbox, the bare reqwest loop and the plugin loader run in this process.
            if cfg!(debug_assertions) {
                return xtask::bench::rerun_optimized(&root).map(|()| ExitCode::SUCCESS);
            }
            let benches = if benches.is_empty() {
                Bench::ALL.to_vec()
            } else {
                benches
            };
            let scale = if quick { Scale::QUICK } else { Scale::FULL };
            xtask::bench::run(&root, &benches, scale)?;
        }
        Command::NewConnector { name } => {
            let plan = xtask::new_connector::scaffold(&root, &name)?;
            for (path, _) in &plan.created {
                println!("created {}", relative(&root, path));
            }
            for (path, _) in &plan.edited {
                println!("edited  {}", relative(&root, path));
            }
            // This xtask does not link the new crate yet; a fresh one, built with it, does.
            xtask::new_connector::generate_schemas(&root)?;
            println!(
                "\nnext: `cargo test -p {name}`, `cargo run -p plugboard-cli -- describe {name}`, \
                 `cargo xtask plugins`; see {}/README.md",
                relative(&root, &plan.dir)
            );
        }
        Command::Plugins { out, release } => {
            let out = root.join(out);
            for path in xtask::plugins::build_all(&root, &out, release)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A path relative to the workspace root, for messages.
fn relative(root: &std::path::Path, path: &std::path::Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
