//! `plugboard serve`: the multi-tenant HTTP API (crate `plugboard-service`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use plugboard_service::auth::{generate_key, hash_key};
use plugboard_service::{Service, ServiceStore as _, SqliteServiceStore};

/// Where the admin key may come from; it is hashed and stored, never logged.
const ADMIN_KEY_VARIABLE: &str = "PLUGBOARD_ADMIN_KEY";

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
}

/// Runs the service until Ctrl-C. The service's own records go to `state.service.db` beside
/// the state file.
pub fn serve(args: &ServeArgs, state_file: &Path) -> anyhow::Result<()> {
    let public_url = args.public_url.trim_end_matches('/').to_owned();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        bail!("--public-url must start with http:// or https://");
    }
    let service_file = state_file.with_extension("service.db");
    let store = SqliteServiceStore::open(&service_file)
        .with_context(|| format!("cannot open the service store {}", service_file.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        set_admin_key(&store).await?;
        let service = Arc::new(Service {
            store: Arc::new(store),
            public_url,
        });
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr().context("no local address")?;
        println!("listening on http://{address}");
        std::io::stdout().flush().ok();
        axum::serve(listener, plugboard_service::router(service))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the service stopped")
    })
}

/// Takes the admin key from the environment, or generates one at first start and prints it once.
async fn set_admin_key(store: &SqliteServiceStore) -> anyhow::Result<()> {
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
