//! Every curl example of `docs/service.md` works as shown: each ` ```sh ` block with a `curl`
//! runs, command by command, against a fresh `plugboard serve --sandbox`, and each status the
//! docs announce (`# 201 …` at the end of the line or on the next line) is the one returned.
//!
//! The commands are parsed, not handed to a shell (curl need not be installed): quoting,
//! `$VARIABLES`, `-X`, `-H`, `-d` and the URL. Values the docs elide (`ACME_KEY=pbk_…`) come from
//! the answers: `api_key` sets `ACME_KEY`, `authorization_url` sets `AUTHORIZATION_URL`, a
//! connect link's `url` sets `LINK_URL`. Comment lines saying that the user opens the
//! authorization URL or the link are played as the browser would.

use std::collections::HashMap;

use plugboard_tests::service::{RawResponse, ServiceProcess};
use plugboard_tests::{temp_dir, workspace_root};
use serde_json::Value;

const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";

/// Where the docs say the service listens.
const DOCS_BASE: &str = "http://127.0.0.1:8080";

/// The sections whose curl examples other tests run with bash, beside a local API and the
/// section's workflow file (`tests/tests/service_runs.rs` and `service_schedules.rs`,
/// `the_documented_…_examples_work_as_shown`); this test leaves them to those.
const RUN_WITH_BASH_ELSEWHERE: &[&str] = &["## Workflows and runs", "## Schedules"];

/// The ` ```sh ` blocks of a Markdown file that contain a curl command, with their first line,
/// except those of [`RUN_WITH_BASH_ELSEWHERE`].
fn sh_blocks(markdown: &str) -> Vec<(usize, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Vec<String>)> = None;
    let mut skipped_section = false;
    for (index, line) in markdown.lines().enumerate() {
        if open.is_none() && line.starts_with("## ") {
            skipped_section = RUN_WITH_BASH_ELSEWHERE.contains(&line.trim_end());
        }
        if skipped_section {
            continue;
        }
        match &mut open {
            None if line.trim_start().starts_with("```sh") => open = Some((index + 1, Vec::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => {
                if let Some(block) = open.take()
                    && block.1.iter().any(|l| l.starts_with("curl "))
                {
                    blocks.push(block);
                }
            }
            Some((_, lines)) => lines.push(line.to_owned()),
        }
    }
    blocks
}

/// Splits a shell command line into words: single quotes literal, double quotes and bare words
/// expand `$NAME`; an unquoted `#` after a space starts a comment (returned separately).
fn shell_words(line: &str, vars: &HashMap<String, String>) -> (Vec<String>, String) {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '#') if word.is_none() => {
                return (words, chars.collect::<String>().trim().to_owned());
            }
            (None, c) if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.get_or_insert_with(String::new).push(c),
            (_, '$') => {
                let mut name = String::new();
                while let Some(&next) = chars.peek() {
                    if next.is_ascii_alphanumeric() || next == '_' {
                        name.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let value = vars
                    .get(&name)
                    .unwrap_or_else(|| panic!("`${name}` is used before it is set: {line}"));
                word.get_or_insert_with(String::new).push_str(value);
            }
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "an unclosed quote: {line}");
    if let Some(done) = word {
        words.push(done);
    }
    (words, String::new())
}

/// The status a comment announces (`201 {…}`, `204; …`, `200: …`).
fn announced_status(comment: &str) -> Option<u16> {
    let digits: String = comment.chars().take_while(char::is_ascii_digit).collect();
    (digits.len() == 3 && !comment[3..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The browser: consent at the sandbox and follow its redirect to the callback.
fn consent_and_return(service: &ServiceProcess, authorization_url: &str) -> RawResponse {
    let consent = service.browse("GET", authorization_url, None);
    assert_eq!(consent.status, 302, "{consent:?}");
    let callback = consent.header("location").expect("a redirect").to_owned();
    assert!(
        callback.starts_with(&format!("{}/connector/callback", service.base_url)),
        "{callback}"
    );
    service.browse("GET", &callback, None)
}

struct Outcome {
    commands: usize,
    statuses_checked: usize,
    browser_steps: usize,
}

fn run_block(first_line: usize, lines: &[String]) -> Outcome {
    let dir = temp_dir(&format!("service-docs-{first_line}"));
    let service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
    let mut vars = HashMap::from([("ADMIN_KEY".to_owned(), ADMIN_KEY.to_owned())]);
    let mut outcome = Outcome {
        commands: 0,
        statuses_checked: 0,
        browser_steps: 0,
    };
    // The status the last command returned, until a following comment line checks it.
    let mut unchecked: Option<(usize, u16)> = None;
    for (offset, line) in lines.iter().enumerate() {
        let at = first_line + 1 + offset;
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if let (Some(expected), Some((from, status))) =
                (announced_status(comment), unchecked.take())
            {
                assert_eq!(status, expected, "docs/service.md:{from}");
                outcome.statuses_checked += 1;
            } else if comment.contains("opens authorization_url") {
                let url = vars.get("AUTHORIZATION_URL").expect("an authorization URL");
                let page = consent_and_return(&service, url);
                assert_eq!(page.status, 200, "docs/service.md:{at}: {}", page.body);
                assert!(page.body.contains("Constant Contact connected"));
                outcome.browser_steps += 1;
            } else if comment.contains("opens url, clicks") {
                let url = vars.get("LINK_URL").expect("a link").clone();
                let page = service.browse("GET", &url, None);
                assert_eq!(page.status, 200, "docs/service.md:{at}: {}", page.body);
                assert!(page.body.contains("Connect Constant Contact"));
                let started = service.browse("POST", &url, None);
                assert_eq!(
                    started.status, 303,
                    "docs/service.md:{at}: {}",
                    started.body
                );
                let page =
                    consent_and_return(&service, started.header("location").expect("a redirect"));
                assert!(
                    page.body.contains("Constant Contact connected"),
                    "{}",
                    page.body
                );
                outcome.browser_steps += 1;
            }
            continue;
        }
        unchecked = None;
        if line.is_empty() {
            continue;
        }
        let (words, comment) = shell_words(line, &vars);
        if words.first().map(String::as_str) != Some("curl") {
            // `NAME=value`: a placeholder (`pbk_…`) stands for a value taken from an answer.
            let [assignment] = words.as_slice() else {
                panic!("docs/service.md:{at}: neither curl nor an assignment: {line}");
            };
            let (name, value) = assignment
                .split_once('=')
                .unwrap_or_else(|| panic!("docs/service.md:{at}: not an assignment: {line}"));
            if !value.contains('…') {
                vars.insert(name.to_owned(), value.to_owned());
            }
            assert!(
                vars.contains_key(name),
                "docs/service.md:{at}: `{name}` has no value"
            );
            continue;
        }
        let mut method = None;
        let mut key = None;
        let mut body: Option<String> = None;
        let mut url = None;
        let mut args = words[1..].iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-s" | "-S" | "-i" | "-f" => {}
                "-X" => method = args.next().cloned(),
                "-H" => {
                    let header = args.next().expect("a header");
                    if let Some(bearer) = header.strip_prefix("Authorization: Bearer ") {
                        key = Some(bearer.to_owned());
                    }
                }
                "-d" => body = args.next().cloned(),
                other if other.starts_with("http://") => url = Some(other.to_owned()),
                other => panic!("docs/service.md:{at}: an option this test does not know: {other}"),
            }
        }
        let url = url.unwrap_or_else(|| panic!("docs/service.md:{at}: no URL"));
        let path = url
            .strip_prefix(DOCS_BASE)
            .unwrap_or_else(|| panic!("docs/service.md:{at}: not on {DOCS_BASE}: {url}"));
        let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
        let (status, answer) =
            service.call(&method, path, key.as_deref(), body.map(String::into_bytes));
        outcome.commands += 1;
        assert!(
            status < 400,
            "docs/service.md:{at}: {method} {path} answered {status}: {answer}"
        );
        for (field, variable) in [
            ("api_key", "ACME_KEY"),
            ("authorization_url", "AUTHORIZATION_URL"),
            ("url", "LINK_URL"),
        ] {
            if let Some(value) = answer.get(field).and_then(Value::as_str) {
                vars.insert(variable.to_owned(), value.to_owned());
            }
        }
        match announced_status(&comment) {
            Some(expected) => {
                assert_eq!(status, expected, "docs/service.md:{at}: {answer}");
                outcome.statuses_checked += 1;
            }
            None => unchecked = Some((at, status)),
        }
    }
    outcome
}

#[test]
fn every_curl_example_of_the_service_docs_works() {
    let markdown =
        std::fs::read_to_string(workspace_root().join("docs/service.md")).expect("docs/service.md");
    let blocks = sh_blocks(&markdown);
    assert!(
        blocks.len() >= 5,
        "the examples were found: {}",
        blocks.len()
    );
    let mut commands = 0;
    let mut statuses = 0;
    let mut browser_steps = 0;
    for (first_line, lines) in &blocks {
        let outcome = run_block(*first_line, lines);
        commands += outcome.commands;
        statuses += outcome.statuses_checked;
        browser_steps += outcome.browser_steps;
    }
    // Every curl line outside the sections run elsewhere.
    let mut skipped_section = false;
    let curl_lines = markdown
        .lines()
        .filter(|line| {
            if line.starts_with("## ") {
                skipped_section = RUN_WITH_BASH_ELSEWHERE.contains(&line.trim_end());
            }
            !skipped_section && line.starts_with("curl ")
        })
        .count();
    for section in RUN_WITH_BASH_ELSEWHERE {
        assert!(
            markdown.contains(&format!("\n{section}\n")),
            "the section {section} run with bash"
        );
    }
    assert_eq!(commands, curl_lines, "every curl line ran");
    assert!(
        statuses >= 10,
        "announced statuses were checked: {statuses}"
    );
    assert_eq!(browser_steps, 2, "both browser steps were played");
}

#[test]
fn shell_words_follow_the_quoting_the_docs_use() {
    let vars = HashMap::from([("A".to_owned(), "x y".to_owned())]);
    let (words, comment) = shell_words(
        r#"curl -s -H "$A" -d '{"id":"$A"}' http://h/p   # 201 {…}"#,
        &vars,
    );
    assert_eq!(
        words,
        [
            "curl",
            "-s",
            "-H",
            "x y",
            "-d",
            r#"{"id":"$A"}"#,
            "http://h/p"
        ]
    );
    assert_eq!(comment, "201 {…}");
    assert_eq!(announced_status("204; gone"), Some(204));
    assert_eq!(announced_status("200: one"), Some(200));
    assert_eq!(announced_status("list (admin)"), None);
    assert_eq!(announced_status("2000 things"), None);
}
