//! The `plugboard` command.

mod builtins;
mod connections;
mod describe;
#[cfg(feature = "temporal")]
mod fires;
mod inputs;
mod progress;
mod resume;
mod run;
#[cfg(feature = "temporal")]
mod run_events;
mod sandbox;
mod schema_view;
mod serve;
mod signals;
mod state;
#[cfg(feature = "temporal")]
mod temporal;
#[cfg(feature = "temporal")]
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use plugboard_runner::{ExecutorConfig, LoadError, Registry, Session};

/// Build, load and run SaaS connectors.
#[derive(Parser)]
#[command(name = "plugboard", version, about)]
struct Cli {
    /// The state file (connections, tokens, limits, cursors, run journal). Default:
    /// PLUGBOARD_STATE, else `$XDG_STATE_HOME/plugboard/state.db`, else
    /// `~/.local/state/plugboard/state.db` (`sandbox.db` beside it for `--sandbox` runs). Or a
    /// shared PostgreSQL database, `postgres://…` (a binary built with `--features postgres`;
    /// secrets are encrypted with PLUGBOARD_SECRET_KEY).
    #[arg(long, global = true, value_name = "FILE|URL")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where connectors come from, shared by every command that needs them.
#[derive(clap::Args, Default)]
struct ConnectorSources {
    /// Also load every plugin (shared library) in this directory; repeatable. Directories in
    /// PLUGBOARD_PLUGIN_PATH are loaded too.
    #[arg(long = "plugins", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// Leave out the connectors built into this program.
    #[arg(long)]
    no_builtin: bool,
    /// Let a plugin replace the built-in connector of the same id (to try the plugin build of a
    /// connector that is also built in); without it such a plugin is refused.
    #[arg(long)]
    prefer_plugins: bool,
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
    /// Show a connector's manifest (auth, limits, settings and methods), or one method's inputs
    /// and outputs in full.
    Describe {
        /// The connector id, e.g. `constant-contact`.
        connector: String,
        /// A method id, e.g. `contacts.create`: show its input, output and record fields with
        /// their types, allowed values and limits.
        method: Option<String>,
        #[command(flatten)]
        sources: ConnectorSources,
        /// Print the manifest (or the method's descriptor) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a workflow file without running it: every problem, with its line and column.
    Validate {
        /// The workflow file (JSON).
        workflow: PathBuf,
        /// Constant Contact connections will be made against the sandbox: do not check installed
        /// ones (connections of other connectors are still checked).
        #[arg(long)]
        sandbox: bool,
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// Run a workflow file (or plan it with --dry-run, or resume a failed run).
    Run {
        #[command(flatten)]
        args: run::RunArgs,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// Install a connection: its settings, then (for OAuth2 connectors) the authorization in a browser.
    Connect {
        /// The connector id, e.g. `constant-contact`.
        connector: String,
        /// The connection's name, as workflows refer to it.
        #[arg(long)]
        name: String,
        /// A connection setting, `NAME=VALUE` (asked for on a terminal when missing). Repeatable.
        /// Keep secrets off the command line (ps and shell history see it): NAME=@FILE reads the
        /// value from a file, NAME=@- from standard input (one final newline dropped); NAME=@@…
        /// is a value starting with a literal `@`.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
        /// How long to wait for the browser to come back, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Use this API root instead of the manifest's (a regional host, a staging server, a
        /// sandbox); the connection keeps it.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Use this OAuth2 authorize URL instead of the manifest's.
        #[arg(long, value_name = "URL", requires = "base_url")]
        authorize_url: Option<String>,
        /// Use this OAuth2 token URL instead of the manifest's.
        #[arg(long, value_name = "URL", requires = "base_url")]
        token_url: Option<String>,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// List the installed connections (never their secrets).
    Connections {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// List the journaled runs, newest first (their ids are what `run --resume` takes).
    Runs {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Read the sandbox runs' state file instead of the default one.
        #[arg(long)]
        sandbox: bool,
    },
    /// Partner-level settings: set once for every connection of a connector (e.g. the client id).
    Partner {
        #[command(subcommand)]
        action: PartnerAction,
    },
    /// Serve the multi-tenant HTTP API (tenants, API keys) until Ctrl-C; see docs/service.md.
    Serve(serve::ServeArgs),
    /// Execute runs started with `run --temporal`: serve the Temporal cluster's `plugboard`
    /// task queue until stopped. Needs `--state postgres://…`; start as many as you like.
    #[cfg(feature = "temporal")]
    Worker {
        /// The Temporal front end, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        temporal: String,
        /// The task queue to serve (one per shared store when several share a cluster).
        #[arg(long, value_name = "NAME", default_value = plugboard_temporal::TASK_QUEUE)]
        task_queue: String,
        /// The most pieces of runs (steps, calls of loops) this worker executes at once; the
        /// cluster gives the others to other workers.
        #[arg(long, value_name = "N", default_value_t = plugboard_temporal::MAX_RUNS_PER_WORKER,
              value_parser = clap::value_parser!(u16).range(1..))]
        max_runs: u16,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// Serve a local emulator of a connector's API until Ctrl-C.
    Sandbox {
        /// The connector whose API to emulate (`constant-contact`).
        connector: String,
        /// The port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[command(flatten)]
        options: sandbox::SandboxOptions,
    },
}

#[derive(Subcommand)]
enum PartnerAction {
    /// Set partner-level settings, `NAME=VALUE`; a field left blank is asked of each connection.
    Set {
        /// The connector id.
        connector: String,
        /// The settings. Keep secrets off the command line (ps and shell history see it):
        /// NAME=@FILE reads the value from a file, NAME=@- from standard input (one final newline
        /// dropped); NAME=@@… is a value starting with a literal `@`.
        #[arg(value_name = "NAME=VALUE", required = true)]
        settings: Vec<String>,
        #[command(flatten)]
        sources: ConnectorSources,
    },
    /// Show a connector's partner-level settings (secrets only as "set").
    Show {
        /// The connector id.
        connector: String,
        #[command(flatten)]
        sources: ConnectorSources,
    },
}

fn main() -> ExitCode {
    quit_quietly_on_a_closed_pipe();
    // Colour codes only for a person at a terminal: a log file or a pipe gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    // Warnings by default: a wait of hours for a quota, a forged callback, a lease taken over
    // are things an unattended run's log must show; PLUGBOARD_LOG chooses otherwise.
    let filter = std::env::var("PLUGBOARD_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .map_or_else(
            || tracing_subscriber::EnvFilter::new("warn"),
            tracing_subscriber::EnvFilter::new,
        );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`plugboard runs --json | head -1`) makes
/// `println!` panic. Like other command-line tools, end quietly instead: the reader is gone. A
/// run ended this way is journaled as far as it got and can be resumed.
fn quit_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists; setting a signal's
    // disposition to its default touches no memory of this program.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let state = cli.state;
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
            method,
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
            match method {
                Some(id) => {
                    let descriptor = describe::find_method(found, &id).inspect_err(|_| {
                        report(&problems);
                    })?;
                    if json {
                        let descriptor = serde_json::to_string_pretty(descriptor)
                            .context("cannot encode the method")?;
                        println!("{descriptor}");
                    } else {
                        print!("{}", describe::method(found, descriptor));
                    }
                }
                None if json => {
                    let manifest = serde_json::to_string_pretty(found.manifest())
                        .context("cannot encode the manifest")?;
                    println!("{manifest}");
                }
                None => print!("{}", describe::manifest(found)),
            }
            Ok(report(&problems))
        }
        Command::Validate {
            workflow,
            sandbox,
            json,
            sources,
        } => with_session(&sources, state, sandbox, ExecutorConfig::default(), |s| {
            run::validate_command(&workflow, s, sandbox, json)
        }),
        Command::Run { args, sources } => {
            let config = ExecutorConfig {
                limits_enabled: !args.no_rate_limits,
                wait_for_quota: args.wait_for_quota,
                connector_stall_timeout: (args.connector_stall_timeout > 0)
                    .then(|| Duration::from_secs(args.connector_stall_timeout)),
                ..ExecutorConfig::default()
            };
            let state_file = state::path(state.as_deref(), args.sandbox)?;
            #[cfg(feature = "temporal")]
            if let Some(address) = args.temporal.clone() {
                return with_session(&sources, state, false, config, |session| {
                    temporal::run_command(&args, &address, session, &state_file)
                });
            }
            with_session(&sources, state, args.sandbox, config, |session| {
                let stop = signals::watch(session.handle(), session.cancellation().clone());
                run::run_command(&args, session, &state_file, &stop)
            })
        }
        #[cfg(feature = "temporal")]
        Command::Worker {
            temporal,
            task_queue,
            max_runs,
            sources,
        } => {
            let (registry, problems) = load(&sources);
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            let serving = plugboard_temporal::worker::Serving {
                address: temporal,
                task_queue,
                max_runs: usize::from(max_runs),
            };
            worker::command(&serving, state, registry)
        }
        Command::Connect {
            connector,
            name,
            settings,
            timeout,
            base_url,
            authorize_url,
            token_url,
            sources,
        } => with_session(&sources, state, false, ExecutorConfig::default(), |s| {
            let endpoints = base_url.map(|base_url| plugboard_runner::Endpoints {
                base_url,
                authorize_url,
                token_url,
            });
            connections::connect(
                s,
                &connector,
                &name,
                &settings,
                endpoints,
                Duration::from_secs(timeout),
            )
        }),
        Command::Connections { json, sources } => {
            with_session(&sources, state, false, ExecutorConfig::default(), |s| {
                connections::list(s, json)
            })
        }
        Command::Runs { json, sandbox } => with_session(
            &ConnectorSources::default(),
            state,
            sandbox,
            ExecutorConfig::default(),
            |s| connections::runs(s, json),
        ),
        Command::Partner { action } => match action {
            PartnerAction::Set {
                connector,
                settings,
                sources,
            } => with_session(&sources, state, false, ExecutorConfig::default(), |s| {
                connections::partner_set(s, &connector, &settings).map(|()| ExitCode::SUCCESS)
            }),
            PartnerAction::Show { connector, sources } => {
                with_session(&sources, state, false, ExecutorConfig::default(), |s| {
                    connections::partner_show(s, &connector).map(|()| ExitCode::SUCCESS)
                })
            }
        },
        Command::Serve(args) => {
            // A service told to use a database uses it, with or without `--sandbox` (a staging
            // service against the sandbox shares its database like production does); only the
            // file-based default moves to `sandbox.db`.
            let database = state
                .as_deref()
                .is_some_and(|state| state::postgres_url(state).is_some());
            let state_file = state::path(state.as_deref(), args.sandbox() && !database)?;
            serve::serve(&args, &state_file).map(|()| ExitCode::SUCCESS)
        }
        Command::Sandbox {
            connector,
            port,
            options,
        } => {
            // The state file the banner's commands use: one of the sandbox's own, so following
            // them never replaces a real app's settings or connections.
            let state_file = match state {
                Some(state) => state,
                None => state::path(None, true)?.with_file_name("sandbox-standalone.db"),
            };
            sandbox::serve(&connector, port, &options, &state_file).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Runs `f` with a session over the connectors, the state file and a fresh runtime. Connector
/// load problems are reported but do not stop the command: the connectors that loaded work.
fn with_session(
    sources: &ConnectorSources,
    state: Option<PathBuf>,
    sandbox: bool,
    config: ExecutorConfig,
    f: impl FnOnce(&Session) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let (registry, problems) = load(sources);
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    let state_file = state::path(state.as_deref(), sandbox)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (store, advice_file) = state::open_store(&state_file, runtime.handle())?;
    // Advice to reconnect names this file, so following it reaches this same state.
    let config = ExecutorConfig {
        state_file: advice_file,
        ..config
    };
    let session = Session::new(registry, store, config, runtime.handle().clone())
        .context("cannot start the HTTP executor")?;
    let code = f(&session)?;
    drop(session);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(if problems.is_empty() {
        code
    } else {
        ExitCode::FAILURE
    })
}

/// Builds the registry from built-ins and plugin directories, collecting every load problem.
fn load(sources: &ConnectorSources) -> (Registry, Vec<LoadError>) {
    let (mut registry, mut problems) = if sources.no_builtin {
        (Registry::new(), Vec::new())
    } else {
        Registry::with_builtins()
    };
    if sources.prefer_plugins {
        registry.prefer_plugins();
    }
    // An empty entry (`PLUGBOARD_PLUGIN_PATH=`, or `a::b`) names no directory, not the current one.
    let from_env = std::env::var_os("PLUGBOARD_PLUGIN_PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .filter(|dir| !dir.as_os_str().is_empty())
                .collect::<Vec<_>>()
        })
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
