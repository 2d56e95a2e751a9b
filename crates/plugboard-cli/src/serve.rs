//! `plugboard serve`: the multi-tenant HTTP API (crate `plugboard-service`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use constant_contact_sandbox::Sandbox;
use plugboard_runner::{Endpoints, ExecutorConfig, Session, SqliteStore, StateStore};
use plugboard_service::auth::{generate_key, hash_key};
use plugboard_service::runs::remote::RemoteRuns;
use plugboard_service::{
    ScheduleStore, Service, ServiceStore, SqliteScheduleStore, SqliteServiceStore,
    SqliteWorkflowStore, WorkflowStore,
};
use serde_json::{Map, json};

/// Where the admin key may come from; it is hashed and stored, never logged.
const ADMIN_KEY_VARIABLE: &str = "PLUGBOARD_ADMIN_KEY";

/// The hosted OAuth callback's path, under `--public-url`.
const CALLBACK_PATH: &str = "/connector/callback";

/// How long a stopping service waits for its runs to reach a point where they can stop.
const RUN_STOP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The shortest admin key accepted from the environment, so a guessable one is refused.
const MIN_ADMIN_KEY_CHARS: usize = 32;

/// `plugboard serve` arguments.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The address to listen on. Default: loopback only; put a TLS proxy in front for anything
    /// else.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// The URL users and providers reach this service at (e.g. `https://plugboard.example.com`);
    /// OAuth redirect URIs are built from it.
    #[arg(long, value_name = "URL")]
    public_url: String,
    /// Serve against an in-process Constant Contact sandbox: its app is registered as the
    /// connector's partner settings and every Constant Contact install goes to it. The state
    /// is the sandbox's own (`sandbox.db` beside the default state file unless `--state`).
    #[arg(long)]
    sandbox: bool,
    /// How long an install's OAuth `state` and a connect link stay valid: seconds, or a number
    /// with `s`, `m` or `h` (`90s`, `10m`).
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_expiry)]
    install_expiry: Duration,
    /// Start runs on the Temporal cluster at HOST:PORT, where `plugboard worker`s execute them,
    /// instead of in this process (needs a `postgres://` state the workers share).
    #[cfg(feature = "temporal")]
    #[arg(long, value_name = "HOST:PORT")]
    temporal: Option<String>,
    /// With --temporal: the task queue its workers poll.
    #[cfg(feature = "temporal")]
    #[arg(long, value_name = "NAME", requires = "temporal", default_value = plugboard_temporal::TASK_QUEUE)]
    task_queue: String,
    #[command(flatten)]
    sandbox_options: crate::sandbox::SandboxOptions,
    #[command(flatten)]
    sources: crate::ConnectorSources,
}

impl ServeArgs {
    /// Whether the service runs against the sandbox (which picks the state file).
    pub fn sandbox(&self) -> bool {
        self.sandbox
    }
}

/// Runs the service until Ctrl-C. The service's own records go to `state.service.db` beside
/// the state file (or beside the sandbox's state file with `--sandbox`).
pub fn serve(args: &ServeArgs, state_file: &Path) -> anyhow::Result<()> {
    let public_url = args.public_url.trim_end_matches('/').to_owned();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("--public-url must start with http:// or https://");
    }
    let (registry, problems) = crate::load(&args.sources);
    if let Some(problem) = problems.first() {
        bail!("{problem}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // The cluster first: an unreachable one is refused before any store is opened or written.
    let remote = remote_runs(args, state_file, runtime.handle())?;
    let stores = open_stores(state_file, runtime.handle())?;
    let config = ExecutorConfig {
        state_file: stores.advice_file.clone(),
        ..ExecutorConfig::default()
    };
    let runner = Session::new(registry, stores.runner, config, runtime.handle().clone())
        .context("cannot start the HTTP executor")?;
    // Kept alive for as long as the service runs; its account is kept across graceful restarts.
    let account_file = sandbox_account_file(state_file)?;
    let sandbox = if args.sandbox {
        if crate::state::postgres_url(state_file).is_some() {
            ensure_sandbox_only(&runner, &args.sandbox_options)?;
        }
        let saved = crate::sandbox::load_account(&account_file)?;
        let restored = saved.is_some();
        let sandbox = start_sandbox(&runner, &args.sandbox_options, &public_url, saved)?;
        let reconnected = reconnect_to_sandbox(&runner, &sandbox)?;
        if restored || reconnected > 0 {
            println!(
                "sandbox: {} account; {reconnected} connection(s) re-pointed at it with new \
                 sandbox tokens",
                if restored { "the saved" } else { "a new" }
            );
        }
        Some(sandbox)
    } else {
        None
    };
    let endpoints = sandbox
        .iter()
        .map(|sandbox| {
            (
                crate::sandbox::CONNECTOR.to_owned(),
                sandbox_endpoints(sandbox),
            )
        })
        .collect();
    let sandbox_to_save = sandbox
        .as_ref()
        .map(|sandbox| (sandbox, account_file.clone()));
    runtime.block_on(async move {
        set_admin_key(stores.service.as_ref()).await?;
        let service = Arc::new(Service {
            store: stores.service,
            public_url,
            runner,
            endpoints,
            workflows: stores.workflows,
            schedules: stores.schedules,
            live_runs: plugboard_service::runs::LiveRuns::default(),
            install_expiry: args.install_expiry,
            remote,
        });
        // Before serving: runs a killed predecessor left are resumed (or failed), never lost.
        let resumed = plugboard_service::runs::recover(&service)
            .await
            .context("cannot recover the runs a previous service left")?;
        if resumed > 0 {
            println!("resuming {resumed} run(s) left running by a previous service");
        }
        if service.remote.is_some() {
            // The cluster fires the schedules; it is given any it does not have yet.
            let synced = plugboard_service::schedules::sync_to_cluster(&service)
                .await
                .map_err(anyhow::Error::msg)?;
            if synced.on_cluster > 0 {
                println!("{} schedule(s) fire on the cluster", synced.on_cluster);
            }
            for refused in &synced.refused {
                eprintln!("warning: the cluster cannot keep {refused}; it is paused");
            }
        } else {
            // After recovery, so recovered runs count for the schedules' overlap check.
            plugboard_service::schedules::spawn_scheduler(&service);
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr().context("no local address")?;
        println!("listening on http://{address}");
        std::io::stdout().flush().ok();
        let stopping = Arc::clone(&service);
        axum::serve(listener, plugboard_service::router(service))
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                // Runs first: they stop at their next request or wait and are resumed at the
                // next start; then their event streams end and the connections can drain.
                let left = stopping.live_runs.stop_all(RUN_STOP_PATIENCE).await;
                if left > 0 {
                    eprintln!(
                        "{left} run(s) did not stop in time; they are resumed at the next start"
                    );
                }
            })
            .await
            .context("the service stopped")
    })?;
    // A run that did not stop in time is abandoned like a killed one (its journal says where).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Some((sandbox, file)) = sandbox_to_save {
        crate::sandbox::save_account(sandbox, &file)?;
        eprintln!("sandbox: account saved to {}", file.display());
    }
    Ok(())
}

/// Where runs execute: on the Temporal cluster `--temporal` names, or (`None`) here.
#[cfg(feature = "temporal")]
fn remote_runs(
    args: &ServeArgs,
    state: &Path,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Option<Arc<dyn RemoteRuns>>> {
    let Some(address) = &args.temporal else {
        return Ok(None);
    };
    if crate::state::postgres_url(state).is_none() {
        bail!(
            "--temporal needs the shared state: --state postgres://… (workers on other machines \
             cannot read the state file {})",
            state.display()
        );
    }
    let runs = crate::temporal::ServiceRuns::connect(address, &args.task_queue, state, runtime)?;
    Ok(Some(Arc::new(runs)))
}

#[cfg(not(feature = "temporal"))]
fn remote_runs(
    _args: &ServeArgs,
    _state: &Path,
    _runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Option<Arc<dyn RemoteRuns>>> {
    Ok(None)
}

/// The service's stores and the runner's: SQLite files, or all in one PostgreSQL database.
struct Stores {
    service: Arc<dyn ServiceStore>,
    workflows: Arc<dyn WorkflowStore>,
    schedules: Arc<dyn ScheduleStore>,
    runner: Arc<dyn StateStore>,
    /// The file advice names; none for a database, whose URL may hold a password.
    advice_file: Option<PathBuf>,
}

/// Opens the stores `state` names. On SQLite the service's records go to `state.service.db`
/// beside the runner's state file, so the runner's schema stays untouched.
fn open_stores(state: &Path, runtime: &tokio::runtime::Handle) -> anyhow::Result<Stores> {
    if let Some(url) = crate::state::postgres_url(state) {
        return open_postgres_stores(url, runtime);
    }
    let service_file = state.with_extension("service.db");
    let cannot_open = || format!("cannot open the service store {}", service_file.display());
    let service = SqliteServiceStore::open(&service_file).with_context(cannot_open)?;
    let workflows = SqliteWorkflowStore::open(&service_file).with_context(cannot_open)?;
    let schedules = SqliteScheduleStore::open(&service_file).with_context(cannot_open)?;
    let (runner, advice_file) = crate::state::open_store(state, runtime)?;
    Ok(Stores {
        service: Arc::new(service),
        workflows: Arc::new(workflows),
        schedules: Arc::new(schedules),
        runner,
        advice_file,
    })
}

/// Every store in the one PostgreSQL database (migrated at connect, secrets sealed with
/// `PLUGBOARD_SECRET_KEY`), so any number of service processes can share it.
#[cfg(feature = "postgres")]
fn open_postgres_stores(url: &str, runtime: &tokio::runtime::Handle) -> anyhow::Result<Stores> {
    let store = crate::state::connect_postgres(url, runtime)?;
    let service = Arc::new(plugboard_service::postgres::PgServiceStore::new(
        Arc::clone(&store),
    ));
    Ok(Stores {
        service: Arc::clone(&service) as Arc<dyn ServiceStore>,
        workflows: Arc::clone(&service) as Arc<dyn WorkflowStore>,
        schedules: service,
        runner: store,
        advice_file: None,
    })
}

#[cfg(not(feature = "postgres"))]
fn open_postgres_stores(_url: &str, _runtime: &tokio::runtime::Handle) -> anyhow::Result<Stores> {
    Err(crate::state::without_postgres())
}

/// Where `serve --sandbox` keeps the sandbox's account between a graceful stop and the next
/// start, private like the state: beside the state file, or, with a PostgreSQL state, in this
/// user's state directory (the sandbox is this machine's, not the vendor's). A killed service
/// saves nothing: the next start restores the account saved before, or seeds a new one.
fn sandbox_account_file(state: &Path) -> anyhow::Result<PathBuf> {
    if crate::state::postgres_url(state).is_some() {
        let dir = SqliteStore::user_state_dir()
            .context("cannot tell where the sandbox's account goes (no XDG_STATE_HOME or HOME)")?;
        return Ok(dir.join("service-sandbox-account.json"));
    }
    let mut name = state.as_os_str().to_owned();
    name.push(".sandbox-account.json");
    Ok(name.into())
}

/// `--sandbox` replaces the Constant Contact app and re-points every Constant Contact
/// connection at the sandbox. In a shared database that is only done when nothing there is
/// real: no app but the sandbox's, no connection that reaches beyond this machine. A production
/// database is refused, whoever else uses it.
fn ensure_sandbox_only(
    runner: &Session,
    options: &crate::sandbox::SandboxOptions,
) -> anyhow::Result<()> {
    let store = runner.store();
    let refuse = |what: String| {
        anyhow::anyhow!(
            "--sandbox would replace {what} in this PostgreSQL database; give the sandbox a \
             database of its own"
        )
    };
    let sandbox_client = options.config(0).client.client_id;
    let app = runner
        .block_on(store.partner_settings(crate::sandbox::CONNECTOR))
        .context("cannot read the Constant Contact app")?;
    if !app.is_empty()
        && app.get("client_id").and_then(serde_json::Value::as_str) != Some(&sandbox_client)
    {
        return Err(refuse("its Constant Contact app".to_owned()));
    }
    let connections = runner
        .block_on(store.connections())
        .context("cannot read the connections")?;
    let real = connections.iter().find(|c| {
        c.connector_id == crate::sandbox::CONNECTOR
            && !c
                .endpoints
                .as_ref()
                .is_some_and(|e| e.base_url.starts_with("http://127.0.0.1:"))
    });
    if let Some(real) = real {
        return Err(refuse(format!("the connection `{}`", real.name)));
    }
    Ok(())
}

/// Points every Constant Contact connection at `sandbox` and gives it tokens the sandbox
/// issued: a restarted sandbox listens on a new port and knows none of the grants its
/// predecessor issued (its account, restored, does not include them). Returns how many.
fn reconnect_to_sandbox(runner: &Session, sandbox: &Sandbox) -> anyhow::Result<usize> {
    let store = runner.store();
    let connections = runner
        .block_on(store.connections())
        .context("cannot read the connections")?;
    let mut reconnected = 0;
    for mut connection in connections
        .into_iter()
        .filter(|c| c.connector_id == crate::sandbox::CONNECTOR)
    {
        connection.endpoints = Some(sandbox_endpoints(sandbox));
        let grant = sandbox.mint_tokens();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let tokens = plugboard_runner::TokenSet {
            access_token: grant.access_token.into(),
            refresh_token: grant.refresh_token.map(Into::into),
            expires_at: i64::try_from(now + grant.expires_in).ok(),
            scope: Some(grant.scope),
        };
        runner
            .block_on(store.put_connection(&connection))
            .and_then(|()| runner.block_on(store.put_tokens(&connection.name, &tokens)))
            .with_context(|| format!("cannot reconnect `{}` to the sandbox", connection.name))?;
        reconnected += 1;
    }
    Ok(reconnected)
}

/// Starts the in-process sandbox and registers its app, with the hosted callback as a redirect
/// URI, as the connector's partner settings.
fn start_sandbox(
    runner: &Session,
    options: &crate::sandbox::SandboxOptions,
    public_url: &str,
    account: Option<constant_contact_sandbox::AccountSnapshot>,
) -> anyhow::Result<Sandbox> {
    let callback = format!("{public_url}{CALLBACK_PATH}");
    let mut config = options.config(0);
    config.redirect_uris.push(callback.clone());
    config.account = account;
    let sandbox = Sandbox::spawn(config).context("cannot start the sandbox on 127.0.0.1")?;
    let partner = Map::from_iter([
        ("client_id".to_owned(), json!(sandbox.client_id())),
        ("client_secret".to_owned(), json!(sandbox.client_secret())),
        ("redirect_uri".to_owned(), json!(callback)),
    ]);
    runner
        .block_on(
            runner
                .store()
                .set_partner_settings(crate::sandbox::CONNECTOR, &partner),
        )
        .context("cannot store the sandbox's partner settings")?;
    println!("sandbox: {}", sandbox.api_base_url());
    Ok(sandbox)
}

/// Where connections installed against `sandbox` send their requests.
fn sandbox_endpoints(sandbox: &Sandbox) -> Endpoints {
    Endpoints {
        base_url: sandbox.api_base_url(),
        authorize_url: Some(sandbox.authorize_url()),
        token_url: Some(sandbox.token_url()),
    }
}

/// Takes the admin key from the environment, or generates one at first start and prints it once.
async fn set_admin_key(store: &dyn ServiceStore) -> anyhow::Result<()> {
    if let Some(key) = std::env::var(ADMIN_KEY_VARIABLE)
        .ok()
        .filter(|key| !key.trim().is_empty())
    {
        if key.trim().chars().count() < MIN_ADMIN_KEY_CHARS {
            bail!("{ADMIN_KEY_VARIABLE} must be at least {MIN_ADMIN_KEY_CHARS} characters");
        }
        store.set_admin_key_hash(hash_key(key.trim())).await?;
    } else if !store.has_admin_key().await? {
        let key = generate_key().context("no randomness for the admin key")?;
        store.set_admin_key_hash(hash_key(&key)).await?;
        println!("admin key (shown once, store it now): {key}");
    }
    Ok(())
}

/// `--install-expiry`: `600`, `600s`, `10m` or `1h`; at least one second.
fn parse_expiry(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1),
        Some((at, 'm')) => (&text[..at], 60),
        Some((at, 'h')) => (&text[..at], 3600),
        _ => (text, 1),
    };
    let count: u64 = number
        .trim()
        .parse()
        .map_err(|_| "give seconds, or a number with s, m or h (e.g. 10m)".to_owned())?;
    if count == 0 {
        return Err("must be at least 1s".to_owned());
    }
    Ok(Duration::from_secs(count.saturating_mul(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_expiry_takes_seconds_minutes_and_hours() {
        assert_eq!(parse_expiry("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_expiry("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_expiry("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_expiry("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "0s", "m", "ten", "-1s", "1d"] {
            assert!(parse_expiry(bad).is_err(), "{bad:?}");
        }
    }
}
