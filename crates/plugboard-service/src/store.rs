//! The service's own records: tenants and the hashes of API keys.
//!
//! Behind the async [`ServiceStore`] trait so a PostgreSQL implementation can follow; the
//! SQLite one keeps its own file beside the runner's state file (`service.db`), so the runner's
//! schema and its migrations stay untouched and either file can be backed up alone.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

/// A boxed future, so the trait can be used as `dyn ServiceStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("service store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file could not be prepared.
    #[error("service store file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A blocking task ended abnormally.
    #[error("service store task: {0}")]
    Task(String),
    /// PostgreSQL refused, or a sealed value could not be opened (the message names the
    /// database as `host:port/database`, never its password or a secret).
    #[cfg(feature = "postgres")]
    #[error("service store: {0}")]
    Postgres(#[from] plugboard_store_postgres::PgStoreError),
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Chosen by the admin; appears in routes.
    pub id: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// Who an API key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    /// The admin key.
    Admin,
    /// A tenant's key.
    Tenant(String),
}

/// The service's state. Keys are only ever stored and looked up as SHA-256 hashes.
pub trait ServiceStore:
    crate::install_store::InstallStore + crate::page_sessions::PageStore + Send + Sync
{
    /// Stores the admin key's hash, replacing any previous one.
    fn set_admin_key_hash(&self, hash: [u8; 32]) -> StoreFuture<'_, ()>;
    /// Whether an admin key has been set.
    fn has_admin_key(&self) -> StoreFuture<'_, bool>;
    /// Whose key has this hash, if anyone's.
    fn key_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<KeyOwner>>;
    /// Creates a tenant with its first key; `false` if the id is taken.
    fn create_tenant(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool>;
    /// Adds a key to an existing tenant; `false` if there is no such tenant.
    fn add_tenant_key(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool>;
    /// All tenants, by id.
    fn tenants(&self) -> StoreFuture<'_, Vec<Tenant>>;
    /// One tenant.
    fn tenant(&self, id: String) -> StoreFuture<'_, Option<Tenant>>;
    /// Deletes a tenant and its keys; `false` if there was none.
    fn delete_tenant(&self, id: String) -> StoreFuture<'_, bool>;
}

/// [`ServiceStore`] in an SQLite file (mode 0600).
#[derive(Clone)]
pub struct SqliteServiceStore {
    connection: BlockingConnection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS admin_key (only INTEGER PRIMARY KEY CHECK (only = 1), hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_keys (
    hash BLOB PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE
);
";

impl SqliteServiceStore {
    /// Opens (creating if needed) the store at `path`, readable by its owner only.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let file_error = |source| StoreError::File {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_error)?;
        }
        // Create the file with mode 0600 before SQLite opens it, so it is never readable by others.
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).map_err(file_error)?;
        #[cfg(unix)]
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(file_error)?;
        let connection = Connection::open(path)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")?;
        connection.execute_batch(SCHEMA)?;
        connection.execute_batch(crate::install_store::SCHEMA)?;
        connection.execute_batch(crate::page_sessions::SCHEMA)?;
        Ok(Self {
            connection: BlockingConnection::new(connection),
        })
    }

    /// Runs `f` on the connection off the async threads.
    pub(crate) fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        self.connection.with(f)
    }
}

/// One SQLite connection used from async code: each call runs on a blocking thread, behind the
/// connection's mutex (rusqlite's `Connection` is not `Sync`).
#[derive(Clone)]
pub(crate) struct BlockingConnection(Arc<Mutex<Connection>>);

impl BlockingConnection {
    pub(crate) fn new(connection: Connection) -> Self {
        Self(Arc::new(Mutex::new(connection)))
    }

    /// Runs `f` on the connection off the async threads.
    pub(crate) fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let connection = Arc::clone(&self.0);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut connection = connection.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut connection).map_err(StoreError::from)
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
        })
    }
}

/// Now, in seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    now_ms() / 1000
}

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A 32-byte hash read back from a `BLOB`/`BYTEA` column (zeros if it is not 32 bytes long,
/// which the service never writes), for either backend.
pub(crate) fn hash_from(bytes: &[u8]) -> [u8; 32] {
    <[u8; 32]>::try_from(bytes).unwrap_or([0; 32])
}

fn is_constraint(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    )
}

impl ServiceStore for SqliteServiceStore {
    fn set_admin_key_hash(&self, hash: [u8; 32]) -> StoreFuture<'_, ()> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO admin_key (only, hash) VALUES (1, ?1)
                 ON CONFLICT (only) DO UPDATE SET hash = excluded.hash",
                params![hash.to_vec()],
            )
            .map(|_| ())
        })
    }

    fn has_admin_key(&self) -> StoreFuture<'_, bool> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM admin_key", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n > 0)
        })
    }

    fn key_owner(&self, hash: [u8; 32]) -> StoreFuture<'_, Option<KeyOwner>> {
        self.with(move |c| {
            let admin: Option<Vec<u8>> = c
                .query_row("SELECT hash FROM admin_key WHERE only = 1", [], |row| {
                    row.get(0)
                })
                .optional()?;
            if admin.is_some_and(|stored| crate::auth::same_hash(&stored, &hash)) {
                return Ok(Some(KeyOwner::Admin));
            }
            // Looked up by hash: timing reveals at most something about a hash, never the key.
            c.query_row(
                "SELECT tenant_id FROM tenant_keys WHERE hash = ?1",
                params![hash.to_vec()],
                |row| row.get(0),
            )
            .optional()
            .map(|tenant| tenant.map(KeyOwner::Tenant))
        })
    }

    fn create_tenant(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            let tx = c.transaction()?;
            match tx.execute(
                "INSERT INTO tenants (id, created_at) VALUES (?1, ?2)",
                params![id, now()],
            ) {
                Ok(_) => {}
                Err(error) if is_constraint(&error) => return Ok(false),
                Err(error) => return Err(error),
            }
            tx.execute(
                "INSERT INTO tenant_keys (hash, tenant_id) VALUES (?1, ?2)",
                params![key_hash.to_vec(), id],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn add_tenant_key(&self, id: String, key_hash: [u8; 32]) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            match c.execute(
                "INSERT INTO tenant_keys (hash, tenant_id) SELECT ?1, id FROM tenants WHERE id = ?2",
                params![key_hash.to_vec(), id],
            ) {
                Ok(n) => Ok(n == 1),
                Err(error) => Err(error),
            }
        })
    }

    fn tenants(&self) -> StoreFuture<'_, Vec<Tenant>> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT id, created_at FROM tenants ORDER BY id")?;
            let rows = statement.query_map([], |row| {
                Ok(Tenant {
                    id: row.get(0)?,
                    created_at: row.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    fn tenant(&self, id: String) -> StoreFuture<'_, Option<Tenant>> {
        self.with(move |c| {
            c.query_row(
                "SELECT id, created_at FROM tenants WHERE id = ?1",
                params![id],
                |row| {
                    Ok(Tenant {
                        id: row.get(0)?,
                        created_at: row.get(1)?,
                    })
                },
            )
            .optional()
        })
    }

    fn delete_tenant(&self, id: String) -> StoreFuture<'_, bool> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM tenant_keys WHERE tenant_id = ?1", params![id])?;
            let deleted = tx.execute("DELETE FROM tenants WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(deleted == 1)
        })
    }
}
