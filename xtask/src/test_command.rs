//! `cargo xtask test [cargo test arguments]`: the project's test command.
//!
//! It starts the services the selected tests need ([`crate::services`]), runs `cargo test`
//! (`--workspace` unless the arguments select packages themselves) with their addresses in the
//! environment, and stops them again whatever happens: the tests fail, the user presses Ctrl-C
//! (forwarded to the tests, see [`crate::signals`]), or this program panics (the guard's `Drop`).
//! It exits with the tests' status.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;

use anyhow::Context;

use crate::plugins::cargo_command;
use crate::services::{Service, Services};
use crate::signals::Interrupts;

/// Which packages `cargo test` arguments select, as far as starting services is concerned.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// `-p`/`--package` specs.
    pub packages: Vec<String>,
    /// `--exclude` specs.
    pub excluded: Vec<String>,
    /// `--workspace` or `--all` was given.
    pub workspace: bool,
    /// `--manifest-path` was given: cargo decides what it selects.
    pub manifest_path: bool,
}

impl Selection {
    /// Reads the cargo options before `--` (what follows is the test binaries').
    pub fn parse(args: &[String]) -> Self {
        let mut selection = Self::default();
        let mut args = args.iter().take_while(|arg| *arg != "--");
        while let Some(arg) = args.next() {
            let mut value_of = |long: &str, short: Option<&str>| -> Option<String> {
                if arg == long || short.is_some_and(|s| arg == s) {
                    return args.next().cloned();
                }
                if let Some(value) = arg.strip_prefix(&format!("{long}=")) {
                    return Some(value.to_owned());
                }
                short
                    .and_then(|s| arg.strip_prefix(s))
                    .filter(|value| !value.is_empty())
                    .map(str::to_owned)
            };
            if let Some(package) = value_of("--package", Some("-p")) {
                selection.packages.push(package);
            } else if let Some(package) = value_of("--exclude", None) {
                selection.excluded.push(package);
            } else if value_of("--manifest-path", None).is_some() {
                selection.manifest_path = true;
            } else if arg == "--workspace" || arg == "--all" {
                selection.workspace = true;
            }
        }
        selection
    }

    /// Whether cargo is told what to test, so `--workspace` must not be added.
    pub fn is_explicit(&self) -> bool {
        !self.packages.is_empty() || self.workspace || self.manifest_path
    }

    /// Whether any of `users` (package names) is among the packages tested. Package specs with
    /// wildcards, and `--manifest-path`, count as selecting them.
    pub fn includes_any(&self, users: &[&str]) -> bool {
        let is_pattern = |spec: &String| spec.contains(['*', '?', '[']);
        if self.manifest_path || self.packages.iter().any(is_pattern) {
            return true;
        }
        if self.packages.is_empty() || self.workspace {
            return users
                .iter()
                .any(|user| !self.excluded.iter().any(|e| e == user));
        }
        users.iter().any(|user| {
            self.packages
                .iter()
                .any(|p| p == user || p.starts_with(&format!("{user}@")))
        })
    }
}

/// The services `args` need that the environment does not already provide.
pub fn needed_services(args: &[String]) -> Vec<Service> {
    let selection = Selection::parse(args);
    Service::ALL
        .into_iter()
        .filter(|service| selection.includes_any(service.needed_by()))
        .filter(|service| {
            let given = std::env::var_os(service.env_var()).is_some_and(|v| !v.is_empty());
            if given {
                eprintln!(
                    "{}: using the one {} names",
                    service.name(),
                    service.env_var()
                );
            }
            !given
        })
        .collect()
}

/// Where the tests that run `plugboard` on a PostgreSQL state find a binary built with the
/// `postgres` feature (`tests/tests/postgres_*.rs`).
pub const POSTGRES_BINARY_VAR: &str = "PLUGBOARD_TEST_POSTGRES_BINARY";

/// Builds `plugboard` with the `postgres` feature and copies it to
/// `target/plugboard-postgres/plugboard`: a path of its own, because the build's own output
/// (`target/debug/plugboard`) is replaced by the next build without the feature, which the other
/// tests ask for.
pub fn build_postgres_binary(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    build_feature_binary(root, "postgres", "plugboard-postgres")
}

/// Where the tests that run `plugboard worker` and `plugboard run --temporal` find a binary built
/// with the `postgres` and `temporal` features (`tests/tests/temporal_*.rs`).
pub const TEMPORAL_BINARY_VAR: &str = "PLUGBOARD_TEST_TEMPORAL_BINARY";

/// Builds `plugboard` with the `postgres` and `temporal` features into
/// `target/plugboard-temporal/plugboard` (see [`build_postgres_binary`] for why a copy).
pub fn build_temporal_binary(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    build_feature_binary(root, "postgres,temporal", "plugboard-temporal")
}

/// Builds `plugboard` optimized with the `postgres` and `temporal` features into
/// `target/plugboard-temporal-release/plugboard`, for the benchmarks.
pub fn build_temporal_binary_optimized(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    build_feature_binary_profile(
        root,
        "postgres,temporal",
        "plugboard-temporal-release",
        true,
    )
}

/// Builds `plugboard` with `features` and copies it to `target/<folder>/plugboard`.
fn build_feature_binary(
    root: &Path,
    features: &str,
    folder: &str,
) -> anyhow::Result<std::path::PathBuf> {
    build_feature_binary_profile(root, features, folder, false)
}

/// Builds `plugboard` with `features` (optimized when `release`) and copies it to
/// `<target>/<folder>/plugboard`.
fn build_feature_binary_profile(
    root: &Path,
    features: &str,
    folder: &str,
    release: bool,
) -> anyhow::Result<std::path::PathBuf> {
    let what = format!("cargo build -p plugboard-cli --features {features}");
    let output = cargo_command(root)
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "-p",
            "plugboard-cli",
            "--bin",
            "plugboard",
            "--features",
            features,
        ])
        .args(release.then_some("--release"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{what}`"))?;
    anyhow::ensure!(
        output.status.success(),
        "`{what}` failed (see the compiler output above)"
    );
    let (built, target_dir) = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["executable"].is_string()
        })
        .find_map(|message| {
            let built = std::path::PathBuf::from(message["executable"].as_str()?);
            // <target>/<profile>/plugboard
            let target_dir = built.parent()?.parent()?.to_owned();
            Some((built, target_dir))
        })
        .with_context(|| format!("`{what}` reported no binary"))?;
    let dir = target_dir.join(folder);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let copy = dir.join("plugboard");
    // Replaced by renaming, so a test still running the previous copy keeps its file.
    let partial = dir.join("plugboard.partial");
    std::fs::copy(&built, &partial)
        .and_then(|_| std::fs::rename(&partial, &copy))
        .with_context(|| format!("cannot copy {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

/// Runs the tests in the workspace at `root`; returns the exit code to leave with.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<u8> {
    let interrupts = Interrupts::install()?;
    // The browser test of the service's pages starts its own chromedriver; it needs the packages.
    if Selection::parse(args).includes_any(crate::services::chromium::NEEDED_BY) {
        crate::services::chromium::ensure_installed()?;
    }
    let mut services = Services::start(root, &needed_services(args), &interrupts)?;
    // The binary tests of the PostgreSQL state need it built with the feature (the default
    // build leaves PostgreSQL out).
    let mut extra_env = Vec::new();
    if Selection::parse(args).includes_any(&["plugboard-tests"])
        && std::env::var_os(POSTGRES_BINARY_VAR).is_none_or(|v| v.is_empty())
    {
        let binary = build_postgres_binary(root)?;
        extra_env.push((POSTGRES_BINARY_VAR.to_owned(), binary.into_os_string()));
    }
    // The Temporal binary tests need the worker and `run --temporal`, built in only on request.
    if Selection::parse(args).includes_any(&["plugboard-tests"])
        && std::env::var_os(TEMPORAL_BINARY_VAR).is_none_or(|v| v.is_empty())
    {
        let binary = build_temporal_binary(root)?;
        extra_env.push((TEMPORAL_BINARY_VAR.to_owned(), binary.into_os_string()));
    }

    let mut command = cargo_command(root);
    command.arg("test");
    if !Selection::parse(args).is_explicit() {
        command.arg("--workspace");
    }
    command
        .args(args)
        .envs(services.env())
        .envs(extra_env)
        // A group of its own: signals reach cargo and every test binary through us, after
        // which we stop the services (see `signals`).
        .process_group(0);
    let mut child = command.spawn().context("cannot run `cargo test`")?;
    interrupts.forward_to(child.id());
    let status = child.wait().context("cannot wait for `cargo test`");
    interrupts.stop_forwarding();
    let stopped = services.stop_all();
    let status = status?;
    stopped?;
    Ok(exit_code(status))
}

/// The code to exit with for the tests' status: theirs, or 128 + the signal that ended them.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Selection {
        let args: Vec<String> = args.split_whitespace().map(str::to_owned).collect();
        Selection::parse(&args)
    }

    const PG: &[&str] = &["plugboard-store-postgres"];

    #[test]
    fn no_selection_is_the_whole_workspace() {
        let selection = parse("-- some_test_name");
        assert!(!selection.is_explicit());
        assert!(selection.includes_any(PG));
    }

    #[test]
    fn packages_are_read_in_every_spelling() {
        let selection = parse("-p a --package b -pc --package=d -- -p e");
        assert_eq!(selection.packages, ["a", "b", "c", "d"]);
        assert!(selection.is_explicit());
        assert!(!selection.includes_any(PG));
        assert!(parse("-p plugboard-store-postgres").includes_any(PG));
        assert!(parse("-p plugboard-store-postgres@0.1.0").includes_any(PG));
        assert!(parse("-p plugboard-*").includes_any(PG));
    }

    #[test]
    fn an_excluded_user_needs_nothing() {
        assert!(!parse("--workspace --exclude plugboard-store-postgres").includes_any(PG));
        assert!(!parse("--exclude=plugboard-store-postgres").includes_any(PG));
        assert!(parse("--workspace --exclude other").includes_any(PG));
    }

    #[test]
    fn a_manifest_path_is_explicit_and_assumed_to_need_everything() {
        let selection = parse("--manifest-path x/Cargo.toml");
        assert!(selection.is_explicit());
        assert!(selection.includes_any(PG));
    }

    #[test]
    fn exit_codes_follow_the_tests() {
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(101 << 8)), 101);
        // Killed by SIGINT (2).
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(2)), 130);
    }
}
