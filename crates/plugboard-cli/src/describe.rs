//! Human-readable renderings of the registry and of manifests.

use std::fmt::Write as _;

use plugboard_core::rate_limit;
use plugboard_core::settings::{self, Level};
use plugboard_core::{AuthSpec, MethodDescriptor, MethodKind, OutputShape};
use plugboard_runner::{RegisteredConnector, Registry};
use serde_json::Value;

/// One line per connector: id, version, method count, source.
pub fn connector_table(registry: &Registry) -> String {
    let mut out = String::new();
    if registry.is_empty() {
        out.push_str("no connectors\n");
        return out;
    }
    let width = registry
        .iter()
        .map(|c| c.manifest().id.len())
        .max()
        .unwrap_or(0);
    for connector in registry.iter() {
        let m = connector.manifest();
        let _ = writeln!(
            out,
            "{:width$}  {:8}  {:>3} methods  {}  ({})",
            m.id,
            m.version,
            m.methods.len(),
            m.name,
            connector.source
        );
    }
    out
}

/// The whole manifest, for reading in a terminal.
pub fn manifest(connector: &RegisteredConnector) -> String {
    let m = connector.manifest();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} {}, {})",
        m.name, m.id, m.version, connector.source
    );
    let _ = writeln!(out, "{}\n", m.description);
    let _ = writeln!(out, "Base URL  {}", m.base_url);

    let _ = writeln!(out, "Auth      {}", m.auth.summary());
    if let AuthSpec::OAuth2AuthorizationCode(oauth) = &m.auth {
        let _ = writeln!(out, "          authorize {}", oauth.authorize_url);
        let _ = writeln!(out, "          token     {}", oauth.token_url);
        let _ = writeln!(
            out,
            "          scopes    {}",
            oauth.default_scopes.join(" ")
        );
        if let Some(lifetime) = oauth.access_token_lifetime_secs {
            let _ = writeln!(out, "          access tokens live {} h", lifetime / 3600);
        }
        if let Some(limit) = &oauth.token_endpoint_limit {
            let _ = writeln!(out, "          token endpoint limit: {}", limit.summary());
        }
    }
    let fixed = m.rate_limits.iter().map(|limit| limit.summary());
    let from_settings = rate_limit::setting_limits(&m.settings_schema)
        .into_iter()
        .map(|(field, limit)| format!("{} (when set)", limit.summary(&field)));
    for (i, line) in fixed.chain(from_settings).enumerate() {
        let label = if i == 0 { "Limits" } else { "" };
        let _ = writeln!(out, "{label:10}{line}");
    }

    let _ = writeln!(out, "\nSettings");
    let fields = settings::fields(&m.settings_schema);
    let name_width = fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for field in &fields {
        let mut traits = vec![match field.level {
            Level::Partner => "partner level",
            Level::Connection => "per connection",
        }];
        if field.required {
            traits.push("required");
        }
        if field.secret {
            traits.push("secret");
        }
        let _ = writeln!(
            out,
            "  {:name_width$}  {} ({})",
            field.name,
            field.title,
            traits.join(", ")
        );
        if let Some(description) = &field.description {
            let _ = writeln!(out, "  {:name_width$}    {}", "", one_line(description));
        }
    }

    let _ = writeln!(out, "\nMethods");
    for category in m.categories() {
        let _ = writeln!(out, "  {category}");
        for method in m.methods.iter().filter(|d| d.category == category) {
            method_lines(&mut out, method);
        }
    }
    out
}

fn method_lines(out: &mut String, method: &MethodDescriptor) {
    let kind = match method.kind {
        MethodKind::Action => "action",
        MethodKind::PollTrigger => "poll trigger",
    };
    let shape = match method.output {
        OutputShape::One => "one value",
        OutputShape::Records => "streams records",
    };
    let idempotent = if method.idempotent {
        ", idempotent"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "    {}  {} ({kind}, {shape}{idempotent})",
        method.id, method.name
    );
    let _ = writeln!(out, "        {}", method.description);
    let _ = writeln!(
        out,
        "        input: {}",
        fields_summary(method.input_schema.as_value())
    );
}

/// `name`, `name?` (optional) for each top-level property of an object schema.
fn fields_summary(schema: &Value) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let names: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| {
            if required.contains(&name.as_str()) {
                name.clone()
            } else {
                format!("{name}?")
            }
        })
        .collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
