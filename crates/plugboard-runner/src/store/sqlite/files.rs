//! The state file itself: created private, checked to be one before it is opened, and the
//! space put aside beside it so a refresh never spends a refresh token it cannot store.

use std::path::{Path, PathBuf};

use super::SqliteStore;
use crate::store::StoreError;

pub(super) fn file_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::File {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with mode 0600 if missing, and tightens it to 0600 if it exists.
pub(super) fn create_private(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| file_error(path, e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| file_error(path, e))?;
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| file_error(path, e))?;
    }
    Ok(())
}

/// What SQLite writes at the start of every database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a path that exists and is not a state file, without changing it.
pub(super) fn check_is_state_file(path: &Path) -> Result<(), StoreError> {
    let refuse = |why| {
        Err(StoreError::NotAStateFile {
            path: path.to_owned(),
            why,
        })
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(file_error(path, error)),
    };
    if metadata.file_type().is_symlink() {
        return refuse("a symbolic link; give the path of the file itself");
    }
    if metadata.is_dir() {
        return refuse("a folder");
    }
    if !metadata.is_file() {
        return refuse("not a regular file");
    }
    if metadata.len() == 0 {
        // An empty file is a new database to SQLite (e.g. one made with `touch`).
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut header));
    match read {
        Ok(()) if &header == SQLITE_HEADER => Ok(()),
        Ok(()) => refuse("not an SQLite database"),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            refuse("not an SQLite database")
        }
        Err(error) => Err(file_error(path, error)),
    }
}

/// `path` for a `file:` URI: every byte but unreserved characters and `/` percent-encoded.
pub(super) fn uri_path(path: &Path) -> String {
    let mut encoded = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                encoded.push(char::from(*byte));
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// Whether an I/O error says the file system or file cannot be written.
pub(super) fn is_read_only(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::ReadOnlyFilesystem
        || error.kind() == std::io::ErrorKind::PermissionDenied
}

/// Tightens an existing companion file (`-wal`, `-shm`) to 0600.
pub(super) fn tighten_if_present(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| file_error(path, e))?;
        }
    }
    let _ = path;
    Ok(())
}

pub(super) fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl SqliteStore {
    /// The file of space put aside for a refresh's new tokens: `<state file>-reserve`.
    fn reserve_path(&self) -> PathBuf {
        companion(&self.path, "-reserve")
    }

    /// Makes sure the space for a refresh's new tokens is put aside: a file of
    /// [`RESERVE_BYTES`] beside the state file, written when missing. Fails with
    /// [`StoreError::DiskFull`] when the disk cannot hold it, before a refresh token is spent.
    pub(super) fn ensure_reserve(&self) -> Result<(), StoreError> {
        let path = self.reserve_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_BYTES as u64) {
            return Ok(());
        }
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut file| {
                std::io::Write::write_all(&mut file, &[0u8; RESERVE_BYTES])?;
                file.sync_all()
            });
        match written {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = std::fs::remove_file(&path);
                if is_disk_full(&error) {
                    Err(StoreError::DiskFull)
                } else {
                    Err(file_error(&path, error))
                }
            }
        }
    }

    /// Runs a write of the refresh protocol; when the disk is full, gives the reserve's space
    /// back and tries once more, so a refresh that has spent its refresh token can still store
    /// the new one. The reserve is written again before the next refresh.
    pub(super) fn with_reserve<T>(
        &self,
        write: impl Fn() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match write() {
            Err(StoreError::DiskFull) if std::fs::remove_file(self.reserve_path()).is_ok() => {
                tracing::warn!("the disk is full: the space put aside for new tokens is used");
                write()
            }
            other => other,
        }
    }
}

/// How much space a refresh puts aside for its new tokens (the WAL pages of a few small writes).
const RESERVE_BYTES: usize = 256 * 1024;

/// Whether opening failed the way it does on a full disk (no room for `-wal`/`-shm`): not a
/// damaged or foreign file, whose error must not cost the reserve.
pub(super) fn lacks_space_to_open(error: &StoreError) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, SystemIoFailure};
    match error {
        StoreError::DiskFull => true,
        StoreError::Database(error) => matches!(
            error.sqlite_error_code(),
            Some(CannotOpen | DiskFull | SystemIoFailure)
        ),
        _ => false,
    }
}

/// Whether an I/O error says the disk is full.
fn is_disk_full(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
}
