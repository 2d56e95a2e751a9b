//! Project automation behind `cargo xtask`, as a library so tests can run the same code.
#![forbid(unsafe_code)]

pub mod bench;
mod builtins;
pub mod new_connector;
pub mod plugins;
pub mod scale_check;
pub mod schemas;
pub mod services;
pub mod signals;
pub mod test_command;

use std::path::PathBuf;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// `docs/authoring-connectors.md`, compiled as doc-tests so every example in the guide stays true
/// to the current API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/authoring-connectors.md")]
pub struct AuthoringGuide;
