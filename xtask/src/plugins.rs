//! Building connectors as plugin libraries.
//!
//! Each connector's `plugin/` package is a `cdylib` that exports the plugin ABI. Cargo's JSON
//! messages say where each library landed; it is copied out at once, because a later build of the
//! same package with other features (as the test fixtures do) writes to the same file name.

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

/// Builds `package` with `features` and returns the path of its freshly built shared library.
pub fn build_library(
    root: &Path,
    package: &str,
    features: &[&str],
    release: bool,
) -> anyhow::Result<PathBuf> {
    let suffix = format!(".{}", std::env::consts::DLL_EXTENSION);
    cargo_build(
        root,
        &["--lib", "-p", package],
        features,
        release,
        "cdylib",
        |path| path.to_string_lossy().ends_with(&suffix),
    )
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

/// Runs `cargo build` with JSON messages and returns the first artifact of target kind `kind`
/// whose file name passes `wanted`.
fn cargo_build(
    root: &Path,
    args: &[&str],
    features: &[&str],
    release: bool,
    kind: &str,
    wanted: impl Fn(&Path) -> bool,
) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
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
