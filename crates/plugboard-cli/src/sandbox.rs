//! The Constant Contact sandbox from the command line: `plugboard sandbox constant-contact`
//! serves it until Ctrl-C, and `--sandbox` runs start one in-process and connect to it through
//! the real authorization-code flow.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use constant_contact_sandbox::{AccountSnapshot, Sandbox, SandboxConfig};
use plugboard_runner::{ConnectOptions, Endpoints, RunId, Session};
use serde_json::{Map, Value, json};

/// The connector the sandbox emulates.
pub const CONNECTOR: &str = "constant-contact";

/// Options shared by the standalone sandbox and `--sandbox` runs.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxOptions {
    /// Seed of the sandbox's generated data (same seed, same contacts).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How many contacts the sandbox starts with.
    #[arg(long, default_value_t = 250)]
    pub contacts: usize,
    /// Switch off the sandbox's rate limits (4/s and 10,000/day per client_id by default).
    #[arg(long)]
    pub sandbox_unlimited: bool,
}

impl SandboxOptions {
    /// The sandbox configuration these options describe.
    pub fn config(&self, port: u16) -> SandboxConfig {
        let config = SandboxConfig {
            seed: self.seed,
            contacts: self.contacts,
            port,
            ..SandboxConfig::default()
        };
        if self.sandbox_unlimited {
            config.unlimited()
        } else {
            config
        }
    }
}

/// Serves a sandbox on 127.0.0.1 until Ctrl-C, printing what a client needs to connect to it:
/// its URLs, its app's client id and secret (the sandbox's own, not a secret of anybody's) and
/// the commands that connect plugboard to it, with a state file kept apart from real ones.
pub fn serve(
    connector: &str,
    port: u16,
    options: &SandboxOptions,
    state_file: &Path,
) -> anyhow::Result<()> {
    if connector != CONNECTOR {
        bail!("there is a sandbox only for `{CONNECTOR}`, not for `{connector}`");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(constant_contact_sandbox::serve_until(
            options.config(port),
            |sandbox| print!("{}", banner(sandbox, state_file)),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        ))
        .context("the sandbox stopped with an error")
}

/// What `plugboard sandbox` prints once it listens.
fn banner(sandbox: &Sandbox, state_file: &Path) -> String {
    let state = super::run::shell_quoted(&state_file.display().to_string());
    format!(
        "Constant Contact sandbox listening on {url}
  API base URL   {api}
  authorize URL  {authorize}
  token URL      {token}
  client_id      {client_id}
  client_secret  {client_secret}
  stats          {url}/__sandbox/stats

Connect plugboard to it (a state file of its own keeps real connections apart):
  plugboard --state {state} partner set {CONNECTOR} client_id={client_id} client_secret={client_secret} redirect_uri=http://127.0.0.1:8765/callback
  plugboard --state {state} connect {CONNECTOR} --name {CONNECTOR} --base-url {api} --authorize-url {authorize} --token-url {token}
then open the address it prints (the sandbox consents at once) and run a workflow:
  plugboard --state {state} run examples/quickstart.json
Press Ctrl-C to stop.
",
        url = sandbox.url(),
        api = sandbox.api_base_url(),
        authorize = sandbox.authorize_url(),
        token = sandbox.token_url(),
        client_id = sandbox.client_id(),
        client_secret = sandbox.client_secret(),
    )
}

/// A sandbox started for one run, with the partner settings of its registered app.
pub struct RunSandbox {
    sandbox: Sandbox,
}

impl RunSandbox {
    /// Starts a sandbox and stores its app's client id and secret as the connector's partner
    /// settings in the (sandbox) state store, where `connections` will be connected to it.
    ///
    /// Refuses, before changing anything, when the store holds a real app's partner settings or
    /// a real connection of those names: a rotated refresh token replaced by a sandbox one
    /// cannot be recovered, and the customer would have to authorise again.
    ///
    /// With `account`, the sandbox starts with that saved account instead of seeding one: a
    /// resumed run finds what its completed steps created.
    pub fn start(
        session: &Session,
        options: &SandboxOptions,
        connections: &[&str],
        account: Option<AccountSnapshot>,
    ) -> anyhow::Result<Self> {
        let mut config = options.config(0);
        config.account = account;
        refuse_to_replace_real_records(session, &config.client.client_id, connections)?;
        let sandbox = Sandbox::spawn(config).context("cannot start the sandbox on 127.0.0.1")?;
        let mut partner = Map::new();
        partner.insert("client_id".into(), json!(sandbox.client_id()));
        partner.insert("client_secret".into(), json!(sandbox.client_secret()));
        partner.insert(
            "redirect_uri".into(),
            json!("http://127.0.0.1:0/plugboard/callback"),
        );
        session
            .block_on(session.store().set_partner_settings(CONNECTOR, &partner))
            .context("cannot store the sandbox's partner settings")?;
        Ok(Self { sandbox })
    }

    /// The running sandbox.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// (Re)installs `connection` against this sandbox through the authorization-code flow, with
    /// this process acting as the user's browser.
    pub fn connect(&self, session: &Session, connection: &str) -> anyhow::Result<()> {
        let endpoints = Endpoints {
            base_url: self.sandbox.api_base_url(),
            authorize_url: Some(self.sandbox.authorize_url()),
            token_url: Some(self.sandbox.token_url()),
        };
        let options = ConnectOptions {
            connector_id: CONNECTOR.to_owned(),
            name: connection.to_owned(),
            settings: Map::new(),
            endpoints: Some(endpoints),
            timeout: Duration::from_secs(30),
        };
        let handle = session.handle().clone();
        session
            .connect(options, &mut |url| browse(&handle, url))
            .with_context(|| format!("cannot connect `{connection}` to the sandbox"))?;
        Ok(())
    }
}

/// Where the sandbox account of run `run` is kept between a failed `--sandbox` run and its
/// resume: beside the state file that journals the run, `<state file>.sandbox-runs/run-<id>.json`.
pub fn account_file(state: &Path, run: RunId) -> PathBuf {
    let mut folder = state.as_os_str().to_owned();
    folder.push(".sandbox-runs");
    PathBuf::from(folder).join(format!("run-{}.json", run.0))
}

/// Keeps the sandbox's account for a resume of `run`: written beside, then renamed over, so a
/// crash mid-write leaves the previous account, not half of one; private to the user like the
/// state file.
pub fn save_account(sandbox: &Sandbox, file: &Path) -> anyhow::Result<()> {
    let bytes = sandbox
        .account()
        .to_json()
        .context("cannot encode the sandbox's account")?;
    let folder = file.parent().unwrap_or(Path::new("."));
    crate::state::create_private_dir(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let partial = file.with_extension("json.partial");
    crate::state::write_private(&partial, &bytes)
        .and_then(|()| std::fs::rename(&partial, file))
        .with_context(|| format!("cannot save the sandbox's account to {}", file.display()))
}

/// The account saved for a resume, if there is one.
pub fn load_account(file: &Path) -> anyhow::Result<Option<AccountSnapshot>> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", file.display()));
        }
    };
    AccountSnapshot::from_json(&bytes)
        .map(Some)
        .with_context(|| format!("cannot restore the sandbox account in {}", file.display()))
}

/// Fails when `--sandbox` would overwrite what a real Constant Contact app or connection left in
/// the state file (only possible with an explicit `--state`: the default for sandbox runs is a
/// `sandbox.db` of their own). Records that serve only servers on this machine (earlier sandbox
/// runs, a sandbox started by hand) are replaced freely.
fn refuse_to_replace_real_records(
    session: &Session,
    sandbox_client_id: &str,
    connections: &[&str],
) -> anyhow::Result<()> {
    let store = session.store();
    let mut real = Vec::new();
    let partner = session
        .block_on(store.partner_settings(CONNECTOR))
        .context("cannot read the partner settings")?;
    if let Some(client_id) = partner.get("client_id").and_then(Value::as_str)
        && client_id != sandbox_client_id
    {
        let installed = session
            .block_on(store.connections())
            .context("cannot read the connections")?
            .into_iter()
            .filter(|record| record.connector_id == CONNECTOR)
            .map(|record| is_local(record.endpoints.as_ref()))
            .collect::<Vec<_>>();
        // An app none of whose connections reaches a real API is a local one.
        let only_local = !installed.is_empty() && installed.iter().all(|local| *local);
        if !only_local {
            real.push(format!(
                "the partner settings of the app with client_id `{client_id}`"
            ));
        }
    }
    for name in connections {
        let record = session
            .block_on(store.connection(name))
            .with_context(|| format!("cannot read the connection `{name}`"))?;
        if let Some(record) = record
            && !is_local(record.endpoints.as_ref())
        {
            let api = record
                .endpoints
                .map_or_else(|| "the real API".to_owned(), |e| e.base_url);
            real.push(format!("the connection `{name}` (to {api}) and its tokens"));
        }
    }
    if real.is_empty() {
        return Ok(());
    }
    bail!(
        "--sandbox would replace {} in this state file, and a replaced refresh token cannot be \
         recovered; leave out --state (sandbox runs keep their own sandbox.db) or give a state \
         file of their own",
        real.join(" and ")
    )
}

/// Whether a connection was made against a server on this machine (a sandbox), not a real API.
fn is_local(endpoints: Option<&Endpoints>) -> bool {
    let Some(endpoints) = endpoints else {
        return false;
    };
    let url = reqwest::Url::parse(&endpoints.base_url);
    let host = url.as_ref().ok().and_then(|url| url.host_str());
    host.is_some_and(|host| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

/// Plays the user's browser: opens the authorize URL and follows its redirect to the callback.
fn browse(handle: &tokio::runtime::Handle, url: &str) -> Result<(), String> {
    let url = url.to_owned();
    handle.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(&url).send().await.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the authorization page answered {}",
                response.status()
            ))
        }
    })
}

/// The sandbox's counters, for the end of a `--sandbox` run.
pub fn stats_line(sandbox: &Sandbox) -> Value {
    serde_json::to_value(sandbox.stats()).unwrap_or(Value::Null)
}
