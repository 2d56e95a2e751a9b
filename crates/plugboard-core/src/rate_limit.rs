//! Rate limits an API enforces, declared as data so the host can stay under them.
//!
//! The scope matters as much as the number: Constant Contact counts requests per application key,
//! shared by every customer's connection, so a per-connection limiter alone would still overrun it.

//!
//! A limit may also be chosen per connection: a generic connector cannot know the API it talks
//! to, so a settings field (e.g. `requests_per_second`) marked with [`LIMIT_KEYWORD`] supplies the
//! number, and no value means no limit. See [`limits_from_settings`].

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One limit: at most `limit` requests per `window`, counted per `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimit {
    /// The most requests allowed in one window.
    pub limit: u64,
    /// The window length.
    pub window: Window,
    /// Who shares the budget.
    pub scope: LimitScope,
    /// When a used budget comes back.
    pub reset: ResetRule,
}

/// A window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl Window {
    /// The window length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }
}

/// Who shares one budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "per", rename_all = "snake_case")]
pub enum LimitScope {
    /// Each connection has its own budget.
    Connection,
    /// Every connection with the same value of a settings field shares one budget, e.g. all
    /// connections of one OAuth application (`client_id`).
    Setting {
        /// The settings field whose value keys the budget.
        field: String,
    },
    /// All connections of this connector share one budget.
    Connector,
}

/// When used budget becomes available again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetRule {
    /// Budget returns continuously: any `window`-long span holds at most `limit` requests.
    Rolling,
    /// The whole budget returns at once when the calendar window ends in UTC (for a daily limit,
    /// at 00:00 UTC).
    CalendarUtc,
}

/// Schema keyword on a settings field whose integer value is a rate limit's `limit`; the
/// keyword's value is a [`SettingLimit`] (window, scope, reset). Like the level and secrecy
/// keywords, it lets the settings schema alone say what a field means to the host.
pub const LIMIT_KEYWORD: &str = "x-plugboard-rate-limit";

/// A rate limit without its number, which a settings field supplies per connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SettingLimit {
    /// The window length.
    pub window: Window,
    /// Who shares the budget.
    pub scope: LimitScope,
    /// When a used budget comes back.
    pub reset: ResetRule,
}

impl SettingLimit {
    /// Marks a settings field's schema as supplying this limit's number.
    pub fn mark(&self, schema: &mut Schema) {
        if let Ok(value) = serde_json::to_value(self) {
            schema.insert(LIMIT_KEYWORD.to_owned(), value);
        }
    }

    /// The limit with `limit` requests per window.
    pub fn with_limit(&self, limit: u64) -> RateLimit {
        RateLimit {
            limit,
            window: self.window,
            scope: self.scope.clone(),
            reset: self.reset,
        }
    }
}

/// Schemars transform: this integer setting is a rolling per-second limit of each connection
/// (absent, `null` or 0: no limit).
///
/// ```
/// use plugboard_core::rate_limit::{self, limits_from_settings};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Settings {
///     /// The most requests per second this connection may send.
///     #[schemars(transform = rate_limit::per_second_setting)]
///     requests_per_second: Option<u32>,
/// }
///
/// let schema = schemars::schema_for!(Settings);
/// let settings = serde_json::json!({"requests_per_second": 5});
/// let limits = limits_from_settings(&schema, settings.as_object().unwrap());
/// assert_eq!(limits[0].limit, 5);
/// assert!(limits_from_settings(&schema, &Default::default()).is_empty());
/// ```
pub fn per_second_setting(schema: &mut Schema) {
    per_window_setting(schema, Window::Second);
}

/// Schemars transform: like [`per_second_setting`], per minute.
pub fn per_minute_setting(schema: &mut Schema) {
    per_window_setting(schema, Window::Minute);
}

fn per_window_setting(schema: &mut Schema, window: Window) {
    SettingLimit {
        window,
        scope: LimitScope::Connection,
        reset: ResetRule::Rolling,
    }
    .mark(schema);
}

/// The settings fields that set a limit, with the limit each sets (in schema order), so a host
/// can show them (`plugboard describe`) before any connection exists.
pub fn setting_limits(settings_schema: &Schema) -> Vec<(String, SettingLimit)> {
    settings_schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(field, property)| {
            let marked = serde_json::from_value(property.get(LIMIT_KEYWORD)?.clone()).ok()?;
            Some((field.clone(), marked))
        })
        .collect()
}

/// The limits a connection's settings give: one per top-level field marked with
/// [`LIMIT_KEYWORD`] whose value is a positive integer (a whole-number float or numeric text is
/// accepted too, as forms write them). Fields without a value give no limit.
pub fn limits_from_settings(
    settings_schema: &Schema,
    settings: &Map<String, Value>,
) -> Vec<RateLimit> {
    setting_limits(settings_schema)
        .into_iter()
        .filter_map(|(field, marked)| {
            let limit = match settings.get(&field)? {
                Value::Number(n) => n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                }),
                Value::String(text) => text.trim().parse::<u64>().ok(),
                _ => None,
            }?;
            (limit > 0).then(|| marked.with_limit(limit))
        })
        .collect()
}

impl RateLimit {
    /// A limit per second shared by every connection using the same value of `field`.
    pub fn per_second_by_setting(limit: u64, field: &str) -> Self {
        Self {
            limit,
            window: Window::Second,
            scope: LimitScope::Setting {
                field: field.to_owned(),
            },
            reset: ResetRule::Rolling,
        }
    }

    /// A short human description, for `plugboard describe`.
    pub fn summary(&self) -> String {
        let requests = if self.limit == 1 {
            "request"
        } else {
            "requests"
        };
        describe_limit(
            &format!("{} {requests}", self.limit),
            self.window,
            &self.scope,
            self.reset,
        )
    }
}

impl SettingLimit {
    /// A short human description naming the settings field that supplies the number, for
    /// `plugboard describe`, which shows a connector's limits before any connection exists.
    pub fn summary(&self, field: &str) -> String {
        describe_limit(
            &format!("`{field}` requests"),
            self.window,
            &self.scope,
            self.reset,
        )
    }
}

/// "N requests/window, scope, reset", shared by fixed limits and settings-supplied ones.
fn describe_limit(requests: &str, window: Window, scope: &LimitScope, reset: ResetRule) -> String {
    let window = match window {
        Window::Second => "second",
        Window::Minute => "minute",
        Window::Hour => "hour",
        Window::Day => "day",
    };
    let scope = match scope {
        LimitScope::Connection => "per connection".to_owned(),
        LimitScope::Setting { field } => format!("shared per `{field}`"),
        LimitScope::Connector => "shared by all connections".to_owned(),
    };
    let reset = match reset {
        ResetRule::Rolling => "rolling",
        ResetRule::CalendarUtc => "resets at the start of each UTC window",
    };
    format!("{requests}/{window}, {scope}, {reset}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Schema {
        let mut per_second = Schema::from(
            json!({"type": ["integer", "null"]})
                .as_object()
                .cloned()
                .expect("object"),
        );
        per_second_setting(&mut per_second);
        let mut per_minute = Schema::from(
            json!({"type": "integer"})
                .as_object()
                .cloned()
                .expect("object"),
        );
        SettingLimit {
            window: Window::Minute,
            scope: LimitScope::Connector,
            reset: ResetRule::CalendarUtc,
        }
        .mark(&mut per_minute);
        Schema::from(
            json!({
                "type": "object",
                "properties": {
                    "requests_per_second": per_second,
                    "per_minute": per_minute,
                    "other": {"type": "integer"}
                }
            })
            .as_object()
            .cloned()
            .expect("object"),
        )
    }

    #[test]
    fn the_keyword_serializes_as_a_limit_without_its_number() {
        let schema = schema();
        assert_eq!(
            schema.get("properties").expect("properties")["requests_per_second"][LIMIT_KEYWORD],
            json!({"window": "second", "scope": {"per": "connection"}, "reset": "rolling"})
        );
    }

    #[test]
    fn a_setting_limit_is_described_by_its_field() {
        let described: Vec<String> = setting_limits(&schema())
            .iter()
            .map(|(field, limit)| limit.summary(field))
            .collect();
        assert_eq!(
            described,
            [
                "`requests_per_second` requests/second, per connection, rolling",
                "`per_minute` requests/minute, shared by all connections, resets at the start of \
                 each UTC window",
            ]
        );
    }

    #[test]
    fn settings_values_become_limits_and_absent_values_none() {
        let schema = schema();
        let declared: Vec<String> = setting_limits(&schema)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(declared, ["requests_per_second", "per_minute"]);
        let settings = json!({"requests_per_second": 3, "per_minute": "120", "other": 9});
        let limits = limits_from_settings(&schema, settings.as_object().expect("object"));
        assert_eq!(
            limits,
            vec![
                RateLimit {
                    limit: 3,
                    window: Window::Second,
                    scope: LimitScope::Connection,
                    reset: ResetRule::Rolling,
                },
                RateLimit {
                    limit: 120,
                    window: Window::Minute,
                    scope: LimitScope::Connector,
                    reset: ResetRule::CalendarUtc,
                },
            ]
        );
        for none in [
            json!({}),
            json!({"requests_per_second": null}),
            json!({"requests_per_second": 0}),
            json!({"requests_per_second": -2}),
            json!({"requests_per_second": 1.5}),
            json!({"requests_per_second": "lots"}),
        ] {
            assert!(
                limits_from_settings(&schema, none.as_object().expect("object")).is_empty(),
                "{none}"
            );
        }
    }
}
