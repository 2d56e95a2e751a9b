//! The Constant Contact sandbox from the command line: `plugboard sandbox constant-contact`
//! serves it until Ctrl-C, and `--sandbox` runs start one in-process and connect to it through
//! the real authorization-code flow.

use std::time::Duration;

use anyhow::{Context as _, bail};
use constant_contact_sandbox::{Sandbox, SandboxConfig};
use plugboard_runner::{ConnectOptions, Endpoints, Session};
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

/// Serves a sandbox on 127.0.0.1 until Ctrl-C.
pub fn serve(connector: &str, port: u16, options: &SandboxOptions) -> anyhow::Result<()> {
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
            |sandbox| {
                println!("Constant Contact sandbox listening on {}", sandbox.url());
                println!("  API base URL   {}", sandbox.api_base_url());
                println!("  authorize URL  {}", sandbox.authorize_url());
                println!("  token URL      {}", sandbox.token_url());
                println!("  client_id      {}", sandbox.client_id());
                println!("  stats          {}/__sandbox/stats", sandbox.url());
                println!("Press Ctrl-C to stop.");
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        ))
        .context("the sandbox stopped with an error")
}

/// A sandbox started for one run, with the partner settings of its registered app.
pub struct RunSandbox {
    sandbox: Sandbox,
}

impl RunSandbox {
    /// Starts a sandbox and stores its app's client id and secret as the connector's partner
    /// settings in the (sandbox) state store.
    pub fn start(session: &Session, options: &SandboxOptions) -> anyhow::Result<Self> {
        let sandbox =
            Sandbox::spawn(options.config(0)).context("cannot start the sandbox on 127.0.0.1")?;
        let mut partner = Map::new();
        partner.insert("client_id".into(), json!(sandbox.client_id()));
        partner.insert("client_secret".into(), json!(sandbox.client_secret()));
        partner.insert(
            "redirect_uri".into(),
            json!("http://127.0.0.1:0/plugboard/callback"),
        );
        session
            .store()
            .set_partner_settings(CONNECTOR, &partner)
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
