//! The default `plugboard` binary leaves PostgreSQL out: a `postgres://` state is a clear error
//! saying how to build a binary with it, not an attempt to open a file of that name.

use plugboard_tests::{plugboard_binary, workspace_root};

#[test]
fn a_postgres_state_without_the_feature_says_how_to_build_it() {
    let output = std::process::Command::new(plugboard_binary())
        .current_dir(workspace_root())
        .args([
            "connections",
            "--state",
            "postgres://u:PASSWORD-71c2@127.0.0.1:9/db",
        ])
        .env_remove("PLUGBOARD_STATE")
        .output()
        .expect("plugboard runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("built without PostgreSQL support"),
        "{stderr}"
    );
    assert!(stderr.contains("--features postgres"), "{stderr}");
    assert!(!stderr.contains("PASSWORD-71c2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Nothing named like the URL was created in the working directory.
    assert!(!workspace_root().join("postgres:").exists());
}
