//! `cargo xtask new-connector`: a scaffolded connector compiles, passes its own tests untouched,
//! is registered as a built-in, and loads as a plugin.
//!
//! The scaffold runs against a scratch workspace, never the repository's `connectors/`: a copy of
//! the root manifest (its paths made absolute, its members only the scratch connectors), the lock
//! file and the two built-in lists. It builds into the same target directory as this test, so
//! the scratch workspace's builds are kept between runs. They do not share the real workspace's:
//! there `plugboard-core` is not a member (the manifest's `[profile.dev.package."*"]` applies to
//! it) and the probe connector alone selects fewer features of serde, syn, schemars and the
//! rest, so about thirty dependencies have a copy of their own for this test (built once, then
//! reused by every later run).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use plugboard_core::{
    Connector, ConnectorError, Host, HttpMethod, HttpRequest, HttpResponse, Invocation, LogLevel,
};
use serde_json::{Value, json};

const NAME: &str = "probe-connector";

/// The files of the real workspace the scaffold edits, relative to its root.
const COPIED: [&str; 4] = [
    "crates/plugboard-cli/Cargo.toml",
    "crates/plugboard-cli/src/builtins.rs",
    "xtask/Cargo.toml",
    "xtask/src/builtins.rs",
];

/// Where cargo builds: this test's own target directory, shared with the scratch workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// The real root manifest, with its own crates referenced by absolute path and only the scratch
/// connectors as members.
fn scratch_manifest(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
    let start = text.find("members = [").expect("a members list");
    let end = start + text[start..].find(']').expect("the list ends");
    let members = "members = [\"connectors/*\", \"connectors/*/plugin\"]";
    let text = format!("{}{members}{}", &text[..start], &text[end + 1..]);
    text.replace("path = \"", &format!("path = \"{}/", root.display()))
}

/// A scratch workspace with everything the scaffold reads; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(root: &Path) -> Self {
        let dir =
            std::env::temp_dir().join(format!("plugboard-new-connector-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("connectors")).expect("scratch dir");
        std::fs::write(dir.join("Cargo.toml"), scratch_manifest(root)).expect("manifest");
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
        for file in COPIED {
            let to = dir.join(file);
            std::fs::create_dir_all(to.parent().expect("a parent")).expect("dirs");
            std::fs::copy(root.join(file), to).expect("copied");
        }
        // Every cargo run in the scratch workspace, including `xtask::plugins`' builds, shares
        // this test's target directory and never reaches the network (the lock file is complete).
        let config = format!(
            "[build]\ntarget-dir = \"{}\"\n\n[net]\noffline = true\n",
            target_dir(root).display()
        );
        std::fs::create_dir_all(dir.join(".cargo")).expect("config dir");
        std::fs::write(dir.join(".cargo/config.toml"), config).expect("cargo config");
        Self(dir)
    }
}

/// Removes the scratch workspace, unless `PLUGBOARD_KEEP_SCRATCH` is set (to inspect a failure).
impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("PLUGBOARD_KEEP_SCRATCH").is_some() {
            eprintln!("kept the scratch workspace {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.as_ref().display()))
}

/// Answers every request with an item and keeps the requests.
#[derive(Default)]
struct OkHost(std::sync::Mutex<Vec<HttpRequest>>);

impl Host for OkHost {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        self.0.lock().expect("not poisoned").push(request);
        Ok(HttpResponse::json(
            201,
            &json!({"id": "i-1", "name": "Probe"}),
        ))
    }
    fn emit(&self, _record: Value) -> Result<(), ConnectorError> {
        Ok(())
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn is_cancelled(&self) -> bool {
        false
    }
    fn sleep(&self, _duration: Duration) -> Result<(), ConnectorError> {
        Ok(())
    }
}

#[test]
fn a_scaffolded_connector_builds_passes_its_tests_and_loads_as_a_plugin() {
    let root = xtask::workspace_root();
    let scratch = Scratch::new(&root);
    let dir = &scratch.0;

    let plan = xtask::new_connector::scaffold(dir, NAME).expect("scaffolds");
    assert_eq!(plan.dir, dir.join("connectors").join(NAME));
    assert!(
        dir.join("connectors/probe-connector/plugin/src/lib.rs")
            .is_file()
    );
    assert!(
        !root.join("connectors").join(NAME).exists(),
        "the repository is untouched"
    );

    // Registered as a built-in of the CLI and xtask, and as a workspace dependency.
    assert!(
        read(dir.join("Cargo.toml"))
            .contains("\nprobe-connector = { path = \"connectors/probe-connector\" }\n")
    );
    for manifest in ["crates/plugboard-cli/Cargo.toml", "xtask/Cargo.toml"] {
        let text = read(dir.join(manifest));
        let at = text.find("\nprobe-connector.workspace = true\n");
        let after_connector = text
            .find("\nconstant-contact.workspace = true\n")
            .is_some_and(|cc| at.is_some_and(|at| at > cc));
        let before_lints = text
            .find("[lints]")
            .is_some_and(|lints| at.is_some_and(|at| at < lints));
        assert!(after_connector && before_lints, "{manifest}:\n{text}");
    }
    for builtins in [
        "crates/plugboard-cli/src/builtins.rs",
        "xtask/src/builtins.rs",
    ] {
        let text = read(dir.join(builtins));
        assert!(
            text.contains("use constant_contact as _;\n")
                && text.ends_with("\nuse probe_connector as _;\n"),
            "{builtins}:\n{text}"
        );
    }
    let again = xtask::new_connector::scaffold(dir, NAME).expect_err("exists now");
    assert!(again.to_string().contains("already exists"), "{again}");

    // Its own tests pass untouched. Every cargo started here is `cargo_command`'s: without the
    // environment cargo gave this test, which would make build scripts run (and their crates
    // build) again.
    let output = xtask::plugins::cargo_command(dir)
        .args(["test", "--package", NAME])
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the scaffold's tests fail:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (tests, what) in [(3, "unit tests"), (4, "replay tests"), (1, "plugin test")] {
        assert!(
            stdout.contains(&format!("test result: ok. {tests} passed")),
            "expected the scaffold's {tests} {what}:\n{stdout}"
        );
    }
    for test in [
        "every_declared_method_is_replayed",
        "a_recording_against_a_local_server_replays_offline",
        "the_plugin_and_the_builtin_behave_the_same",
    ] {
        assert!(
            stdout.contains(&format!("test {test} ... ok")),
            "expected the scaffold's {test}:\n{stdout}"
        );
    }

    // It is formatted and lint-clean, as CI requires of every package.
    for check in [
        &["fmt", "--check", "-p", NAME, "-p", "probe-connector-plugin"][..],
        &[
            "clippy",
            "-p",
            NAME,
            "-p",
            "probe-connector-plugin",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ] {
        let output = xtask::plugins::cargo_command(dir)
            .args(check)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "`cargo {}` fails on the scaffold:\n{}{}",
            check.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Its plugin library loads and answers like the built-in.
    let library = xtask::plugins::build_library(dir, "probe-connector-plugin", &[], false)
        .expect("the plugin builds");
    let plugin = plugboard_runner::load_plugin(&library).expect("the plugin loads");
    let manifest = plugin.manifest();
    assert_eq!(manifest.id, NAME);
    assert_eq!(manifest.name, "Probe Connector");
    assert_eq!(manifest.methods[0].id, "items.list");
    let host = OkHost::default();
    let output = plugin
        .invoke(
            &Invocation {
                method: "items.create".into(),
                input: json!({"name": "Probe"}),
                settings: serde_json::Map::new(),
            },
            &host,
        )
        .expect("the call crosses the ABI");
    assert_eq!(output, json!({"id": "i-1", "name": "Probe"}));
    let requests = host.0.lock().expect("not poisoned").clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method, requests[0].path.as_str()),
        (HttpMethod::Post, "/items")
    );

    // The real `plugboard` lists it from a plugin directory, beside the built-ins.
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    let file_name = library.file_name().expect("a library file name");
    std::fs::copy(&library, plugins.join(file_name)).expect("plugin copied");
    let plugboard = xtask::plugins::build_binary(&root, "plugboard-cli", "plugboard")
        .expect("plugboard builds");
    let listing = Command::new(plugboard)
        .args(["connectors", "--json", "--plugins"])
        .arg(&plugins)
        .output()
        .expect("plugboard runs");
    let stdout = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.status.success(),
        "`plugboard connectors` fails:\n{stdout}\n{}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let listed: Value = serde_json::from_str(&stdout).expect("a JSON listing");
    let ids: Vec<&str> = listed
        .as_array()
        .expect("an array of connectors")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(
        ids.contains(&NAME) && ids.contains(&"constant-contact"),
        "{stdout}"
    );
}
