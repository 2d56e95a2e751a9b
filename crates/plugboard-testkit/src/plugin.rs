//! A connector's plugin build, for a test that holds it against the built-in: the same manifest,
//! the same requests, outputs and records for the same calls.
//!
//! [`build_plugin`] builds the connector's `plugin/` package (a `cdylib`) with cargo and loads it
//! through the runner's loader, the very path `plugboard --plugins DIR` takes.
//!
//! # Nested cargo
//! Tests run under cargo, which gives their process the environment of the crate it built
//! (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). A cargo started from there must not inherit it:
//! build scripts that read those names through `rerun-if-env-changed` (ring's reads
//! `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and more) are then rerun whenever the value differs from
//! the last build's, so ring, rustls, reqwest and everything above them were compiled again by
//! every test process that built something, and again by the next plain `cargo run`.
//! [`cargo_command`] starts cargo without them.
//!
//! # Features
//! Cargo gives a dependency the features of the packages a build selects. A plugin built alone
//! would get serde, syn, schemars, jsonschema, `plugboard-core`... with fewer features than the
//! `plugboard` program gives them, so a second copy of each would be compiled just for the
//! plugin. [`build_library`] selects the host program too when the workspace has it (it has no
//! library, so nothing of it is built): the plugin's dependencies are then the very ones
//! `cargo build -p plugboard-cli` compiles, and only the plugin crate itself is compiled.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use plugboard_core::plugin::PluginConnector;
use plugboard_runner::load_plugin;

use crate::KitError;

/// The program that loads plugins, whose features plugin builds share (see the module docs).
pub const HOST_PACKAGE: &str = "plugboard-cli";

/// Builds the plugin package `package` of the workspace the calling test belongs to (its
/// `CARGO_MANIFEST_DIR`, else the current directory) and loads it.
pub fn build_plugin(package: &str) -> Result<PluginConnector, KitError> {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let library = build_library(&dir, package, &[], false)?;
    load_plugin(&library).map_err(|e| KitError::Plugin {
        message: e.to_string(),
    })
}

/// Builds `package` with `features` from `dir` (any directory of the workspace) and returns the
/// path of its freshly built shared library. Dependencies get the features [`HOST_PACKAGE`]
/// gives them when it is a member of the workspace (see the module docs).
pub fn build_library(
    dir: &Path,
    package: &str,
    features: &[&str],
    release: bool,
) -> Result<PathBuf, KitError> {
    let suffix = format!(".{}", std::env::consts::DLL_EXTENSION);
    let mut args = vec!["--lib", "-p", package];
    if package != HOST_PACKAGE && is_workspace_member(dir, HOST_PACKAGE) {
        args.extend(["-p", HOST_PACKAGE]);
    }
    // With two packages selected, a feature names its package.
    let features: Vec<String> = features.iter().map(|f| format!("{package}/{f}")).collect();
    cargo_build(dir, &args, &features, release, "cdylib", |path| {
        path.to_string_lossy().ends_with(&suffix)
    })
}

/// The names cargo sets in the environment of the crate it builds or runs (a test, a build
/// script, `cargo run`), as opposed to the user's own settings (`CARGO_HOME`, `CARGO_TARGET_DIR`,
/// `CARGO_TERM_COLOR`, `CARGO_BUILD_*`, `RUSTFLAGS`, ...), which a nested cargo must keep. Only
/// names no shell sets: removing one the user's cargo also saw would be a difference again.
/// `CARGO` (the cargo binary) is one of them: the nested cargo sets its own for its children.
pub fn set_by_cargo_for_a_crate(name: &str) -> bool {
    const NAMES: [&str; 12] = [
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_MAKEFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "OUT_DIR",
    ];
    const PREFIXES: [&str; 5] = [
        "CARGO_PKG_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "DEP_",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// `cargo` (the one running this process, if any) in `dir`, without the environment cargo gave
/// this process for its own crate (see [`set_by_cargo_for_a_crate`] and the module docs), so its
/// builds reuse what a cargo started from a shell builds, and the other way round.
pub fn cargo_command(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_a_crate) {
            command.env_remove(&name);
        }
    }
    command
}

/// Whether the workspace at `dir` has a member named `package` (`cargo metadata` says).
pub fn is_workspace_member(dir: &Path, package: &str) -> bool {
    cargo_command(dir)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| serde_json::from_slice::<serde_json::Value>(&output.stdout).ok())
        .is_some_and(|metadata| {
            metadata["packages"]
                .as_array()
                .is_some_and(|members| members.iter().any(|m| m["name"] == package))
        })
}

/// Runs `cargo build` with JSON messages and returns the first artifact of target kind `kind`
/// whose file name passes `wanted`.
pub fn cargo_build(
    dir: &Path,
    args: &[&str],
    features: &[String],
    release: bool,
    kind: &str,
    wanted: impl Fn(&Path) -> bool,
) -> Result<PathBuf, KitError> {
    let mut command = cargo_command(dir);
    command
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    if release {
        command.arg("--release");
    }
    let what = args.join(" ");
    let failed = |message: String| KitError::Build { message };
    let output = command
        .output()
        .map_err(|e| failed(format!("cannot run `cargo build {what}`: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "`cargo build {what}` failed (see the compiler output above)"
        )));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact"
                && message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == kind))
        })
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| wanted(path))
        .ok_or_else(|| failed(format!("`cargo build {what}` reported no {kind} artifact")))
}
