//! No cassette in the repository holds a secret.
//!
//! Cassettes (`**/cassettes/*.json`, recorded by `plugboard-testkit`) are committed, so a secret
//! that survived scrubbing would be published. The recorder already checks each file against the
//! secrets it knew while recording (settings, tokens); this test checks every committed cassette
//! again, without that knowledge, for what a secret looks like:
//!
//! - credentials in text: `Bearer <token>` or `Basic <base64>`, the sandbox's client secrets;
//! - a token-looking field (`access_token`, `refresh_token`, `id_token`, `client_secret`,
//!   `api_key`, `password`) or a sensitive header (`authorization`, `cookie`, `set-cookie`, ...)
//!   whose value is not the scrub marker, in JSON, in query strings and in JSON inside strings;
//! - token-shaped strings: JWTs (as real Constant Contact access tokens are), and the random
//!   URL-safe base64 tokens the sandbox issues (43 or 64 characters).

use std::path::{Path, PathBuf};

use constant_contact_sandbox::RegisteredClient;
use plugboard_tests::workspace_root;
use serde_json::Value;

/// What the recorder replaces secrets with (`plugboard_testkit::SCRUBBED`).
const MARKER: &str = "[scrubbed]";

const SENSITIVE_FIELDS: [&str; 6] = [
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "api_key",
    "password",
];

const SENSITIVE_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
];

/// Directories never searched: build output and VCS data.
const SKIPPED_DIRS: [&str; 4] = ["target", ".git", "node_modules", ".jj"];

/// Every `*.json` file in a directory named `cassettes`, anywhere under `root`.
fn cassette_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    // Bounded: a workspace has far fewer directories than this.
    let mut visited = 0;
    while let Some(dir) = pending.pop() {
        visited += 1;
        assert!(
            visited < 100_000,
            "too many directories under {}",
            root.display()
        );
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) {
                pending.push(path);
            } else if kind.is_file()
                && name.ends_with(".json")
                && dir.file_name().is_some_and(|d| d == "cassettes")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Every secret-looking thing in one cassette's text, described.
fn leaks(text: &str, known_secrets: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in known_secrets {
        if text.contains(secret.as_str()) {
            found.push("a sandbox client secret".to_owned());
        }
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => check_value(&value, "", &mut found),
        Err(error) => found.push(format!("not JSON ({error}), so it cannot be checked")),
    }
    found
}

fn is_marker(value: &Value) -> bool {
    value.as_str() == Some(MARKER) || value.is_null()
}

fn check_value(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{at}/{key}");
                if SENSITIVE_FIELDS.contains(&key.to_ascii_lowercase().as_str()) && !is_marker(item)
                {
                    found.push(format!("{here}: the `{key}` field is not scrubbed"));
                }
                check_value(item, &here, found);
            }
        }
        Value::Array(items) => {
            if let [Value::String(name), item] = items.as_slice()
                && SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                && !is_marker(item)
            {
                found.push(format!("{at}: the `{name}` header is not scrubbed"));
            }
            for (index, item) in items.iter().enumerate() {
                check_value(item, &format!("{at}/{index}"), found);
            }
        }
        Value::String(text) => check_text(text, at, found),
        _ => {}
    }
}

fn check_text(text: &str, at: &str, found: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    for scheme in ["bearer ", "basic "] {
        if let Some(start) = lower.find(scheme) {
            let rest = &text[start + scheme.len()..];
            let credential: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
                .collect();
            // A credential has digits; prose ("basic information") does not.
            if credential.len() >= 8 && credential.chars().any(|c| c.is_ascii_digit()) {
                found.push(format!("{at}: a `{}` credential", scheme.trim()));
            }
        }
    }
    for field in SENSITIVE_FIELDS {
        for (position, _) in lower.match_indices(&format!("{field}=")) {
            let value = &text[position + field.len() + 1..];
            if !value.starts_with(MARKER) && !value.starts_with('&') && !value.is_empty() {
                found.push(format!(
                    "{at}: a `{field}=` query parameter is not scrubbed"
                ));
            }
        }
    }
    if (text.starts_with('{') || text.starts_with('['))
        && let Ok(inner) = serde_json::from_str::<Value>(text)
    {
        check_value(&inner, &format!("{at}(json)"), found);
    }
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
        if looks_like_jwt(word) {
            found.push(format!("{at}: a JWT"));
        }
        for part in word.split('.') {
            if looks_like_sandbox_token(part) {
                found.push(format!(
                    "{at}: a token-shaped string of {} characters",
                    part.len()
                ));
            }
        }
    }
}

/// `header.payload.signature`, each URL-safe base64, the header starting `eyJ` (`{"`).
fn looks_like_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].len() >= 8
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// The sandbox's tokens: 32 or 48 random bytes as URL-safe base64 (43 or 64 characters), mixing
/// upper case, lower case and digits. UUIDs (36) and paging cursors (base64 of JSON, `eyJ...`)
/// do not fit.
fn looks_like_sandbox_token(word: &str) -> bool {
    (word.len() == 43 || word.len() == 64)
        && !word.starts_with("eyJ")
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && word.chars().any(|c| c.is_ascii_uppercase())
        && word.chars().any(|c| c.is_ascii_lowercase())
        && word.chars().any(|c| c.is_ascii_digit())
}

fn known_secrets() -> Vec<String> {
    vec![
        RegisteredClient::default().client_secret,
        // The end-to-end tests' per-process secrets all start like this.
        "e2e-secret-".to_owned(),
    ]
}

#[test]
fn no_committed_cassette_contains_a_secret() {
    let root = workspace_root();
    let files = cassette_files(&root);
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(root.join("connectors/constant-contact/tests/cassettes"))),
        "the Constant Contact cassettes were not found under {}: {files:?}",
        root.display()
    );
    let secrets = known_secrets();
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable cassette");
        for leak in leaks(&text, &secrets) {
            problems.push(format!("{}: {leak}", file.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "secrets in committed cassettes (re-record them; the recorder scrubs):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_each_kind_of_leak() {
    let secrets = known_secrets();
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    let sandbox_token = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJD";
    assert_eq!(sandbox_token.len(), 68);
    let token64 = &sandbox_token[..64];
    let cases = [
        (
            r#"{"access_token": "abc123"}"#.to_owned(),
            "`access_token` field",
        ),
        (
            r#"{"headers": [["authorization", "x"]]}"#.to_owned(),
            "`authorization` header",
        ),
        (
            r#"{"text": "Bearer abcdefgh12345"}"#.to_owned(),
            "`bearer` credential",
        ),
        (
            r#"{"text": "Basic c2FuZGJveDpzZWNyZXQ="}"#.to_owned(),
            "`basic` credential",
        ),
        (
            r#"{"path": "/x?refresh_token=r-123&y=1"}"#.to_owned(),
            "`refresh_token=` query",
        ),
        (
            r#"{"secret": "sandbox-secret"}"#.to_owned(),
            "client secret",
        ),
        (format!(r#"{{"token": "{jwt}"}}"#), "JWT"),
        (format!(r#"{{"token": "{token64}"}}"#), "token-shaped"),
        (
            r#"{"text": "{\"id_token\": \"inner\"}"}"#.to_owned(),
            "`id_token` field",
        ),
    ];
    for (text, expected) in cases {
        let found = leaks(&text, &secrets);
        assert!(
            found.iter().any(|f| f.contains(expected)),
            "{text}: expected {expected}, found {found:?}"
        );
    }
    let clean = r#"{
        "access_token": "[scrubbed]",
        "headers": [["set-cookie", "[scrubbed]"], ["content-type", "application/json"]],
        "path": "/v3/contacts?cursor=eyJvIjoxMDAsInEiOnsibGltaXQiOiIxMDAifX0&access_token=[scrubbed]",
        "contact_id": "7e5ba615-5208-4fc6-8df1-01e3bab88b9f"
    }"#;
    assert_eq!(leaks(clean, &secrets), Vec::<String>::new());
}
