//! Turning a manifest's rate limits into keyed charges on the shared store.
//!
//! A budget's key names the connector, the limit and the scope's value, so every connection and
//! process that shares the API's real budget (Constant Contact: one `client_id`) charges the same
//! row. A settings value is hashed into the key: the key lands in the store and in logs, and a
//! settings value may be sensitive.
//!
//! - A [`ResetRule::Rolling`] limit becomes GCRA spacing with no burst (requests spaced by
//!   `window / limit`, plus a small safety margin) guarded by the completion times of the last
//!   `limit` requests (see [`LimitCharge::Rolling`]), so no rolling window ever holds more than
//!   `limit` arrivals, even when the network delays one request more than the next.
//! - A [`ResetRule::CalendarUtc`] limit becomes a counter per UTC calendar window (a daily quota
//!   resets at 00:00 UTC).

use plugboard_core::{LimitScope, RateLimit, ResetRule};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::store::LimitCharge;

/// A limit with the key of its budget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyedLimit {
    pub(crate) limit: RateLimit,
    pub(crate) key: String,
}

/// A short, stable digest of a settings value for use in keys.
fn digest(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let hash = Sha256::digest(text.as_bytes());
    hash.iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Keys each limit for one connection; `prefix` separates families (the token endpoint's).
pub(crate) fn keyed(
    connector_id: &str,
    prefix: &str,
    limits: &[RateLimit],
    settings: &Map<String, Value>,
    connection: &str,
) -> Vec<KeyedLimit> {
    limits
        .iter()
        .map(|limit| {
            let scope = match &limit.scope {
                LimitScope::Connection => format!("connection:{connection}"),
                LimitScope::Connector => "connector".to_owned(),
                LimitScope::Setting { field } => match settings.get(field) {
                    Some(value) => format!("{field}:{}", digest(value)),
                    None => format!("{field}:unset"),
                },
            };
            let window = limit.window.seconds();
            let reset = match limit.reset {
                ResetRule::Rolling => "rolling",
                ResetRule::CalendarUtc => "utc",
            };
            KeyedLimit {
                key: format!(
                    "{connector_id}/{prefix}{}per{window}s-{reset}/{scope}",
                    limit.limit
                ),
                limit: limit.clone(),
            }
        })
        .collect()
}

/// The charges one request makes at `now_ms`.
pub(crate) fn charges(
    limits: &[KeyedLimit],
    now_ms: i64,
    safety_margin: f64,
    inflight_cap_us: i64,
) -> Vec<LimitCharge> {
    limits
        .iter()
        .filter(|l| l.limit.limit > 0)
        .map(|l| {
            let window_ms = i64::try_from(l.limit.window.seconds())
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000);
            match l.limit.reset {
                ResetRule::Rolling => {
                    let window_us =
                        (window_ms as f64 * 1000.0 * (1.0 + safety_margin.max(0.0))).ceil() as i64;
                    LimitCharge::Rolling {
                        key: l.key.clone(),
                        limit: l.limit.limit,
                        window_us,
                        interval_us: window_us / i64::try_from(l.limit.limit).unwrap_or(1),
                        inflight_cap_us,
                    }
                }
                ResetRule::CalendarUtc => {
                    let start = now_ms.div_euclid(window_ms) * window_ms;
                    LimitCharge::Counter {
                        key: l.key.clone(),
                        window_start_ms: start,
                        window_end_ms: start + window_ms,
                        limit: l.limit.limit,
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use plugboard_core::Window;
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_share_a_budget_per_setting_value_without_showing_it() {
        let limits = [RateLimit::per_second_by_setting(4, "client_id")];
        let settings = json!({"client_id": "app-123"});
        let settings = settings.as_object().expect("object");
        let a = keyed("cc", "", &limits, settings, "one");
        let b = keyed("cc", "", &limits, settings, "two");
        assert_eq!(a, b, "two connections of one client_id share the budget");
        assert!(!a[0].key.contains("app-123"), "{}", a[0].key);
        assert!(
            a[0].key.starts_with("cc/4per1s-rolling/client_id:"),
            "{}",
            a[0].key
        );
    }

    #[test]
    fn rolling_limits_space_requests_and_daily_limits_count_per_utc_day() {
        let limits = keyed(
            "cc",
            "",
            &[
                RateLimit::per_second_by_setting(4, "client_id"),
                RateLimit {
                    limit: 10,
                    window: Window::Day,
                    scope: LimitScope::Connector,
                    reset: ResetRule::CalendarUtc,
                },
            ],
            &Map::new(),
            "c",
        );
        let now = 86_400_000 * 3 + 5_000;
        let charges = charges(&limits, now, 0.01, 1_000_000);
        assert!(matches!(
            &charges[0],
            LimitCharge::Rolling {
                interval_us: 252_500,
                window_us: 1_010_000,
                limit: 4,
                ..
            }
        ));
        assert!(matches!(
            &charges[1],
            LimitCharge::Counter { window_start_ms, window_end_ms, limit: 10, .. }
                if *window_start_ms == 86_400_000 * 3 && *window_end_ms == 86_400_000 * 4
        ));
    }
}
