//! `plugboard partner`, `plugboard connect` and `plugboard connections`: the settings a partner
//! sets once, and the connections users install, never printing a secret.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use plugboard_core::settings;
use plugboard_runner::{ConnectOptions, Endpoints, Session};
use serde_json::{Map, Value};

/// Parses `name=value` settings. A value is read as JSON when the field's schema wants a number,
/// a boolean, an array or an object (`requests_per_second=5`), and kept as text otherwise, so a
/// string setting such as a key of digits is never turned into a number.
pub fn parse_settings(
    schema: &schemars::Schema,
    pairs: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((name, text)) = pair.split_once('=') else {
            bail!("`{}` is not of the form NAME=VALUE", first_part(pair));
        };
        let wants_json = schema
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
            });
        let value = if wants_json {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        } else {
            Value::String(text.to_owned())
        };
        map.insert(name.to_owned(), value);
    }
    Ok(map)
}

/// The part of a malformed pair that is safe to echo (a value could be a secret).
fn first_part(pair: &str) -> String {
    pair.chars().take(24).collect::<String>() + if pair.len() > 24 { "…" } else { "" }
}

/// `plugboard partner set`: merges values into the connector's partner-level settings.
pub fn partner_set(session: &Session, connector: &str, pairs: &[String]) -> anyhow::Result<()> {
    let Some(found) = session.registry().get(connector) else {
        bail!("no connector `{connector}` is loaded");
    };
    let schema = &found.manifest().settings_schema;
    let fields = settings::fields(schema);
    let values = parse_settings(schema, pairs)?;
    for name in values.keys() {
        match fields.iter().find(|f| &f.name == name) {
            None => bail!("`{connector}` has no setting `{name}`"),
            Some(field) if field.level != settings::Level::Partner => {
                bail!("`{name}` is a connection setting; give it to `plugboard connect`")
            }
            Some(_) => {}
        }
    }
    let mut partner = session.store().partner_settings(connector)?;
    partner.extend(values);
    session.store().set_partner_settings(connector, &partner)?;
    println!("partner settings of `{connector}` saved:");
    print!("{}", settings_listing(schema, &partner));
    Ok(())
}

/// `plugboard partner show`.
pub fn partner_show(session: &Session, connector: &str) -> anyhow::Result<()> {
    let Some(found) = session.registry().get(connector) else {
        bail!("no connector `{connector}` is loaded");
    };
    let partner = session.store().partner_settings(connector)?;
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
    let partner = session.store().partner_settings(connector)?;
    let mut values = parse_settings(&schema, pairs)?;
    if let Err(error) = settings::resolve(&schema, &partner, &values) {
        if !std::io::stdin().is_terminal() {
            bail!("{error}; give them with --set NAME=VALUE");
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
    println!(
        "connection `{}` ({}) installed",
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
    let connections = session.store().connections()?;
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
        .store()
        .tokens(connection)
        .ok()
        .flatten()
        .and_then(|tokens| tokens.needs_reauth)
}

/// `plugboard runs`: the journaled runs, newest first, to find the id `--resume` needs.
pub fn runs(session: &Session, json: bool) -> anyhow::Result<ExitCode> {
    let runs = session.store().runs()?;
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
    }
    for run in &runs {
        let error = run
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        println!(
            "{:>5}  {:<10} {}{error}",
            run.id.0,
            run.status.as_str(),
            run.workflow
        );
    }
    Ok(ExitCode::SUCCESS)
}
