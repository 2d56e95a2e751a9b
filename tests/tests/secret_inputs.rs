//! Secrets kept off the command line, and a loopback callback that cannot be hijacked, proven
//! through the real `plugboard` binary: `NAME=@FILE` and `NAME=@-` read a setting's value from a
//! file or standard input (never echoed, not even in errors), a secret given literally is warned
//! about, and a forged callback to `plugboard connect` is refused without ending the flow.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use constant_contact_sandbox::Sandbox;
use plugboard_runner::ConnectionStore as _;
use plugboard_tests::e2e::{
    CONNECTOR, Output, Running, Workspace, browse, sandbox_config, start_sandbox,
};
use plugboard_tests::wait;
use serde_json::Value;

/// `client_id=…` and `redirect_uri=…` of the sandbox's app (no secret: tests give it their way).
fn public_settings(sandbox: &Sandbox) -> [String; 2] {
    [
        format!("client_id={}", sandbox.client_id()),
        "redirect_uri=http://127.0.0.1:0/plugboard/callback".to_owned(),
    ]
}

/// `plugboard partner set constant-contact <settings...>`.
fn partner_set(ws: &Workspace, settings: &[String]) -> Output {
    let mut args = vec!["partner", "set", CONNECTOR];
    args.extend(settings.iter().map(String::as_str));
    ws.run(&args)
}

/// The partner settings as stored.
fn stored_partner(ws: &Workspace) -> serde_json::Map<String, Value> {
    wait(ws.store().partner_settings(CONNECTOR)).expect("partner settings are readable")
}

/// The `partner show` line of one field.
fn shown(ws: &Workspace, field: &str) -> String {
    let show = ws.run(&["partner", "show", CONNECTOR]);
    assert!(show.success(), "{show:?}");
    show.stdout
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{field} ")))
        .unwrap_or_else(|| panic!("`partner show` lists no `{field}`:\n{show:?}"))
        .to_owned()
}

/// Runs `plugboard args...` with `input` on its standard input; the output is checked for secrets.
fn run_with_stdin(ws: &Workspace, args: &[&str], input: &str) -> Output {
    let mut child = ws
        .command(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("plugboard starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin
        .write_all(input.as_bytes())
        .expect("stdin takes input");
    drop(stdin);
    let done = child.wait_with_output().expect("plugboard ends");
    let output = Output {
        status: Some(done.status),
        stdout: String::from_utf8_lossy(&done.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&done.stderr).into_owned(),
    };
    ws.assert_no_secrets(&output);
    output
}

/// Whether stderr carries the warning about a secret typed on the command line.
fn warns_about_a_literal_secret(output: &Output) -> bool {
    output.stderr.lines().any(|line| {
        line.starts_with("warning:") && line.contains("client_secret") && line.contains("@")
    })
}

#[test]
fn partner_set_reads_a_secret_from_a_file_and_never_shows_it() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("secret-from-file");
    ws.know_sandbox(&sandbox);
    let file = ws.file("client_secret.txt");
    // As `echo "$SECRET" > file` writes it: the trailing newline is not part of the secret.
    std::fs::write(&file, format!("{}\n", sandbox.client_secret())).expect("write");

    let mut settings = public_settings(&sandbox).to_vec();
    settings.push(format!("client_secret=@{file}"));
    let set = partner_set(&ws, &settings);
    assert!(set.success(), "{set:?}");
    assert!(!warns_about_a_literal_secret(&set), "{set:?}");
    assert_eq!(
        stored_partner(&ws)["client_secret"],
        sandbox.client_secret(),
        "the file's content, without its newline, is stored"
    );
    assert!(
        shown(&ws, "client_secret").contains("(secret, set)"),
        "{}",
        shown(&ws, "client_secret")
    );

    // The stored secret is the one the sandbox expects: the authorization flow completes with it.
    let connected = ws.connect(&sandbox, "from-file", browse);
    assert!(
        connected
            .stdout
            .contains("installed, and its check (`account.get_summary`) passed"),
        "{connected:?}"
    );
    assert!(ws.tokens("from-file").is_some());
}

#[test]
fn a_secret_typed_on_the_command_line_is_warned_about() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("secret-literal");
    let set = ws.partner_set(&sandbox);
    assert!(warns_about_a_literal_secret(&set), "{set:?}");
    let warnings: Vec<&str> = set
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning:"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "only secret fields are warned about: {set:?}"
    );
    // A warning, not an error: the value is stored.
    assert_eq!(
        stored_partner(&ws)["client_secret"],
        sandbox.client_secret()
    );

    // The help says how to keep a secret off the command line.
    for command in [&["partner", "set", "--help"][..], &["connect", "--help"]] {
        let help = ws.run(command);
        assert!(help.success(), "{help:?}");
        assert!(
            help.stdout.contains("NAME=@FILE") && help.stdout.contains("NAME=@-"),
            "{help:?}"
        );
    }
}

#[test]
fn an_unreadable_secret_file_is_named_and_its_content_never_shown() {
    let ws = Workspace::new("secret-unreadable");
    let missing = ws.file("no-such-file");
    // Not UTF-8, and holding something secret-looking that must not be echoed.
    let binary = ws.file("binary-secret");
    let content = "binary-secret-content-7f3a9c";
    ws.add_secret(content);
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend_from_slice(content.as_bytes());
    std::fs::write(&binary, bytes).expect("write");
    let empty = ws.file("empty");
    std::fs::write(&empty, "").expect("write");
    let directory = ws.dir().to_string_lossy().into_owned();

    for path in [&missing, &binary, &empty, &directory] {
        let set = partner_set(
            &ws,
            &[
                "client_id=someone".to_owned(),
                format!("client_secret=@{path}"),
            ],
        );
        assert!(!set.success(), "{path}: {set:?}");
        let error = set
            .stderr
            .lines()
            .find(|line| line.starts_with("error:"))
            .unwrap_or_else(|| panic!("{path}: no error line:\n{set:?}"));
        assert!(
            error.contains(path.as_str()) && error.contains("client_secret"),
            "the error names the field and the file: {error}"
        );
        // Nothing was saved, not even the fields given correctly.
        assert!(
            !ws.state().exists() || stored_partner(&ws).is_empty(),
            "{path}: {:?}",
            stored_partner(&ws).keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_secret_is_read_from_standard_input_and_a_leading_at_can_be_escaped() {
    let ws = Workspace::new("secret-stdin");
    let secret = format!("stdin-secret-{}", std::process::id());
    ws.add_secret(secret.clone());
    let set = run_with_stdin(
        &ws,
        &[
            "partner",
            "set",
            CONNECTOR,
            "client_id=@@team",
            "client_secret=@-",
        ],
        &format!("{secret}\r\n"),
    );
    assert!(set.success(), "{set:?}");
    assert!(!warns_about_a_literal_secret(&set), "{set:?}");
    let stored = stored_partner(&ws);
    assert_eq!(stored["client_secret"], secret.as_str());
    assert_eq!(
        stored["client_id"], "@team",
        "`@@` stands for a literal `@`"
    );

    // Standard input holds one value.
    let twice = run_with_stdin(
        &ws,
        &[
            "partner",
            "set",
            CONNECTOR,
            "client_id=@-",
            "client_secret=@-",
        ],
        &secret,
    );
    assert!(!twice.success(), "{twice:?}");
    assert!(twice.stderr.contains("standard input"), "{twice:?}");
}

/// Starts `plugboard connect` against `sandbox` with `extra` arguments and returns it with the
/// authorize URL it printed.
fn spawn_connect<'a>(
    ws: &'a Workspace,
    sandbox: &Sandbox,
    name: &str,
    timeout_secs: u64,
    extra: &[&str],
) -> (Running<'a>, String) {
    let base = sandbox.api_base_url();
    let authorize = sandbox.authorize_url();
    let token = sandbox.token_url();
    let timeout = timeout_secs.to_string();
    let mut args = vec![
        "connect",
        CONNECTOR,
        "--name",
        name,
        "--base-url",
        &base,
        "--authorize-url",
        &authorize,
        "--token-url",
        &token,
        "--timeout",
        &timeout,
    ];
    args.extend_from_slice(extra);
    let running = ws.spawn(&args);
    let url = running.wait_for_stderr(Duration::from_secs(30), |stderr| {
        stderr
            .split_whitespace()
            .find(|word| word.starts_with(&authorize))
            .map(str::to_owned)
    });
    match url {
        Some(url) => (running, url),
        None => panic!("no authorize URL:\n{:?}", running.kill()),
    }
}

/// The loopback callback address `plugboard connect` listens on: the authorize URL's
/// `redirect_uri`.
fn callback_of(authorize_url: &str) -> String {
    reqwest::Url::parse(authorize_url)
        .expect("the authorize URL parses")
        .query_pairs()
        .find(|(name, _)| name == "redirect_uri")
        .map(|(_, value)| value.into_owned())
        .expect("the authorize URL has a redirect_uri")
}

/// A GET without following redirects: the status and the body.
fn fetch(url: &str) -> (u16, String) {
    plugboard_runner::executor::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let response = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client")
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    })
}

/// Sends callbacks whose `state` is wrong or missing, checks each is refused with a 400, and
/// that the flow is still waiting.
fn send_forged_callbacks<'a>(mut running: Running<'a>, callback: &str) -> Running<'a> {
    for query in [
        "code=x&state=forged",
        "code=x",
        "error=access_denied&state=forged",
        "error=access_denied",
    ] {
        let (status, body) = fetch(&format!("{callback}?{query}"));
        assert_eq!(status, 400, "`{query}` is refused: {body}");
        assert!(body.contains("not recognised"), "`{query}`: {body}");
    }
    // Give a flow that wrongly ended the time to exit.
    std::thread::sleep(Duration::from_millis(300));
    if !running.is_running() {
        panic!("a forged callback ended the flow:\n{:?}", running.kill());
    }
    running
}

#[test]
fn a_forged_callback_is_refused_and_the_real_one_still_connects() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("forged-callback");
    ws.partner_set(&sandbox);
    let (running, url) = spawn_connect(&ws, &sandbox, "main", 30, &[]);
    let callback = callback_of(&url);
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");

    let running = send_forged_callbacks(running, &callback);

    browse(&url).expect("the real authorization reaches the waiting flow");
    let output = running.wait();
    assert!(output.success(), "{output:?}");
    assert!(output.stdout.contains("connection `main`"), "{output:?}");
    assert!(ws.tokens("main").is_some(), "the connection has its tokens");
}

#[test]
fn a_forged_callback_alone_leaves_the_flow_waiting_until_its_timeout() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("forged-callback-timeout");
    ws.partner_set(&sandbox);
    let started = Instant::now();
    let (running, url) = spawn_connect(&ws, &sandbox, "main", 3, &[]);
    let running = send_forged_callbacks(running, &callback_of(&url));
    let output = running.wait();
    assert!(!output.success(), "{output:?}");
    assert!(
        output.stderr.contains("no authorization arrived"),
        "{output:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(3), "{output:?}");
    assert!(
        wait(ws.store().connection("main"))
            .expect("readable")
            .is_none()
    );
}

#[test]
fn connect_reads_a_connection_secret_from_a_file() {
    let sandbox = start_sandbox(sandbox_config());
    let ws = Workspace::new("connect-secret-file");
    ws.know_sandbox(&sandbox);
    // The partner leaves the secret blank: the connection supplies it, from a file.
    let set = partner_set(&ws, &public_settings(&sandbox));
    assert!(set.success(), "{set:?}");
    let file = ws.file("secret");
    std::fs::write(&file, format!("{}\n", sandbox.client_secret())).expect("write");
    let secret = format!("client_secret=@{file}");
    let (running, url) = spawn_connect(&ws, &sandbox, "main", 30, &["--set", &secret]);
    browse(&url).expect("the sandbox consents");
    let output = running.wait();
    assert!(output.success(), "{output:?}");
    assert!(!warns_about_a_literal_secret(&output), "{output:?}");
    assert!(ws.tokens("main").is_some());
}
