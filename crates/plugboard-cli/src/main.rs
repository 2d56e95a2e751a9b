//! The `plugboard` command.

mod describe;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use plugboard_runner::{LoadError, Registry};

// Linking a connector crate is what registers it as a built-in.
use constant_contact as _;

/// Build, load and run SaaS connectors.
#[derive(Parser)]
#[command(name = "plugboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where connectors come from, shared by every command that needs them.
#[derive(clap::Args)]
struct ConnectorSources {
    /// Also load every plugin (shared library) in this directory; repeatable. Directories in
    /// PLUGBOARD_PLUGIN_PATH are loaded too.
    #[arg(long = "plugins", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// Leave out the connectors built into this program.
    #[arg(long)]
    no_builtin: bool,
}

#[derive(Subcommand)]
enum Command {
    /// List the available connectors and where each comes from.
    Connectors {
        #[command(flatten)]
        sources: ConnectorSources,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a connector's manifest: auth, limits, settings and methods.
    Describe {
        /// The connector id, e.g. `constant-contact`.
        connector: String,
        #[command(flatten)]
        sources: ConnectorSources,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("PLUGBOARD_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Connectors { sources, json } => {
            let (registry, problems) = load(&sources);
            if json {
                let listing: Vec<serde_json::Value> = registry
                    .iter()
                    .map(|c| {
                        let m = c.manifest();
                        serde_json::json!({
                            "id": m.id, "name": m.name, "version": m.version,
                            "source": c.source.to_string(), "methods": m.methods.len(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                print!("{}", describe::connector_table(&registry));
            }
            Ok(report(&problems))
        }
        Command::Describe {
            connector,
            sources,
            json,
        } => {
            let (registry, problems) = load(&sources);
            let Some(found) = registry.get(&connector) else {
                report(&problems);
                let known: Vec<&str> = registry.iter().map(|c| c.manifest().id.as_str()).collect();
                bail!(
                    "no connector `{connector}`; available: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            };
            if json {
                let manifest = serde_json::to_string_pretty(found.manifest())
                    .context("cannot encode the manifest")?;
                println!("{manifest}");
            } else {
                print!("{}", describe::manifest(found));
            }
            Ok(report(&problems))
        }
    }
}

/// Builds the registry from built-ins and plugin directories, collecting every load problem.
fn load(sources: &ConnectorSources) -> (Registry, Vec<LoadError>) {
    let (mut registry, mut problems) = if sources.no_builtin {
        (Registry::new(), Vec::new())
    } else {
        Registry::with_builtins()
    };
    let from_env = std::env::var_os("PLUGBOARD_PLUGIN_PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in sources.plugin_dirs.iter().chain(&from_env) {
        problems.extend(registry.load_plugin_dir(dir));
    }
    (registry, problems)
}

/// Prints load problems and turns them into the exit code: any problem is a failure.
fn report(problems: &[LoadError]) -> ExitCode {
    for problem in problems {
        eprintln!("error: {problem}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
