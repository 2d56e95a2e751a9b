//! `plugboard partner`, `plugboard connect` and `plugboard connections`: the settings a partner
//! sets once, and the connections users install, never printing a secret.

use std::io::{BufRead as _, IsTerminal as _, Read, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use plugboard_core::settings;
use plugboard_runner::{ConnectOptions, Endpoints, Session};
use serde_json::{Map, Value};

/// Settings from the command line, and what to tell the user about how they were given.
pub struct Parsed {
    /// The values by field name.
    pub values: Map<String, Value>,
    /// Secret fields given as text on the command line, where `ps` and shell history see them.
    pub literal_secrets: Vec<String>,
    /// Whether a value was read from standard input (which then cannot answer questions).
    pub read_stdin: bool,
}

impl Parsed {
    /// Warns (on stderr) about each secret given on the command line; it is not an error, as a
    /// throwaway secret (a sandbox's) may well be typed.
    pub fn warn_about_literal_secrets(&self) {
        for name in &self.literal_secrets {
            eprintln!(
                "warning: `{name}` is a secret, and the command line is visible to other users \
                 (ps, /proc) and kept in shell history; give it as {name}=@FILE (read from a \
                 file) or {name}=@- (from standard input)"
            );
        }
    }
}

/// The largest value read from a file or standard input: a setting, not a data file (and
/// `@/dev/zero` must not hang).
const MAX_VALUE_BYTES: u64 = 1 << 20;

/// Parses `NAME=VALUE` settings; `NAME=@FILE` reads the value from a file, `NAME=@-` from `stdin`
/// (once), `NAME=@@…` is a value starting with a literal `@`. A value is read as JSON when the
/// field's schema wants a number, a boolean, an array or an object (`requests_per_second=5`), and
/// kept as text otherwise, so a key of digits is never turned into a number. No error shows a
/// value: any of them could be a secret.
pub fn parse_settings(
    schema: &schemars::Schema,
    pairs: &[String],
    stdin: &mut dyn Read,
) -> anyhow::Result<Parsed> {
    let fields = settings::fields(schema);
    let mut parsed = Parsed {
        values: Map::new(),
        literal_secrets: Vec::new(),
        read_stdin: false,
    };
    let mut from_stdin: Option<&str> = None;
    for (index, pair) in pairs.iter().enumerate() {
        let Some((name, given)) = pair.split_once('=') else {
            // A known field name is safe to echo; anything else may be a misplaced secret.
            if fields.iter().any(|f| &f.name == pair) {
                bail!("`{pair}` has no value; give it as {pair}=VALUE or {pair}=@FILE");
            }
            bail!(
                "setting {} is not of the form NAME=VALUE (not shown: it could be a secret)",
                index + 1
            );
        };
        let text = match given.strip_prefix('@') {
            None => {
                if !given.is_empty() && fields.iter().any(|f| f.name == name && f.secret) {
                    parsed.literal_secrets.push(name.to_owned());
                }
                given.to_owned()
            }
            Some(escaped) if escaped.starts_with('@') => escaped.to_owned(),
            Some("-") => {
                if let Some(first) = from_stdin {
                    bail!(
                        "only one setting can be read from standard input; `{first}` and \
                         `{name}` both ask for it"
                    );
                }
                from_stdin = Some(name);
                parsed.read_stdin = true;
                if std::io::stdin().is_terminal() {
                    eprintln!("{name}: (reading standard input until Ctrl-D)");
                }
                read_value(name, "standard input", stdin)?
            }
            Some("") => bail!("`{name}=@` names no file; give {name}=@FILE or {name}=@-"),
            Some(path) => {
                let what = format!("the file `{path}`");
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot read `{name}` from {what}"))?;
                read_value(name, &what, &mut &file)?
            }
        };
        let value = if wants_json(schema, name) {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        } else {
            Value::String(text)
        };
        parsed.values.insert(name.to_owned(), value);
    }
    Ok(parsed)
}

/// Whether the field's schema wants a number, a boolean, an array or an object, and not text.
fn wants_json(schema: &schemars::Schema, name: &str) -> bool {
    schema
        .get("properties")
        .and_then(|properties| properties.get(name))
        .and_then(|property| property.get("type"))
        .is_some_and(|kind| {
            let kinds: Vec<&str> = match kind {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            kinds
                .iter()
                .any(|k| matches!(*k, "integer" | "number" | "boolean" | "array" | "object"))
                && !kinds.contains(&"string")
        })
}

/// Reads one value: UTF-8, non-empty, without the line ending `echo` or a heredoc adds. Errors
/// name the field and the source, never the content.
fn read_value(name: &str, what: &str, from: &mut dyn Read) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    from.take(MAX_VALUE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read `{name}` from {what}"))?;
    if bytes.len() as u64 > MAX_VALUE_BYTES {
        bail!("cannot read `{name}` from {what}: it is larger than 1 MiB");
    }
    let Ok(mut text) = String::from_utf8(bytes) else {
        bail!("cannot read `{name}` from {what}: it is not UTF-8 text");
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        bail!("cannot read `{name}` from {what}: it is empty");
    }
    Ok(text)
}

/// `plugboard partner set`: merges values into the connector's partner-level settings.
pub fn partner_set(session: &Session, connector: &str, pairs: &[String]) -> anyhow::Result<()> {
    let Some(found) = session.registry().get(connector) else {
        bail!("no connector `{connector}` is loaded");
    };
    let schema = &found.manifest().settings_schema;
    let fields = settings::fields(schema);
    let parsed = parse_settings(schema, pairs, &mut std::io::stdin().lock())?;
    for name in parsed.values.keys() {
        match fields.iter().find(|f| &f.name == name) {
            None => bail!("`{connector}` has no setting `{name}`"),
            Some(field) if field.level != settings::Level::Partner => {
                bail!("`{name}` is a connection setting; give it to `plugboard connect`")
            }
            Some(_) => {}
        }
    }
    parsed.warn_about_literal_secrets();
    let mut partner = session.block_on(session.store().partner_settings(connector))?;
    partner.extend(parsed.values);
    session.block_on(session.store().set_partner_settings(connector, &partner))?;
    println!("partner settings of `{connector}` saved:");
    print!("{}", settings_listing(schema, &partner));
    Ok(())
}

/// `plugboard partner show`.
pub fn partner_show(session: &Session, connector: &str) -> anyhow::Result<()> {
    let Some(found) = session.registry().get(connector) else {
        bail!("no connector `{connector}` is loaded");
    };
    let partner = session.block_on(session.store().partner_settings(connector))?;
    print!(
        "{}",
        settings_listing(&found.manifest().settings_schema, &partner)
    );
    Ok(())
}

/// One line per partner-level field: its value, `(secret, set)`, or what happens when it is blank.
fn settings_listing(schema: &schemars::Schema, values: &Map<String, Value>) -> String {
    let mut out = String::new();
    for field in settings::fields(schema)
        .iter()
        .filter(|f| f.level == settings::Level::Partner)
    {
        let blank = if field.required {
            "(blank: each connection supplies it)"
        } else {
            "(not set: the connector's default applies)"
        };
        let shown = match values.get(&field.name) {
            None | Some(Value::Null) => blank.to_owned(),
            Some(Value::String(s)) if s.is_empty() => blank.to_owned(),
            Some(_) if field.secret => "(secret, set)".to_owned(),
            Some(value) => value.to_string(),
        };
        out.push_str(&format!("  {:<16} {shown}\n", field.name));
    }
    out
}

/// `plugboard connect`: asks for what the partner left blank, runs the authorization-code flow
/// with a loopback callback and stores the connection.
pub fn connect(
    session: &Session,
    connector: &str,
    name: &str,
    pairs: &[String],
    endpoints: Option<Endpoints>,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    let Some(found) = session.registry().get(connector) else {
        bail!("no connector `{connector}` is loaded");
    };
    let schema = found.manifest().settings_schema.clone();
    let partner = session.block_on(session.store().partner_settings(connector))?;
    let parsed = parse_settings(&schema, pairs, &mut std::io::stdin().lock())?;
    parsed.warn_about_literal_secrets();
    let mut values = parsed.values;
    if let Err(error) = plugboard_runner::settings::resolve(&schema, &partner, &values) {
        if parsed.read_stdin || !std::io::stdin().is_terminal() {
            bail!("{error}; give them with --set NAME=VALUE (a secret as --set NAME=@FILE)");
        }
        for problem in &error.problems {
            let name = problem.pointer.trim_start_matches('/');
            if name.is_empty() || values.contains_key(name) {
                continue;
            }
            let secret = settings::fields(&schema)
                .iter()
                .any(|f| f.name == name && f.secret);
            let answer = ask(name, secret)?;
            values.insert(name.to_owned(), Value::String(answer));
        }
    }
    let options = ConnectOptions {
        connector_id: connector.to_owned(),
        name: name.to_owned(),
        settings: values,
        endpoints,
        timeout,
    };
    let record = session
        .connect(options, &mut |url| {
            eprintln!("Open this address in a browser to grant access:\n\n  {url}\n");
            eprintln!(
                "Waiting for the authorization (up to {} s)…",
                timeout.as_secs()
            );
            Ok(())
        })
        .with_context(|| format!("cannot connect `{name}`"))?;
    let checked = (found.manifest().check.as_deref())
        .map(|method| format!(", and its check (`{method}`) passed"))
        .unwrap_or_default();
    println!(
        "connection `{}` ({}) installed{checked}",
        record.name, record.connector_id
    );
    Ok(ExitCode::SUCCESS)
}

/// Asks for one setting on the terminal (a secret is still echoed: no terminal crate is linked,
/// so say so).
fn ask(name: &str, secret: bool) -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    let note = if secret {
        " (secret; it is stored in the state file, not shown again)"
    } else {
        ""
    };
    write!(stderr, "{name}{note}: ")?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// `plugboard connections`.
pub fn list(session: &Session, json: bool) -> anyhow::Result<ExitCode> {
    let connections = session.block_on(session.store().connections())?;
    if json {
        let listing: Vec<Value> = connections
            .iter()
            .map(|c| {
                let needs_reauth = needs_reauth(session, &c.name);
                serde_json::json!({
                    "name": c.name,
                    "connector": c.connector_id,
                    "settings": c.settings.keys().collect::<Vec<_>>(),
                    "base_url": c.endpoints.as_ref().map(|e| e.base_url.clone()),
                    "usable": needs_reauth.is_none() && session.prepare(&c.name).is_ok(),
                    "needs_reauth": needs_reauth,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(ExitCode::SUCCESS);
    }
    if connections.is_empty() {
        println!("no connections; install one with `plugboard connect <connector> --name <name>`");
    }
    for connection in &connections {
        let status = match (
            needs_reauth(session, &connection.name),
            session.prepare(&connection.name),
        ) {
            (Some(reason), _) => format!("needs re-authorisation: {reason}"),
            (None, Ok(_)) => "ready".to_owned(),
            (None, Err(error)) => format!("not usable: {error}"),
        };
        let target = connection
            .endpoints
            .as_ref()
            .map(|e| format!(" at {}", e.base_url))
            .unwrap_or_default();
        println!(
            "{:<20} {:<20} {status}{target}",
            connection.name, connection.connector_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `connection` must be authorised again, when its refresh token was refused.
fn needs_reauth(session: &Session, connection: &str) -> Option<String> {
    session
        .block_on(session.store().tokens(connection))
        .ok()
        .flatten()
        .and_then(|tokens| tokens.needs_reauth)
}

/// `plugboard runs`: the journaled runs, newest first, to find the id `--resume` needs.
pub fn runs(session: &Session, json: bool) -> anyhow::Result<ExitCode> {
    let runs = session.block_on(session.store().runs())?;
    if json {
        let listing: Vec<Value> = runs
            .iter()
            .map(|run| {
                serde_json::json!({
                    "id": run.id.0,
                    "workflow": run.workflow,
                    "status": run.status.as_str(),
                    "error": run.error,
                    "started_at_ms": run.started_at_ms,
                    "finished_at_ms": run.finished_at_ms,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5}  {:<11}  {:<19}  {:>8}  workflow",
        "id", "status", "started (UTC)", "took"
    );
    for run in &runs {
        let error = run
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let took = run
            .finished_at_ms
            .map(|finished| duration(finished - run.started_at_ms))
            .unwrap_or_default();
        println!(
            "{:>5}  {:<11}  {:<19}  {took:>8}  {}{error}",
            run.id.0,
            run.status.as_str(),
            utc(run.started_at_ms),
            run.workflow
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-04 13:21:12`, from milliseconds since the epoch.
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schema() -> schemars::Schema {
        serde_json::from_value(serde_json::json!({
            "type": "object",
            "properties": {
                "client_id": { "type": "string" },
                "client_secret": { "type": "string", "x-plugboard-secret": true },
                "requests_per_second": { "type": "integer" }
            }
        }))
        .unwrap()
    }

    fn parse(pairs: &[&str], stdin: &str) -> anyhow::Result<Parsed> {
        let pairs: Vec<String> = pairs.iter().map(|p| (*p).to_owned()).collect();
        parse_settings(&schema(), &pairs, &mut stdin.as_bytes())
    }

    #[test]
    fn values_come_from_text_a_file_or_standard_input() {
        let file = std::env::temp_dir().join(format!("plugboard-rate-{}", std::process::id()));
        std::fs::write(&file, "5\n").unwrap();
        let rate = format!("requests_per_second=@{}", file.display());
        let parsed = parse(
            &["client_id=@@team", &rate, "client_secret=@-"],
            "s3cret\r\n",
        )
        .unwrap();
        assert_eq!(parsed.values["client_id"], "@team");
        assert_eq!(parsed.values["requests_per_second"], 5);
        assert_eq!(parsed.values["client_secret"], "s3cret");
        assert!(parsed.read_stdin);
        assert!(parsed.literal_secrets.is_empty());
        let _ = std::fs::remove_file(&file);
        // Only the last line ending goes: a multi-line value keeps its inner ones.
        assert_eq!(
            parse(&["client_id=@-"], "a\nb\n\n").unwrap().values["client_id"],
            "a\nb\n"
        );
    }

    #[test]
    fn a_literal_secret_is_noted_and_no_error_shows_a_value() {
        let parsed = parse(&["client_secret=typed", "client_id=x"], "").unwrap();
        assert_eq!(parsed.literal_secrets, ["client_secret"]);
        assert!(
            parse(&["client_secret="], "")
                .unwrap()
                .literal_secrets
                .is_empty()
        );
        for (pairs, stdin) in [
            (&["hunter2-password"][..], ""),
            (&["client_secret=@-"], ""),
            (&["client_id=@-", "client_secret=@-"], "hunter2-password"),
        ] {
            let error = format!("{:#}", parse(pairs, stdin).err().unwrap());
            assert!(!error.contains("hunter2"), "{error}");
        }
        let error = parse(&["client_secret"], "").err().unwrap().to_string();
        assert!(error.contains("client_secret=@FILE"), "{error}");
    }
}
