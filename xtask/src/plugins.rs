//! Building connectors as plugin libraries.
//!
//! A connector crate exports the plugin symbol only with its `plugin` feature (so several
//! connectors can be linked into one program), so plugins are built one package at a time with
//! that feature. Cargo's JSON messages say where each library landed; the library is copied out at
//! once because the next build of the same package may overwrite it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Every package under `connectors/` that has a `plugin` feature, by package name.
pub fn connector_packages(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut packages = Vec::new();
    let dir = root.join("connectors");
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let has_plugin_feature = text
            .lines()
            .any(|line| line.trim_start().starts_with("plugin ="));
        if let Some(name) = entry_name(&manifest).filter(|_| has_plugin_feature) {
            packages.push(name);
        }
    }
    packages.sort();
    Ok(packages)
}

/// The package name of a connector: by the layout rule, its directory name.
fn entry_name(manifest: &Path) -> Option<String> {
    Some(manifest.parent()?.file_name()?.to_str()?.to_owned())
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
    cargo_build(
        root,
        &["--bin", bin, "-p", package],
        &[],
        false,
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

/// Builds every connector as a plugin into `out_dir`.
pub fn build_all(root: &Path, out_dir: &Path, release: bool) -> anyhow::Result<Vec<PathBuf>> {
    connector_packages(root)?
        .iter()
        .map(|package| build_into(root, package, &["plugin"], release, out_dir))
        .collect()
}
