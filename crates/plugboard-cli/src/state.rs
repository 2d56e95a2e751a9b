//! Where the state store lives and how the CLI opens it.
//!
//! One SQLite file holds partner settings, connections and their tokens, rate-limit state, trigger
//! cursors and the run journal. Real connections and sandbox runs use different files, so a
//! sandbox run never touches a customer's tokens.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use plugboard_runner::SqliteStore;

/// The environment variable naming the state file.
pub const STATE_ENV: &str = "PLUGBOARD_STATE";

/// The state file: `--state`, else `PLUGBOARD_STATE`, else `.plugboard/state.db` (or
/// `.plugboard/sandbox.db` for `--sandbox` runs) under the current directory.
pub fn path(explicit: Option<&Path>, sandbox: bool) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    if !sandbox && let Some(path) = std::env::var_os(STATE_ENV) {
        return PathBuf::from(path);
    }
    let file = if sandbox { "sandbox.db" } else { "state.db" };
    Path::new(".plugboard").join(file)
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

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}
