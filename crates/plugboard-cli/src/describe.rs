//! Human-readable renderings of the registry and of manifests.

use std::fmt::Write as _;

use plugboard_core::rate_limit;
use plugboard_core::settings::{self, Level};
use plugboard_core::{AuthSpec, MethodDescriptor, MethodKind, OutputShape};
use plugboard_runner::{RegisteredConnector, Registry};
use serde_json::Value;

use crate::schema_view::{self, Role, one_line};

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
    if let Some(first) = m.methods.first() {
        let _ = writeln!(
            out,
            "\nOne method's inputs and outputs in full: plugboard describe {} {}",
            m.id, first.id
        );
    }
    out
}

fn method_lines(out: &mut String, method: &MethodDescriptor) {
    let idempotent = if method.idempotent {
        ", idempotent"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "    {}  {} ({}, {}{idempotent})",
        method.id,
        method.name,
        kind(method),
        shape(method)
    );
    let _ = writeln!(out, "        {}", method.description);
    let _ = writeln!(
        out,
        "        input: {}",
        fields_summary(method.input_schema.as_value())
    );
}

/// `name (type, required)` for each top-level input: enough to write a step without opening the
/// method's own page, which has the nested fields, allowed values and limits.
fn fields_summary(schema: &Value) -> String {
    let fields = schema_view::top_fields(schema);
    if fields.is_empty() {
        return "(none)".to_owned();
    }
    fields
        .iter()
        .map(|field| {
            if field.must_be_given() {
                format!("{} ({}, required)", field.name, field.node.type_name)
            } else {
                format!("{} ({})", field.name, field.node.type_name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(method: &MethodDescriptor) -> &'static str {
    match method.kind {
        MethodKind::Action => "action",
        MethodKind::PollTrigger => "poll trigger",
    }
}

fn shape(method: &MethodDescriptor) -> &'static str {
    match method.output {
        OutputShape::One => "one value",
        OutputShape::Records => "streams records",
    }
}

/// The method with this id, or an error naming the ids the user probably meant (or, when nothing
/// is close, all of them: a connector has few enough methods to list).
pub fn find_method<'a>(
    connector: &'a RegisteredConnector,
    id: &str,
) -> anyhow::Result<&'a MethodDescriptor> {
    let m = connector.manifest();
    if let Some(method) = m.method(id) {
        return Ok(method);
    }
    let ids: Vec<&str> = m.methods.iter().map(|d| d.id.as_str()).collect();
    let close = close_matches(id, &ids);
    if close.is_empty() {
        anyhow::bail!(
            "connector `{}` has no method `{id}`; its methods: {}",
            m.id,
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        );
    }
    anyhow::bail!(
        "connector `{}` has no method `{id}`; did you mean {}? (`plugboard describe {}` lists \
         them all)",
        m.id,
        close
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(" or "),
        m.id
    )
}

/// Ids within a small edit distance of `wanted`, or containing it, closest first (at most five).
fn close_matches<'a>(wanted: &str, ids: &[&'a str]) -> Vec<&'a str> {
    let wanted = wanted.to_lowercase();
    let allowed = (wanted.chars().count() / 4).max(2);
    let mut scored: Vec<(usize, &str)> = ids
        .iter()
        .filter_map(|&id| {
            let distance = edit_distance(&wanted, &id.to_lowercase());
            let contains = wanted.len() >= 3 && id.to_lowercase().contains(&wanted);
            (distance <= allowed || contains).then_some((distance, id))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, id)| id).collect()
}

/// Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// One method in full: what it is, then its input, output and record fields as trees.
pub fn method(connector: &RegisteredConnector, method: &MethodDescriptor) -> String {
    let m = connector.manifest();
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", method.id, method.name);
    let _ = writeln!(out, "{}\n", one_line(&method.description));
    let _ = writeln!(out, "Connector   {} ({})", m.id, m.name);
    let _ = writeln!(out, "Category    {}", method.category);
    let _ = writeln!(out, "Kind        {}", kind(method));
    let _ = writeln!(out, "Output      {}", shape(method));
    let _ = writeln!(
        out,
        "Idempotent  {}",
        if method.idempotent {
            "yes (calling it again with the same input does no more)"
        } else {
            "no (a repeated call acts again)"
        }
    );
    let _ = writeln!(
        out,
        "In a step   \"call\": \"<connection>.{}\" (the connection named in the workflow's \
         `connections`)",
        method.id
    );

    let _ = writeln!(out, "\nInputs (the step's `input`)");
    out.push_str(&schema_view::render(
        method.input_schema.as_value(),
        "  ",
        Role::Input,
    ));
    match method.output {
        OutputShape::One => {
            let _ = writeln!(out, "\nOutputs (`steps.<id>.output`)");
            out.push_str(&schema_view::render(
                method.output_schema.as_value(),
                "  ",
                Role::Output,
            ));
        }
        OutputShape::Records => {
            let _ = writeln!(
                out,
                "\nOutputs: records, streamed one at a time (`for_each` over \
                 `{{{{ steps.<id>.records }}}}`, or `records_to` a file)"
            );
            match &method.record_schema {
                Some(record) => {
                    out.push_str(&schema_view::render(record.as_value(), "  ", Role::Output))
                }
                None => out.push_str("  (not described)\n"),
            }
            let _ = writeln!(
                out,
                "\nOutputs: the call's result once the stream ends (`steps.<id>.output`)"
            );
            out.push_str(&schema_view::render(
                method.output_schema.as_value(),
                "  ",
                Role::Output,
            ));
        }
    }
    out
}
