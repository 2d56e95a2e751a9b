//! Building connectors as plugin libraries.
//!
//! Each connector's `plugin/` package is a `cdylib` that exports the plugin ABI. Cargo's JSON
//! messages say where each library landed; it is copied out at once, because a later build of the
//! same package with other features (as the test fixtures do) writes to the same file name.
//!
//! The nested cargo that builds them (without the environment cargo gave this process, and with
//! the host program's features) is the testkit's, `plugboard_testkit::plugin`, which a
//! connector's own tests use to build its plugin: one implementation for both.

use std::path::{Path, PathBuf};

use anyhow::Context;

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

pub use plugboard_testkit::plugin::{
    HOST_PACKAGE, cargo_command, is_workspace_member, set_by_cargo_for_a_crate,
};

/// Builds `package` with `features` and returns the path of its freshly built shared library
/// (see [`plugboard_testkit::plugin::build_library`]).
pub fn build_library(
    root: &Path,
    package: &str,
    features: &[&str],
    release: bool,
) -> anyhow::Result<PathBuf> {
    Ok(plugboard_testkit::plugin::build_library(
        root, package, features, release,
    )?)
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
    Ok(plugboard_testkit::plugin::cargo_build(
        root,
        &["--bin", bin, "-p", package],
        &[],
        release,
        "bin",
        |path| path.file_stem().is_some_and(|stem| stem == bin),
    )?)
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
