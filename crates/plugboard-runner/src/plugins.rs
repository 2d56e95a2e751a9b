//! Loading connector plugins from shared-library files.
//!
//! A library is opened once and never closed (invariant 4): code from it may be referenced by the
//! connector's vtable for the life of the process, and unloading Rust code is unsound in general.
//!
//! A plugin runs in-process, with access to everything the host holds (the state file, tokens), so
//! before opening a file the loader checks, as OpenSSH's `StrictModes` does for `authorized_keys`,
//! that nobody but its owner or root could have changed it: see [`check_permissions`].

use std::path::{Path, PathBuf};

use plugboard_core::plugin::abi::{DECLARATION_SYMBOL, PluginDeclaration};
use plugboard_core::plugin::{PluginConnector, PluginError};

/// Why a plugin file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened as a shared library.
    #[error("{}: not a loadable shared library: {reason}", path.display())]
    NotALibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// The library has no plugboard declaration.
    #[error("{}: not a plugboard plugin: it exports no `PLUGBOARD_PLUGIN_V1` symbol (is it a connector's `plugin` package, built with `export_connector!`?)", path.display())]
    MissingSymbol {
        /// The file.
        path: PathBuf,
    },
    /// The declaration was found but refused.
    #[error("{}: refused: {source}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: PluginError,
    },
    /// Another connector already has this id.
    #[error(
        "{}: connector id `{id}` is already provided by {existing}; this plugin was skipped{}",
        path.display(),
        if existing == "built in" { " (--prefer-plugins lets a plugin replace a built-in)" } else { "" }
    )]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// The contested id.
        id: String,
        /// Where the connector already loaded came from.
        existing: String,
    },
    /// A method's declaration contradicts its schemas (e.g. a poll cursor field they lack).
    #[error("{}: connector `{id}`: {problem}; this connector was skipped", path.display())]
    InvalidMethod {
        /// The file (`(built in)` for a built-in).
        path: PathBuf,
        /// The connector id.
        id: String,
        /// What is wrong, naming the method and field.
        problem: String,
    },
    /// A plugin directory could not be read.
    #[error("{}: cannot read the plugin directory: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    /// The file or directory the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotALibrary { path, .. }
            | Self::MissingSymbol { path }
            | Self::Refused { path, .. }
            | Self::DuplicateId { path, .. }
            | Self::InvalidMethod { path, .. }
            | Self::Directory { path, .. } => path,
        }
    }
}

/// Opens a plugin file, checks its declaration and reads its manifest.
pub fn load_plugin(path: &Path) -> Result<PluginConnector, LoadError> {
    check_permissions(path).map_err(|reason| LoadError::Refused {
        path: path.to_owned(),
        source: PluginError::Unsafe { reason },
    })?;
    // SAFETY: opening a library runs its initializers. That is the trust a user gives a plugin by
    // putting it in a plugin directory; everything after this point is checked.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::NotALibrary {
            path: path.to_owned(),
            reason: error_chain(&e),
        })?;
    // Never unloaded: see the module docs.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol's address is read as a pointer only; `from_declaration` checks the magic
    // and version before trusting the rest.
    let declaration = unsafe { library.get::<*const PluginDeclaration>(DECLARATION_SYMBOL) }
        .map(|symbol| *symbol)
        .map_err(|_| LoadError::MissingSymbol {
            path: path.to_owned(),
        })?;
    // SAFETY: `declaration` is a symbol of a library that is never unloaded.
    unsafe { PluginConnector::from_declaration(declaration) }.map_err(|source| LoadError::Refused {
        path: path.to_owned(),
        source,
    })
}

/// Refuses a plugin file that someone other than its owner or root could have changed, since
/// loading it runs their code in this process. Checked: the file (through any symbolic link), its
/// directory, and the directory of the link when there is one. Each must be owned by this user or
/// root and not writable by every user, and writable by its group only when that group is its
/// owner's private group (named after the owner, no other members), the default with umask 002 on
/// Debian, Ubuntu and Fedora, where refusing every group-writable file would refuse every plugin
/// its user builds (Debian's OpenSSH makes a similar exception). A directory with the sticky bit
/// (like `/tmp`) may be writable by others: they cannot replace this user's files in it, and a
/// file they add is refused for its owner. Ancestor directories are not checked. Only on Unix.
#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;

    // A file that cannot be resolved is left to the dynamic loader, which says why.
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let file_kind = if linked { "the file it links to" } else { "it" };
    let check = |place: &Path, kind: &str, is_dir: bool| -> Result<(), String> {
        let Ok(meta) = std::fs::metadata(place) else {
            return Ok(());
        };
        let shown = if kind == "it" {
            "it".to_owned()
        } else {
            format!("{kind} {}", place.display())
        };
        let (mode, owner, group) = (meta.mode() & 0o7777, meta.uid(), meta.gid());
        let harm = if is_dir {
            "replace the plugin with code of their own"
        } else {
            "change the code this process runs"
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if owner != 0 && owner != me {
            return Err(format!(
                "{shown} is owned by uid {owner}, neither this user (uid {me}) nor root, so its \
                 owner could {harm}"
            ));
        }
        let sticky = is_dir && mode & 0o1000 != 0;
        if mode & 0o002 != 0 && !sticky {
            return Err(format!(
                "{shown} is writable by every user (mode {mode:04o}), so anyone could {harm}; \
                 `chmod o-w` it"
            ));
        }
        if mode & 0o020 != 0 && !sticky && !is_private_group(group, owner) {
            return Err(format!(
                "{shown} is writable by group {group} (mode {mode:04o}), which is not its \
                 owner's private group, so its other members could {harm}; `chmod g-w` it"
            ));
        }
        Ok(())
    };
    check(&real, file_kind, false)?;
    // The real file's directory, and the link's when it differs.
    let mut dirs: Vec<PathBuf> = real.parent().map(Path::to_owned).into_iter().collect();
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(parent) = std::fs::canonicalize(parent)
        && !dirs.contains(&parent)
    {
        dirs.push(parent);
    }
    for dir in &dirs {
        check(dir, "its directory", true)?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Whether `group` is the private group of user `owner`: named after the user, with no members
/// listed but that user. Unknown users or groups are not private.
#[cfg(unix)]
fn is_private_group(group: u32, owner: u32) -> bool {
    let Some(user) = user_name(owner) else {
        return false;
    };
    group_entry(group)
        .is_some_and(|(name, members)| name == user && members.iter().all(|member| *member == user))
}

/// Runs a reentrant `getpw*_r`/`getgr*_r` lookup with a buffer that grows while it is too small.
/// `call` returns the lookup's error number, or what it copied out of the entry it found (`None`
/// for no entry).
#[cfg(unix)]
fn with_lookup_buffer<T>(
    mut call: impl FnMut(&mut [u8]) -> Result<Option<T>, libc::c_int>,
) -> Option<T> {
    let mut buffer = vec![0u8; 1024];
    loop {
        match call(&mut buffer) {
            Err(libc::ERANGE) if buffer.len() < 1 << 20 => buffer.resize(buffer.len() * 2, 0),
            Ok(found) => return found,
            Err(_) => return None,
        }
    }
}

/// The name of user `uid`.
#[cfg(unix)]
fn user_name(uid: u32) -> Option<Vec<u8>> {
    with_lookup_buffer(|buffer| {
        // SAFETY: all-zero is a valid `passwd` (null pointers, zero ids); it is read only once
        // `getpwuid_r` has filled it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings land in `buffer`.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        if rc != 0 {
            return Err(rc);
        }
        if found.is_null() || entry.pw_name.is_null() {
            return Ok(None);
        }
        // SAFETY: `pw_name` points to a NUL-terminated string in `buffer`, still alive.
        Ok(Some(
            unsafe { std::ffi::CStr::from_ptr(entry.pw_name) }
                .to_bytes()
                .to_vec(),
        ))
    })
}

/// The name and listed members of group `gid`.
#[cfg(unix)]
fn group_entry(gid: u32) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    with_lookup_buffer(|buffer| {
        // SAFETY: all-zero is a valid `group` (null pointers, a zero id); it is read only once
        // `getgrgid_r` has filled it.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the strings land in `buffer`.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut found,
            )
        };
        if rc != 0 {
            return Err(rc);
        }
        if found.is_null() || entry.gr_name.is_null() {
            return Ok(None);
        }
        // SAFETY: `gr_name`, and each `gr_mem` entry before the null one, point to NUL-terminated
        // strings in `buffer`, still alive.
        unsafe {
            let name = std::ffi::CStr::from_ptr(entry.gr_name).to_bytes().to_vec();
            let mut members = Vec::new();
            let mut member = entry.gr_mem;
            while !member.is_null() && !(*member).is_null() {
                members.push(std::ffi::CStr::from_ptr(*member).to_bytes().to_vec());
                member = member.add(1);
            }
            Ok(Some((name, members)))
        }
    })
}

/// An error with its sources, since the dynamic loader's detail ("invalid ELF header") is one level down.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Whether a directory entry looks like a shared library on this platform.
pub(crate) fn is_library_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|ext| ext == std::env::consts::DLL_EXTENSION)
}
