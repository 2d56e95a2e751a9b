//! Where the state store lives and how the CLI opens it.
//!
//! One SQLite file holds partner settings, connections and their tokens, rate-limit state, trigger
//! cursors and the run journal. Real connections and sandbox runs use different files, so a
//! sandbox run never touches a customer's tokens. `--state postgres://…` (or `PLUGBOARD_STATE`)
//! names a shared PostgreSQL database instead, in a binary built with the `postgres` feature.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use plugboard_runner::{SqliteStore, StateStore};

/// The state file: `--state`, else the runner's per-user default (`PLUGBOARD_STATE`, else
/// `$XDG_STATE_HOME/plugboard/state.db`, else `~/.local/state/plugboard/state.db`); sandbox runs
/// use `sandbox.db` beside it. A per-user file, not one in the working directory, keeps customer
/// tokens out of project folders and repositories.
pub fn path(explicit: Option<&Path>, sandbox: bool) -> anyhow::Result<PathBuf> {
    let explicit = explicit.map(Path::to_owned).or_else(|| {
        // A database URL in PLUGBOARD_STATE is used as it is: no `sandbox.db` beside it.
        SqliteStore::default_path().filter(|default| postgres_url(default).is_some())
    });
    if let Some(path) = explicit {
        if sandbox && postgres_url(&path).is_some() {
            anyhow::bail!(
                "a --sandbox run keeps its state in a file of its own, never in the PostgreSQL \
                 database; run it without --state postgres://… (and without such a \
                 PLUGBOARD_STATE), or with --state FILE"
            );
        }
        return Ok(path);
    }
    let default = SqliteStore::default_path().context(
        "cannot tell where the state file goes (no PLUGBOARD_STATE, XDG_STATE_HOME or HOME); \
         pass --state FILE",
    )?;
    Ok(if sandbox {
        default.with_file_name("sandbox.db")
    } else {
        default
    })
}

/// The PostgreSQL URL `state` is, if it is one (`postgres://…` or `postgresql://…`).
pub fn postgres_url(state: &Path) -> Option<&str> {
    state
        .to_str()
        .filter(|text| text.starts_with("postgres://") || text.starts_with("postgresql://"))
}

/// Opens the store `state` names, on `runtime` (a PostgreSQL store's connections live there),
/// and says which file advice should name: none for a database, whose URL may hold a password.
pub fn open_store(
    state: &Path,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<(Arc<dyn StateStore>, Option<PathBuf>)> {
    match postgres_url(state) {
        Some(url) => Ok((open_postgres(url, runtime)?, None)),
        None => Ok((open(state)?, Some(state.to_owned()))),
    }
}

/// Connects to the PostgreSQL store (migrating it, checking `PLUGBOARD_SECRET_KEY` against it).
/// Errors name the server as `host:port/database`, never the URL (it may hold a password).
#[cfg(feature = "postgres")]
pub fn connect_postgres(
    url: &str,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Arc<plugboard_store_postgres::PostgresStore>> {
    use plugboard_store_postgres::{PostgresStore, SecretKey};
    let key = SecretKey::from_env()?;
    let store = runtime.block_on(PostgresStore::connect(url, key))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "postgres")]
fn open_postgres(
    url: &str,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Arc<dyn StateStore>> {
    Ok(connect_postgres(url, runtime)?)
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(
    _url: &str,
    _runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Arc<dyn StateStore>> {
    Err(without_postgres())
}

/// Why a `postgres://` state cannot be used by a binary built without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
pub fn without_postgres() -> anyhow::Error {
    anyhow::anyhow!(
        "this plugboard was built without PostgreSQL support, so it cannot use a postgres:// \
         state; build one with it: cargo build --release -p plugboard-cli --features postgres"
    )
}

/// Opens (creating when needed) the state file; its directory is created private to the user.
pub fn open(path: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        create_private_dir(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    }
    let store = SqliteStore::open(path)
        .with_context(|| format!("cannot open the state file {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Writes `bytes` to a new or truncated file readable by this user alone.
pub fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    std::io::Write::write_all(&mut options.open(file)?, bytes)
}

/// Creates `dir` (and its parents) readable by this user alone.
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `dir` (and its parents).
#[cfg(not(unix))]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Whether writing `path` would write the state file or one of SQLite's files beside it
/// (`-wal`, `-shm`, `-journal`), whatever spelling, symbolic or hard links lead there. The engine
/// refuses `records_to` files with the same check, so it lives in the workflow crate.
pub fn is_state_file(path: &Path, state_file: &Path) -> bool {
    plugboard_workflow::output::is_state_file(path, state_file)
}
