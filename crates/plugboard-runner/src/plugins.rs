//! Loading connector plugins from shared-library files.
//!
//! A library is opened once and never closed (invariant 4): code from it may be referenced by the
//! connector's vtable for the life of the process, and unloading Rust code is unsound in general.

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
    #[error("{}: connector id `{id}` is already provided by {existing}; this plugin was skipped", path.display())]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// The contested id.
        id: String,
        /// Where the connector already loaded came from.
        existing: String,
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
            | Self::Directory { path, .. } => path,
        }
    }
}

/// Opens a plugin file, checks its declaration and reads its manifest.
pub fn load_plugin(path: &Path) -> Result<PluginConnector, LoadError> {
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
