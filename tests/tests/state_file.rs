//! The state file is never damaged by a mistake: a path that is not a state file is refused and
//! left as it was, a read-only one can still be listed, and the environment cannot make every
//! command fail. Through the real binary.

use std::path::Path;
use std::process::{Command, Output};

use plugboard_tests::{plugboard_binary, temp_dir, workspace_root};

fn plugboard(args: &[&str], state: &Path) -> Output {
    Command::new(plugboard_binary())
        .args(args)
        .arg("--state")
        .arg(state)
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn a_path_that_is_not_a_state_file_is_refused_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("state-not-a-state-file");
    let one_byte = dir.join("one");
    std::fs::write(&one_byte, "x").expect("write");
    let credentials = dir.join("credentials.json");
    std::fs::write(&credentials, r#"{"client_secret": "do not touch"}"#).expect("write");
    for file in [&one_byte, &credentials] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let link = dir.join("link.db");
    std::os::unix::fs::symlink(&credentials, &link).expect("symlink");

    for (path, reason) in [
        (&one_byte, "not an SQLite database"),
        (&credentials, "not an SQLite database"),
        (&link, "a symbolic link"),
        (&dir.to_path_buf(), "a folder"),
    ] {
        let before = std::fs::read(path).ok();
        let output = plugboard(&["connections"], path);
        assert!(!output.status.success(), "{path:?} accepted");
        let errors = stderr(&output);
        assert!(errors.contains("is not a plugboard state file"), "{errors}");
        assert!(errors.contains(reason), "{errors}");
        assert!(
            !errors.contains("do not touch"),
            "the file is not echoed: {errors}"
        );
        assert_eq!(std::fs::read(path).ok(), before, "{path:?} changed");
    }
    assert_eq!(mode(&one_byte), 0o644, "not chmodded");
    assert_eq!(mode(&credentials), 0o644, "not chmodded through the link");
    assert!(!dir.join("link.db-wal").exists());
}

/// `unshare` gives the test a mount namespace of its own, where a bind mount makes the state
/// file's folder read-only for the commands run inside it.
#[cfg(target_os = "linux")]
#[test]
fn a_state_file_on_a_read_only_file_system_can_still_be_listed() {
    let dir = temp_dir("state-read-only");
    let state = dir.join("state.db");
    let created = plugboard(
        &["partner", "set", "constant-contact", "client_id=abc"],
        &state,
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let script = format!(
        "mount --bind -o ro {dir} {dir} && {bin} connections --state {state} && \
         {bin} partner show constant-contact --state {state} && \
         {bin} runs --state {state} && \
         {{ {bin} partner set constant-contact client_id=xyz --state {state}; echo \"write exit $?\"; }}",
        dir = dir.display(),
        bin = plugboard_binary().display(),
        state = state.display()
    );
    let output = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script])
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", stderr(&output));
    assert!(stdout.contains("no connections"), "{stdout}");
    assert!(stdout.contains("abc"), "{stdout}");
    assert!(stdout.contains("no runs yet"), "{stdout}");
    assert!(stdout.contains("write exit 1"), "a change fails: {stdout}");
    assert!(stderr(&output).contains("readonly"), "{}", stderr(&output));
}

#[test]
fn an_empty_plugin_path_loads_nothing_and_fails_nothing() {
    let dir = temp_dir("state-empty-plugin-path");
    let output = Command::new(plugboard_binary())
        .args(["connectors", "--state"])
        .arg(dir.join("state.db"))
        .env("PLUGBOARD_PLUGIN_PATH", "")
        .output()
        .expect("plugboard runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("constant-contact"));
}

#[test]
fn logs_into_a_pipe_carry_no_colour_codes() {
    let dir = temp_dir("state-log-colour");
    let output = Command::new(plugboard_binary())
        .current_dir(workspace_root())
        .args([
            "run",
            "tests/fixtures/workflows/account.json",
            "--sandbox",
            "--state",
        ])
        .arg(dir.join("state.db"))
        .env("PLUGBOARD_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .expect("plugboard runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let errors = stderr(&output);
    assert!(
        errors.contains("DEBUG") || errors.contains("INFO"),
        "some log: {errors}"
    );
    assert!(
        !errors.contains('\u{1b}'),
        "escape codes in a piped log: {errors:?}"
    );
}

/// A refresh on a full disk: the space put aside for new tokens lets the refresh store what it
/// spent, and a full disk is reported as such. The state file lives on a 2 MiB tmpfs in a mount
/// namespace of the test's own, filled to the last byte before the refresh.
#[cfg(target_os = "linux")]
#[test]
fn a_refresh_on_a_full_disk_keeps_the_connection_and_says_the_disk_is_full() {
    use plugboard_tests::e2e::{EXAMPLE_CONNECTION, Workspace, sandbox_config, start_sandbox};

    let mut config = sandbox_config();
    config.access_token_ttl = std::time::Duration::from_secs(2);
    let sandbox = start_sandbox(config);
    let ws = Workspace::new("state-disk-full");
    ws.install_connection(&sandbox, EXAMPLE_CONNECTION);
    ws.expire_tokens_in(EXAMPLE_CONNECTION, 0);
    let small = ws.dir().join("small");
    std::fs::create_dir_all(&small).expect("mkdir");
    let run = |state: &str| {
        format!(
            "{bin} run {workflow} --no-rate-limits --state {state}",
            bin = plugboard_binary().display(),
            workflow = workspace_root()
                .join("tests/fixtures/workflows/account.json")
                .display(),
        )
    };
    let state = small.join("state.db");
    let state = state.display().to_string();
    let script = format!(
        "set -u
         mount -t tmpfs -o size=2m tmpfs {small}
         cp {source} {state}
         {first} >/dev/null 2>&1; echo \"first exit $?\"
         sleep 2.5
         dd if=/dev/zero of={small}/filler bs=4k >/dev/null 2>&1
         {second} >/dev/null 2>{small}.second.err; echo \"second exit $?\"
         cat {small}.second.err
         rm -f {small}/filler
         {third} >/dev/null 2>&1; echo \"third exit $?\"",
        small = small.display(),
        source = ws.state().display(),
        first = run(&state),
        second = run(&state),
        third = run(&state),
    );
    let output = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script])
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .env_remove("PLUGBOARD_STATE")
        .env_remove("PLUGBOARD_LOG")
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("first exit 0"),
        "{stdout}\n{}",
        stderr(&output)
    );
    // The second run found its token expired and the disk full: its refresh was stored with
    // the reserved space (the run goes on or stops saying the disk is full, never a transport
    // error), and the third run uses the stored tokens.
    assert!(
        stdout.contains("second exit 0")
            || stdout.contains("the disk holding the state file is full"),
        "{stdout}"
    );
    assert!(!stdout.contains("transport error"), "{stdout}");
    assert!(stdout.contains("third exit 0"), "{stdout}");
    let stats = sandbox.stats();
    assert_eq!(stats.invalid_grants, 0, "{stats:?}");
    assert_eq!(
        stats.refreshes, 2,
        "both expired tokens were refreshed: {stats:?}"
    );
}
