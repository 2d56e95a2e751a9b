//! When a schedule fires: parsing `cron` / `every_secs` and computing the next fire time.
//!
//! The rule for missed slots (the service was down, or the schedule paused): the next fire is
//! the first slot *after now*, so a schedule that missed any number of slots fires once, not once
//! per slot. Interval schedules keep their phase (slots are `created + k × every`), so they do not
//! drift by the time each fire takes.

use std::str::FromStr as _;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use croner::Cron;

use crate::error::ApiError;
use crate::schedule_store::Timing;

/// The longest cron expression accepted.
const MAX_CRON_CHARS: usize = 200;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_schedule",
        message,
    )
}

/// Exactly one of `cron` and `every_secs`, checked.
pub fn parse(cron: Option<&str>, every_secs: Option<u64>) -> Result<Timing, ApiError> {
    match (cron, every_secs) {
        (Some(_), Some(_)) => Err(invalid("give either `cron` or `every_secs`, not both")),
        (None, None) => Err(invalid("give `cron` (in UTC) or `every_secs`")),
        (None, Some(0)) => Err(invalid("`every_secs` must be at least 1")),
        (None, Some(secs)) if secs > i64::MAX as u64 / 1000 => {
            Err(invalid("`every_secs` is too large"))
        }
        (None, Some(secs)) => Ok(Timing::Every(secs)),
        (Some(expression), None) => {
            let expression = expression.trim();
            if expression.chars().count() > MAX_CRON_CHARS {
                return Err(invalid(format!(
                    "`cron` is longer than {MAX_CRON_CHARS} characters"
                )));
            }
            let parsed = Cron::from_str(expression).map_err(|error| {
                invalid(format!(
                    "`cron` `{}` is not a cron expression: {error}",
                    plugboard_workflow::excerpt::excerpt(expression)
                ))
            })?;
            // An expression that matches no time at all (e.g. 30 February) would never fire.
            next_cron(&parsed, Utc::now().timestamp_millis()).map_err(|_| {
                invalid("`cron` never fires (it matches no date in the next years)")
            })?;
            Ok(Timing::Cron(expression.to_owned()))
        }
    }
}

fn next_cron(cron: &Cron, after_ms: i64) -> Result<i64, croner::errors::CronError> {
    let after: DateTime<Utc> = DateTime::from_timestamp_millis(after_ms).unwrap_or_default();
    cron.find_next_occurrence(&after, false)
        .map(|next| next.timestamp_millis())
}

fn unusable(timing: &Timing) -> ApiError {
    tracing::error!(?timing, "a stored schedule's timing cannot be evaluated");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the schedule's timing cannot be evaluated; delete it and create it again",
    )
}

/// The first fire of a new schedule created at `now_ms`.
pub fn first_fire(timing: &Timing, now_ms: i64) -> Result<i64, ApiError> {
    match timing {
        Timing::Every(secs) => Ok(now_ms.saturating_add(step_ms(*secs))),
        Timing::Cron(_) => next_after(timing, now_ms, now_ms),
    }
}

fn step_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
}

/// The first slot strictly after `now_ms`, for a schedule whose last planned slot was
/// `planned_ms` (see the module's rule for missed slots).
pub fn next_after(timing: &Timing, planned_ms: i64, now_ms: i64) -> Result<i64, ApiError> {
    match timing {
        Timing::Every(secs) => {
            let step = step_ms(*secs);
            if planned_ms > now_ms {
                return Ok(planned_ms);
            }
            let slots = (now_ms - planned_ms) / step + 1;
            Ok(planned_ms.saturating_add(slots.saturating_mul(step)))
        }
        Timing::Cron(expression) => {
            let cron = Cron::from_str(expression).map_err(|_| unusable(timing))?;
            next_cron(&cron, now_ms).map_err(|_| unusable(timing))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_keep_their_phase_and_missed_slots_fire_once() {
        let every = Timing::Every(10);
        assert_eq!(first_fire(&every, 1_000).expect("works"), 11_000);
        // Not yet due: unchanged.
        assert_eq!(next_after(&every, 11_000, 5_000).expect("works"), 11_000);
        // Fired a little late: the next slot, not 10 s after the late fire.
        assert_eq!(next_after(&every, 11_000, 11_400).expect("works"), 21_000);
        // Down for five slots: the first slot after now, once.
        assert_eq!(next_after(&every, 11_000, 63_000).expect("works"), 71_000);
    }

    #[test]
    fn cron_is_utc_and_takes_seconds_optionally() {
        let noon = Timing::Cron("0 12 * * *".into());
        // 2026-01-01T00:00:00Z
        let start = 1_767_225_600_000;
        assert_eq!(
            next_after(&noon, start, start).expect("works"),
            start + 12 * 3_600_000
        );
        let every_5s = parse(Some("*/5 * * * * *"), None).expect("works");
        assert_eq!(
            next_after(&every_5s, start, start).expect("works"),
            start + 5_000
        );
    }

    #[test]
    fn bad_timings_are_refused_with_the_reason() {
        let error = parse(Some("61 * * * *"), None).expect_err("refused");
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error.message.contains("61 * * * *"), "{}", error.message);
        assert!(
            parse(None, Some(0))
                .expect_err("refused")
                .message
                .contains("at least 1")
        );
        assert!(parse(Some("* * * * *"), Some(5)).is_err());
        assert!(parse(None, None).is_err());
        assert!(parse(Some(&"1 ".repeat(300)), None).is_err());
    }
}
