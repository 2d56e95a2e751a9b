//! Building connectors as plugin libraries.
//!
//! Each connector's `plugin/` package is a `cdylib` that exports the plugin ABI. Cargo's JSON
//! messages say where each library landed; it is copied out at once, because a later build of the
//! same package with other features (as the test fixtures do) writes to the same file name.
//!
//! # Nested cargo
//! Tests and `cargo xtask` run under cargo, which gives their process the environment of the
//! crate it built (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). A cargo started from there must
//! not inherit it: build scripts that read those names through `rerun-if-env-changed` (ring's
//! reads `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and more) are then rerun whenever the value differs
//! from the last build's, so ring, rustls, reqwest and everything above them were compiled again
//! by every test process that built the binary, and again by the next plain `cargo run`.
//! [`cargo_command`] starts cargo without them.
//!
//! # Features
//! Cargo gives a dependency the features of the packages a build selects. A plugin built alone
//! would get serde, syn, schemars, jsonschema, `plugboard-core`... with fewer features than the
//! `plugboard` program gives them, so a second copy of each was compiled just for the plugins.
//! [`build_library`] selects the host program too (which has no library, so nothing of it is
//! built): the plugin's dependencies are then the very ones `cargo build -p plugboard-cli`
//! (and `cargo run -p plugboard-cli`) compile, and only the plugin crate itself is compiled.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Every plugin package: by convention `connectors/<name>/plugin`, named `<name>-plugin`.
pub fn plugin_packages(root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = root.join("connectors");
    let mut packages = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let connector = entry?.path();
        let name = connector.file_name().and_then(|n| n.to_str());
        if let Some(name) = name.filter(|_| connector.join("plugin/Cargo.toml").is_file()) {
            packages.push(format!("{name}-plugin"));
        }
    }
    packages.sort();
    Ok(packages)
}

/// The program that loads plugins, whose features plugin builds share (see the module docs).
pub const HOST_PACKAGE: &str = "plugboard-cli";

/// Builds `package` with `features` and returns the path of its freshly built shared library.
/// Dependencies get the features [`HOST_PACKAGE`] gives them when it is a member of the workspace
/// at `root` (see the module docs).
pub fn build_library(
    root: &Path,
    package: &str,
    features: &[&str],
    release: bool,
) -> anyhow::Result<PathBuf> {
    let suffix = format!(".{}", std::env::consts::DLL_EXTENSION);
    let mut args = vec!["--lib", "-p", package];
    if package != HOST_PACKAGE && is_workspace_member(root, HOST_PACKAGE) {
        args.extend(["-p", HOST_PACKAGE]);
    }
    // With two packages selected, a feature names its package.
    let features: Vec<String> = features.iter().map(|f| format!("{package}/{f}")).collect();
    cargo_build(root, &args, &features, release, "cdylib", |path| {
        path.to_string_lossy().ends_with(&suffix)
    })
}

/// Builds the binary `bin` of `package` and returns its path.
pub fn build_binary(root: &Path, package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    build_binary_profile(root, package, bin, false)
}

/// Builds a binary, optimized when `release` (benchmarks measure the optimized program).
pub fn build_binary_profile(
    root: &Path,
    package: &str,
    bin: &str,
    release: bool,
) -> anyhow::Result<PathBuf> {
    cargo_build(
        root,
        &["--bin", bin, "-p", package],
        &[],
        release,
        "bin",
        |path| path.file_stem().is_some_and(|stem| stem == bin),
    )
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

/// `cargo` (the one running this process, if any) in `root`, without the environment cargo gave
/// this process for its own crate (see [`set_by_cargo_for_a_crate`] and the module docs), so its
/// builds reuse what a cargo started from a shell builds, and the other way round.
pub fn cargo_command(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_a_crate) {
            command.env_remove(&name);
        }
    }
    command
}

/// Whether the workspace at `root` has a member named `package` (`cargo metadata` says).
pub fn is_workspace_member(root: &Path, package: &str) -> bool {
    cargo_command(root)
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
fn cargo_build(
    root: &Path,
    args: &[&str],
    features: &[String],
    release: bool,
    kind: &str,
    wanted: impl Fn(&Path) -> bool,
) -> anyhow::Result<PathBuf> {
    let mut command = cargo_command(root);
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
    let output = command
        .output()
        .with_context(|| format!("cannot run `cargo build {what}`"))?;
    if !output.status.success() {
        bail!("`cargo build {what}` failed (see the compiler output above)");
    }
    let artifact = String::from_utf8_lossy(&output.stdout)
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
        .find(|path| wanted(path));
    artifact.with_context(|| format!("`cargo build {what}` reported no {kind} artifact"))
}

/// Builds a library and copies it to `out_dir` (created if needed); returns the copy's path.
pub fn build_into(
    root: &Path,
    package: &str,
    features: &[&str],
    release: bool,
    out_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let built = build_library(root, package, features, release)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let file_name = built
        .file_name()
        .with_context(|| format!("{} has no file name", built.display()))?;
    let copy = out_dir.join(file_name);
    std::fs::copy(&built, &copy)
        .with_context(|| format!("cannot copy {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

/// Builds every connector's plugin package into `out_dir`.
pub fn build_all(root: &Path, out_dir: &Path, release: bool) -> anyhow::Result<Vec<PathBuf>> {
    plugin_packages(root)?
        .iter()
        .map(|package| build_into(root, package, &[], release, out_dir))
        .collect()
}
