//! Rate limits an API enforces, declared as data so the host can stay under them.
//!
//! The scope matters as much as the number: Constant Contact counts requests per application key,
//! shared by every customer's connection, so a per-connection limiter alone would still overrun it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
        let window = match self.window {
            Window::Second => "second",
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        };
        let scope = match &self.scope {
            LimitScope::Connection => "per connection".to_owned(),
            LimitScope::Setting { field } => format!("shared per `{field}`"),
            LimitScope::Connector => "shared by all connections".to_owned(),
        };
        let reset = match self.reset {
            ResetRule::Rolling => "rolling",
            ResetRule::CalendarUtc => "resets at the start of each UTC window",
        };
        let requests = if self.limit == 1 {
            "request"
        } else {
            "requests"
        };
        format!("{} {requests}/{window}, {scope}, {reset}", self.limit)
    }
}
