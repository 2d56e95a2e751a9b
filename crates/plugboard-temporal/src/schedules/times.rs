//! When a schedule fires, in Temporal's terms: an interval with a phase, or a cron expression's
//! fields as a calendar spec.

use std::time::Duration;

use temporalio_client::schedules::{ScheduleCalendarSpec, ScheduleIntervalSpec, ScheduleSpec};

/// When a schedule fires, in the cluster's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireTimes {
    /// Every `every`, at `offset` past each multiple of `every` since the Unix epoch.
    Every {
        /// The interval.
        every: Duration,
        /// Its phase.
        offset: Duration,
    },
    /// The times whose fields (UTC) match, as Temporal's calendar specs read them: `*`, `N`,
    /// `N-M`, `N-M/S`, `*/S`, lists, and names of months and days.
    Calendar {
        /// 0–59.
        second: String,
        /// 0–59.
        minute: String,
        /// 0–23.
        hour: String,
        /// 1–31.
        day_of_month: String,
        /// 1–12 or `JAN`…
        month: String,
        /// 0–6 or `SUN`…
        day_of_week: String,
    },
    /// A cron string as Temporal reads it (`@daily`, `@every 10m`).
    Cron(String),
}

impl FireTimes {
    /// Every `secs` seconds, at the slots the embedded scheduler uses for a schedule created
    /// at `created_at_ms` (`created + k × every`), to the second: Temporal's slots are multiples
    /// of the interval since the Unix epoch plus a phase it keeps in whole seconds, so the phase
    /// is the creation time modulo the interval, rounded down to the second. A fire's slot is
    /// matched to the schedule's next fire time to the second (see
    /// `plugboard_service::schedules::fire_on_cluster`).
    pub fn every(secs: u64, created_at_ms: i64) -> Result<Self, String> {
        let every_ms = i64::try_from(secs)
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("every {secs} s cannot be a Temporal interval"))?;
        let phase_secs = u64::try_from(created_at_ms.rem_euclid(every_ms) / 1000).unwrap_or(0);
        Ok(FireTimes::Every {
            every: Duration::from_secs(secs),
            offset: Duration::from_secs(phase_secs),
        })
    }

    /// A cron expression of 5 fields, or 6 with seconds first, field by field as a calendar
    /// spec, so Temporal reads each field as cron does (it refuses what it does not read, such
    /// as `L` or `#`); `@daily` and the like go to Temporal as they are. One that restricts both
    /// the day of the month and the day of the week is refused: cron fires when either
    /// matches, a calendar spec only when both do.
    pub fn cron(expression: &str) -> Result<Self, String> {
        if expression.starts_with('@') {
            return Ok(FireTimes::Cron(expression.to_owned()));
        }
        let fields: Vec<&str> = expression.split_whitespace().collect();
        let (second, rest) = match fields.as_slice() {
            [minute, hour, day, month, weekday] => ("0", [minute, hour, day, month, weekday]),
            [second, minute, hour, day, month, weekday] => {
                (*second, [minute, hour, day, month, weekday])
            }
            _ => return Err(format!("`{expression}` has neither 5 nor 6 fields")),
        };
        let [minute, hour, day, month, weekday] = rest.map(|field| match *field {
            "?" => "*".to_owned(),
            field => field.to_owned(),
        });
        if day != "*" && weekday != "*" {
            return Err(format!(
                "`{expression}` restricts both the day of the month and the day of the week; \
                 on Temporal a schedule restricts one of them"
            ));
        }
        Ok(FireTimes::Calendar {
            second: second.to_owned(),
            minute,
            hour,
            day_of_month: day,
            month,
            day_of_week: weekday,
        })
    }

    pub(super) fn spec(self) -> ScheduleSpec {
        match self {
            FireTimes::Every { every, offset } => ScheduleSpec::builder()
                .intervals(vec![ScheduleIntervalSpec::new(every, Some(offset))])
                .build(),
            FireTimes::Calendar {
                second,
                minute,
                hour,
                day_of_month,
                month,
                day_of_week,
            } => ScheduleSpec::from_calendar(
                ScheduleCalendarSpec::builder()
                    .second(second)
                    .minute(minute)
                    .hour(hour)
                    .day_of_month(day_of_month)
                    .month(month)
                    .day_of_week(day_of_week)
                    .build(),
            ),
            FireTimes::Cron(cron) => ScheduleSpec::builder().cron_strings(vec![cron]).build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_keep_the_phase_of_their_creation() {
        assert_eq!(
            FireTimes::every(10, 1_000_003_250).expect("fits"),
            FireTimes::Every {
                every: Duration::from_secs(10),
                offset: Duration::from_secs(3),
            }
        );
        assert!(FireTimes::every(0, 0).is_err());
    }

    #[test]
    fn cron_fields_become_calendar_fields() {
        assert_eq!(
            FireTimes::cron("*/5 9-17 * * MON-FRI").expect("fits"),
            FireTimes::Calendar {
                second: "0".into(),
                minute: "*/5".into(),
                hour: "9-17".into(),
                day_of_month: "*".into(),
                month: "*".into(),
                day_of_week: "MON-FRI".into(),
            }
        );
        assert!(matches!(
            FireTimes::cron("*/2 * * * * ?").expect("fits"),
            FireTimes::Calendar { second, day_of_week, .. } if second == "*/2" && day_of_week == "*"
        ));
        assert_eq!(
            FireTimes::cron("@daily").expect("fits"),
            FireTimes::Cron("@daily".into())
        );
        assert!(
            FireTimes::cron("0 12 1 * MON")
                .expect_err("refused")
                .contains("both")
        );
        assert!(FireTimes::cron("* * *").is_err());
    }
}
