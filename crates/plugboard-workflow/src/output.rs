//! Creating the files a run writes (a step's `records_to`, the CLI's `--output`) safely for runs
//! nobody watches: never the state file or SQLite's files beside it (they hold every connection's
//! rotating refresh tokens, which cannot be had again), never through a final symbolic link,
//! private to the user when new, and an existing file emptied only when the caller allows it.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::excerpt::excerpt;

/// What [`create`] does with a file already at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Empties and writes it; a regular file is made private to the user first.
    Replace,
    /// Leaves it alone, and fails.
    Refuse,
}

/// Why [`create`] wrote nothing. Paths are quoted by an excerpt: they may come from API data.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The path leads to the state file or one of its companions.
    #[error(
        "`{path}` is the state file (or one of SQLite's files beside it), which holds every \
         connection and token; name another file"
    )]
    StateFile {
        /// The path as given.
        path: String,
    },
    /// The path is a symbolic link.
    #[error("`{path}` is a symbolic link; no file is written through one: name the file itself")]
    Symlink {
        /// The path as given.
        path: String,
    },
    /// A file exists at the path and [`Existing::Refuse`] keeps it.
    #[error("`{path}` already exists, and is kept")]
    Exists {
        /// The path as given.
        path: String,
    },
    /// The file at the path was replaced while it was being opened.
    #[error("`{path}` changed while it was being opened; nothing was written")]
    Changed {
        /// The path as given.
        path: String,
    },
    /// The file could not be created or opened.
    #[error("cannot create `{path}`: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Creates `path` for writing: a new file readable by this user alone, or an existing one
/// emptied when `existing` allows it. Refuses the state file (`state_file`, when given) and its
/// companions however they are reached, and a symbolic link as the last part of the path, even a
/// dangling one (which would create its target).
pub fn create(
    path: &Path,
    existing: Existing,
    state_file: Option<&Path>,
) -> Result<File, OutputError> {
    let shown = || excerpt(&path.to_string_lossy()).into_owned();
    let io_error = |source| OutputError::Io {
        path: shown(),
        source,
    };
    if state_file.is_some_and(|state| is_state_file(path, state)) {
        return Err(OutputError::StateFile { path: shown() });
    }
    // `create_new` never follows a final symbolic link: it fails on any existing name.
    let mut new = OpenOptions::new();
    new.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        new.mode(0o600);
    }
    match new.open(path) {
        Ok(file) => return Ok(file),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io_error(error)),
    }
    let before = std::fs::symlink_metadata(path).map_err(io_error)?;
    if before.file_type().is_symlink() {
        return Err(OutputError::Symlink { path: shown() });
    }
    if existing == Existing::Refuse {
        return Err(OutputError::Exists { path: shown() });
    }
    // Opened without truncating, then checked to be the file the name holds now (no link was
    // swapped in meanwhile), and only then emptied.
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error)?;
    let opened = file.metadata().map_err(io_error)?;
    let now = std::fs::symlink_metadata(path).map_err(io_error)?;
    if now.file_type().is_symlink() || !same_file(&opened, &now) {
        return Err(OutputError::Changed { path: shown() });
    }
    if state_file.is_some_and(|state| companions(state).iter().any(|c| is(c, &opened))) {
        return Err(OutputError::StateFile { path: shown() });
    }
    if opened.is_file() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io_error)?;
        }
        file.set_len(0).map_err(io_error)?;
    }
    Ok(file)
}

/// Whether writing `path` would write the state file or one of SQLite's files beside it (`-wal`,
/// `-shm`, `-journal`), whatever spelling, symbolic links or hard links lead there; for one that
/// does not exist yet, the name is compared in its resolved folder.
pub fn is_state_file(path: &Path, state_file: &Path) -> bool {
    let state_companions = companions(state_file);
    if let Ok(target) = std::fs::metadata(path)
        && state_companions.iter().any(|c| is(c, &target))
    {
        return true;
    }
    let (Some(target), Some(state)) = (resolved(path), resolved(state_file)) else {
        return false;
    };
    companions(&state).contains(&target)
}

/// The state file and the files SQLite keeps beside it.
fn companions(state_file: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = state_file.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// Whether the existing file `path` is the file `metadata` describes.
fn is(path: &Path, metadata: &Metadata) -> bool {
    std::fs::metadata(path).is_ok_and(|m| same_file(&m, metadata))
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Without inode numbers, only names are compared (see [`is_state_file`]).
#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    false
}

/// Where a write to `path` lands: the file with its links resolved, or for a file that does not
/// exist yet, its resolved folder joined with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(existing) = std::fs::canonicalize(path) {
        return Some(existing);
    }
    let name = path.file_name()?;
    let folder = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(folder).ok()?.join(name))
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_new_file_is_private_and_an_existing_one_is_replaced_only_when_allowed() {
        let dir = tempfile::tempdir().expect("a folder");
        let file = dir.path().join("out.jsonl");
        create(&file, Existing::Refuse, None)
            .expect("created")
            .write_all(b"one\n")
            .expect("written");
        assert_eq!(mode(&file), 0o600);

        let refused = create(&file, Existing::Refuse, None).expect_err("exists");
        assert!(matches!(refused, OutputError::Exists { .. }), "{refused}");
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), "one\n");

        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        create(&file, Existing::Replace, None)
            .expect("replaced")
            .write_all(b"two\n")
            .expect("written");
        assert_eq!(std::fs::read_to_string(&file).expect("replaced"), "two\n");
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn no_final_symbolic_link_is_followed() {
        let dir = tempfile::tempdir().expect("a folder");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("written");
        let link = dir.path().join("link");
        symlink(&victim, &link).expect("a link");
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("target"), &dangling).expect("a link");

        for path in [&link, &dangling] {
            let error = create(path, Existing::Replace, None).expect_err("a link");
            assert!(matches!(error, OutputError::Symlink { .. }), "{error}");
        }
        assert_eq!(std::fs::read_to_string(&victim).expect("kept"), "precious");
        assert!(!dir.path().join("target").exists());
    }

    #[test]
    fn the_state_file_is_refused_however_it_is_reached() {
        let dir = tempfile::tempdir().expect("a folder");
        let state = dir.path().join("state.db");
        std::fs::write(&state, "tokens").expect("written");
        std::fs::create_dir(dir.path().join("sub")).expect("a folder");
        symlink(dir.path(), dir.path().join("alias")).expect("a link");
        std::fs::hard_link(&state, dir.path().join("hard")).expect("a hard link");
        symlink(&state, dir.path().join("link")).expect("a link");
        for path in [
            state.clone(),
            dir.path().join("sub/../state.db"),
            dir.path().join("./alias/state.db"),
            dir.path().join("hard"),
            dir.path().join("link"),
            dir.path().join("state.db-wal"),
            dir.path().join("alias/state.db-journal"),
            dir.path().join("state.db-shm"),
        ] {
            assert!(is_state_file(&path, &state), "{}", path.display());
            let error = create(&path, Existing::Replace, Some(&state)).expect_err("refused");
            assert!(matches!(error, OutputError::StateFile { .. }), "{error}");
        }
        assert_eq!(std::fs::read_to_string(&state).expect("kept"), "tokens");
        assert!(!dir.path().join("state.db-wal").exists());
        assert!(!is_state_file(&dir.path().join("state.db-other"), &state));
        // Another state file's name is just a name.
        let other = tempfile::tempdir().expect("a folder");
        assert!(!is_state_file(&other.path().join("state.db"), &state));
    }
}
