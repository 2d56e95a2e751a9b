//! The default `plugboard` binary leaves PostgreSQL out: a `postgres://` state is a clear error
//! saying how to build a binary with it, not an attempt to open a file of that name.

use plugboard_tests::{plugboard_binary, workspace_root};

const URL: &str = "postgres://u:PASSWORD-71c2@127.0.0.1:9/db";

#[test]
fn a_postgres_state_without_the_feature_says_how_to_build_it() {
    // A command of the runner, and the service (which would otherwise listen first).
    let serve = [
        "--state",
        URL,
        "serve",
        "--public-url",
        "http://127.0.0.1:9",
    ];
    for args in [
        vec!["connections", "--state", URL],
        serve.to_vec(),
        [&serve[..], &["--sandbox"]].concat(),
    ] {
        let output = std::process::Command::new(plugboard_binary())
            .current_dir(workspace_root())
            .args(&args)
            .env_remove("PLUGBOARD_STATE")
            .env_remove("PLUGBOARD_ADMIN_KEY")
            .output()
            .expect("plugboard runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("built without PostgreSQL support"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--features postgres"), "{stderr}");
        assert!(!stderr.contains("PASSWORD-71c2"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!stderr.contains("listening"), "{stderr}");
    }
    // Nothing named like the URL was created in the working directory.
    assert!(!workspace_root().join("postgres:").exists());
}
