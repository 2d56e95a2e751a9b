//! The `plugboard` command as a user runs it: listings, manifests and load errors.

use std::process::Output;

use plugboard_tests::{bad_plugin, constant_contact_plugin, install, plugboard_binary, temp_dir};

fn plugboard(args: &[&str]) -> Output {
    std::process::Command::new(plugboard_binary())
        .args(args)
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .output()
        .expect("plugboard runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn connectors_lists_the_builtin() {
    let output = plugboard(&["connectors"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(listing.contains("constant-contact"), "{listing}");
    assert!(listing.contains("(built in)"), "{listing}");
}

#[test]
fn connectors_lists_a_plugin_from_a_directory() {
    let dir = temp_dir("cli-plugin-only");
    let installed = install(&constant_contact_plugin(), &dir, "constant-contact");
    let dir_arg = dir.to_string_lossy().into_owned();
    let output = plugboard(&["connectors", "--no-builtin", "--plugins", &dir_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(
        listing.contains(&format!("(plugin {})", installed.display())),
        "{listing}"
    );
}

#[test]
fn a_plugin_replaces_the_builtin_of_its_id_only_when_asked() {
    let dir = temp_dir("cli-prefer-plugins");
    let installed = install(&constant_contact_plugin(), &dir, "constant-contact");
    let dir_arg = dir.to_string_lossy().into_owned();

    // Not asked: refused, with the way to ask, and the built-in stays.
    let refused = plugboard(&["connectors", "--plugins", &dir_arg]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already provided by built in; this plugin was skipped (--prefer-plugins lets a plugin replace a built-in)"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stdout(&refused)
            .lines()
            .any(|l| l.starts_with("constant-contact ") && l.ends_with("(built in)")),
        "{}",
        stdout(&refused)
    );

    // Asked: the plugin is the connector, listed once, and it answers `describe`.
    let output = plugboard(&["connectors", "--plugins", &dir_arg, "--prefer-plugins"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(
        listing.contains(&format!("(plugin {})", installed.display())),
        "{listing}"
    );
    let constant_contact: Vec<&str> = listing
        .lines()
        .filter(|l| l.starts_with("constant-contact "))
        .collect();
    assert_eq!(
        constant_contact.len(),
        1,
        "replaced, not listed twice: {listing}"
    );
    let described = plugboard(&[
        "describe",
        "constant-contact",
        "contacts.get",
        "--plugins",
        &dir_arg,
        "--prefer-plugins",
    ]);
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(
        stdout(&described).contains("contact_id"),
        "{}",
        stdout(&described)
    );

    // Two plugins of one id are still refused, whatever the flag.
    install(&constant_contact_plugin(), &dir, "constant-contact-again");
    let twice = plugboard(&["connectors", "--plugins", &dir_arg, "--prefer-plugins"]);
    assert_eq!(twice.status.code(), Some(1), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("is already provided by plugin"),
        "{}",
        stderr(&twice)
    );
}

#[test]
fn bad_plugins_fail_the_listing_clearly_without_hiding_the_good_connectors() {
    let dir = temp_dir("cli-bad-plugins");
    install(&constant_contact_plugin(), &dir, "constant-contact");
    install(&bad_plugin(Some("wrong-abi")), &dir, "wrong-abi");
    install(&bad_plugin(None), &dir, "no-symbol");
    install(&bad_plugin(Some("panicking-manifest")), &dir, "panicking");
    std::fs::write(
        dir.join(format!("text.{}", std::env::consts::DLL_EXTENSION)),
        "x",
    )
    .expect("write");
    let dir_arg = dir.to_string_lossy().into_owned();

    let output = plugboard(&["connectors", "--plugins", &dir_arg]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a plain failure, not a crash"
    );
    assert!(
        stdout(&output).contains("constant-contact"),
        "the built-in is still listed"
    );
    let errors = stderr(&output);
    assert!(
        !errors.contains("stack backtrace") && !errors.contains("thread '"),
        "a plugin's panic is reported as an error, not printed by a panic hook:\n{errors}"
    );
    let error_lines: Vec<&str> = errors
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(error_lines.len(), 5, "one error per bad file:\n{errors}");
    for (file, reason) in [
        ("constant-contact.", "already provided by built in"),
        ("wrong-abi.", "plugin ABI 99.x"),
        ("no-symbol.", "exports no `PLUGBOARD_PLUGIN_V1` symbol"),
        (
            "panicking.",
            "manifest panicked at tests/fixtures/bad-plugin/src/lib.rs",
        ),
        ("text.", "not a loadable shared library"),
    ] {
        assert!(
            error_lines
                .iter()
                .any(|l| l.contains(file) && l.contains(reason)),
            "no error naming {file} with `{reason}`:\n{errors}"
        );
    }
}

#[test]
fn a_missing_plugin_directory_is_an_error_naming_it() {
    let output = plugboard(&["connectors", "--plugins", "/nonexistent/plugboard-plugins"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output)
            .contains("/nonexistent/plugboard-plugins: cannot read the plugin directory"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn describe_prints_the_manifest_readably() {
    let output = plugboard(&["describe", "constant-contact"]);
    assert!(output.status.success(), "{}", stderr(&output));
    insta::assert_snapshot!("describe_constant_contact", stdout(&output));
}

#[test]
fn describe_shows_limits_that_settings_supply() {
    let output = plugboard(&["describe", "http"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let limits: Vec<&str> = printed
        .lines()
        .filter(|line| line.starts_with("Limits"))
        .collect();
    assert_eq!(
        limits,
        ["Limits    `requests_per_second` requests/second, per connection, rolling (when set)"],
        "{printed}"
    );
}

#[test]
fn describe_json_is_the_manifest() {
    let output = plugboard(&["describe", "constant-contact", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: plugboard_core::Manifest =
        serde_json::from_slice(&output.stdout).expect("the output is a manifest");
    let builtin = plugboard_core::DefinedConnector::new::<constant_contact::ConstantContact>();
    assert_eq!(&printed, plugboard_core::Connector::manifest(&builtin));
}

#[test]
fn describing_an_unknown_connector_names_the_known_ones() {
    let output = plugboard(&["describe", "salesforce"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "error: no connector `salesforce`; available: constant-contact, http"
    );
}

/// Output piped into a reader that stops early (`| head`) ends the program quietly, as with other
/// command-line tools, instead of a panic and its backtrace.
#[cfg(unix)]
#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::Read as _;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(plugboard_binary())
        .args(["describe", "constant-contact", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugboard starts");
    let mut first = [0_u8; 16];
    child
        .stdout
        .take()
        .expect("piped")
        .read_exact(&mut first)
        .expect("the manifest starts");
    // The reader is gone; the rest (about 250 KB, more than a pipe holds) has nowhere to go.
    let mut errors = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut errors)
        .expect("stderr is readable");
    let status = child.wait().expect("plugboard ends");
    assert!(!errors.contains("panicked"), "{errors}");
    assert_eq!(
        status.signal(),
        Some(libc_sigpipe()),
        "{status:?}: {errors}"
    );
}

/// SIGPIPE's number, the same on every unix Rust supports.
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}
