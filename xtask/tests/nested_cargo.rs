//! A cargo started from a test (or from `cargo xtask`) builds like a cargo started from a shell.
//!
//! `cargo test` gives each test process the environment of its crate (`CARGO_MANIFEST_DIR`,
//! `CARGO_PKG_NAME`, ...). Build scripts such as ring's declare those names with
//! `rerun-if-env-changed`, so a nested cargo that inherits them reruns them and rebuilds ring,
//! rustls, reqwest and the runner, and the next `cargo run` from the shell rebuilds them again.
//! `xtask::plugins::cargo_command`, which every nested build goes through, must leave them out and
//! keep the user's own settings.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};

/// What cargo's reference lists as set for a crate being built, run or tested ("Environment
/// variables Cargo sets for crates"); `CARGO_BIN_EXE_<name>` is checked by prefix.
const SET_FOR_CRATES: [&str; 24] = [
    "CARGO",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_VERSION",
    "CARGO_PKG_VERSION_MAJOR",
    "CARGO_PKG_VERSION_MINOR",
    "CARGO_PKG_VERSION_PATCH",
    "CARGO_PKG_VERSION_PRE",
    "CARGO_PKG_AUTHORS",
    "CARGO_PKG_NAME",
    "CARGO_PKG_DESCRIPTION",
    "CARGO_PKG_HOMEPAGE",
    "CARGO_PKG_REPOSITORY",
    "CARGO_PKG_LICENSE",
    "CARGO_PKG_LICENSE_FILE",
    "CARGO_PKG_RUST_VERSION",
    "CARGO_PKG_README",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
    "CARGO_MANIFEST_LINKS",
];

/// The environment a child started from `command` gets: this process's, with the command's own
/// changes applied.
fn child_environment(command: &std::process::Command) -> HashMap<OsString, OsString> {
    let mut env: HashMap<OsString, OsString> = std::env::vars_os().collect();
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => env.insert(name.to_owned(), value.to_owned()),
            None => env.remove(name),
        };
    }
    env
}

#[test]
fn a_nested_cargo_gets_none_of_the_environment_cargo_set_for_this_test() {
    // This process runs under cargo, which set these for it: the test means something.
    for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION"] {
        assert!(
            std::env::var_os(name).is_some(),
            "cargo set no {name} for this test; run it with `cargo test`"
        );
    }
    let command = xtask::plugins::cargo_command(&xtask::workspace_root());
    let env = child_environment(&command);
    let inherited: Vec<&OsStr> = env
        .keys()
        .map(OsString::as_os_str)
        .filter(|name| {
            let name = name.to_string_lossy();
            SET_FOR_CRATES.contains(&name.as_ref()) || name.starts_with("CARGO_BIN_EXE_")
        })
        .collect();
    assert!(
        inherited.is_empty(),
        "a nested cargo would inherit {inherited:?}"
    );
    assert_eq!(
        command.get_current_dir(),
        Some(xtask::workspace_root().as_path())
    );
}

#[test]
fn a_nested_cargo_keeps_the_users_own_settings() {
    for name in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_TERM_COLOR",
        "CARGO_BUILD_JOBS",
        "CARGO_PROFILE_DEV_DEBUG",
        "CARGO_INCREMENTAL",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTUP_TOOLCHAIN",
    ] {
        assert!(
            !xtask::plugins::set_by_cargo_for_a_crate(name),
            "{name} is the user's setting"
        );
    }
    // Whatever of them this process has reaches the nested cargo unchanged.
    let command = xtask::plugins::cargo_command(&xtask::workspace_root());
    let env = child_environment(&command);
    for name in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
    ] {
        assert_eq!(
            env.get(OsStr::new(name)),
            std::env::var_os(name).as_ref(),
            "{name}"
        );
    }
}

#[test]
fn plugins_are_built_beside_the_program_that_loads_them_when_it_is_a_member() {
    let root = xtask::workspace_root();
    assert!(xtask::plugins::is_workspace_member(
        &root,
        xtask::plugins::HOST_PACKAGE
    ));
    assert!(xtask::plugins::is_workspace_member(&root, "bad-plugin"));
    assert!(!xtask::plugins::is_workspace_member(
        &root,
        "no-such-package"
    ));
}
