//! Schedules on Temporal: each plugboard schedule is a Temporal Schedule, so the cluster, not a
//! service process, decides when it fires, and it fires while every service process is down.
//!
//! At each slot the Temporal Schedule starts a [`PlugboardScheduledFire`] workflow. Its one
//! activity, on any worker, asks the binary's [`ScheduleFirer`] to turn the slot into a run: the
//! same checks and records as a run started through the API, the overlap rule, and at most one
//! run per slot (a retried activity finds its slot taken). The run then starts as a
//! [`crate::workflow::PlugboardRun`] of its own, so it is followed and cancelled like any other.
//! The fire's history holds the schedule's id and the store's label, never its inputs (they
//! stay sealed in the shared store).
// The SDK's `#[workflow_methods]` and `#[activities]` write an undocumented constant per method.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::schedules::{
    CreateScheduleOptions, DeleteScheduleOptions, ScheduleAction, ScheduleCalendarSpec,
    ScheduleError, ScheduleIntervalSpec, ScheduleOverlapPolicy, ScheduleSpec,
};
use temporalio_client::tonic::Code;
use temporalio_client::{Client, RetryPolicy, RpcOptions};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

/// How long a fire may take to record its run: the checks, a few store writes and the run's
/// start on the cluster.
const FIRE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long after a slot the cluster still starts its fire when it could not at the slot (it
/// was down): a fire that late would find its slot superseded anyway, so the cluster does not
/// start one per missed slot.
const CATCHUP_WINDOW: Duration = Duration::from_secs(60);

/// The Temporal Schedule id of plugboard schedule `schedule` of the store served on
/// `task_queue`; each fire's workflow id is this and the slot (`plugboard-schedule-3-2026-…Z`).
pub fn schedule_id(task_queue: &str, schedule: i64) -> String {
    format!("{task_queue}-schedule-{schedule}")
}

/// A fire's input: which schedule, of which store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduledFire {
    /// The schedule's id in the shared store.
    pub schedule: i64,
    /// The shared store's label (`host:port/database`): a worker serving another store refuses
    /// the fire rather than fire that store's schedule of the same id.
    pub state: String,
}

/// What a fire did, for people reading the cluster's UI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FireResult {
    /// The schedule's id.
    pub schedule: i64,
    /// The run it started, if it started one.
    pub run: Option<i64>,
    /// What happened, in a few words (`started run 12`, `skipped: run 11 has not ended`).
    pub outcome: String,
}

/// Turns a slot of a schedule into a run, on a worker. Provided by the binary (this crate knows
/// nothing of the service's records).
pub trait ScheduleFirer: Send + Sync + 'static {
    /// Fires `fire.schedule` for the slot at `slot_ms` (ms since the Unix epoch, whole
    /// seconds): at most once per slot, however often it is called. An `Err` is a failure of
    /// the worker's surroundings (the store unreachable): Temporal retries it.
    fn fire<'a>(
        &'a self,
        fire: &'a ScheduledFire,
        slot_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Result<FireResult, String>> + Send + 'a>>;
}

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
    /// Every `secs` seconds at the slots the embedded scheduler uses for a schedule created at
    /// `created_at_ms`: `created + k × every` (Temporal's slots are multiples of the interval
    /// since the Unix epoch, so the phase is the creation time modulo the interval).
    pub fn every(secs: u64, created_at_ms: i64) -> Result<Self, String> {
        let every_ms = i64::try_from(secs)
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("every {secs} s cannot be a Temporal interval"))?;
        let phase_ms = u64::try_from(created_at_ms.rem_euclid(every_ms)).unwrap_or(0);
        Ok(FireTimes::Every {
            every: Duration::from_secs(secs),
            offset: Duration::from_millis(phase_ms),
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

    fn spec(self) -> ScheduleSpec {
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

/// Why the cluster did not take a schedule change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleRefusal {
    /// The cluster refused the schedule itself (a timing it cannot read): the reason is its own.
    #[error("Temporal refused the schedule: {0}")]
    Invalid(String),
    /// The cluster could not be reached or failed.
    #[error("Temporal did not take the change: {0}")]
    Unavailable(String),
}

fn refusal(error: ScheduleError) -> ScheduleRefusal {
    match &error {
        ScheduleError::Rpc(status) if status.code() == Code::InvalidArgument => {
            ScheduleRefusal::Invalid(status.message().to_owned())
        }
        _ => ScheduleRefusal::Unavailable(error.to_string()),
    }
}

/// Makes plugboard schedule `fire.schedule` a Temporal Schedule on `task_queue` firing at
/// `times`, paused or not; one that exists already is brought to `paused` (so this also brings
/// the schedules of a service that ran without a cluster onto it).
pub async fn put_schedule(
    client: &Client,
    task_queue: &str,
    fire: ScheduledFire,
    times: FireTimes,
    paused: bool,
) -> Result<(), ScheduleRefusal> {
    let id = schedule_id(task_queue, fire.schedule);
    let action =
        ScheduleAction::start_workflow(PlugboardScheduledFire::run, fire, task_queue, id.clone());
    let options = CreateScheduleOptions::builder()
        .action(action)
        .spec(times.spec())
        // A fire still going (no worker has taken it) is not stacked by the next slot.
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .paused(paused)
        .build();
    match client.create_schedule(id.clone(), options).await {
        Ok(_) => {}
        Err(ScheduleError::Rpc(status)) if status.code() == Code::AlreadyExists => {}
        Err(error) => return Err(refusal(error)),
    }
    client
        .get_schedule_handle(id)
        .update(
            move |update| {
                update.set_catchup_window(CATCHUP_WINDOW).set_paused(paused);
            },
            RpcOptions::default(),
        )
        .await
        .map_err(refusal)
}

/// Pauses (no fire until resumed) or resumes schedule `schedule`.
pub async fn pause_schedule(
    client: &Client,
    task_queue: &str,
    schedule: i64,
    paused: bool,
) -> Result<(), ScheduleRefusal> {
    let handle = client.get_schedule_handle(schedule_id(task_queue, schedule));
    let note = Some(if paused {
        "paused through plugboard"
    } else {
        "resumed through plugboard"
    });
    let done = if paused {
        handle.pause(note, Default::default()).await
    } else {
        handle.unpause(note, Default::default()).await
    };
    done.map_err(refusal)
}

/// Deletes schedule `schedule` from the cluster; one the cluster does not have is no error.
pub async fn delete_schedule(
    client: &Client,
    task_queue: &str,
    schedule: i64,
) -> Result<(), ScheduleRefusal> {
    let handle = client.get_schedule_handle(schedule_id(task_queue, schedule));
    match handle.delete(DeleteScheduleOptions::default()).await {
        Ok(()) => Ok(()),
        Err(ScheduleError::Rpc(status)) if status.code() == Code::NotFound => Ok(()),
        Err(error) => Err(refusal(error)),
    }
}

/// The slot a fire's workflow id names: Temporal appends the slot, to the second, in RFC 3339
/// (`…-schedule-3-2026-12-05T10:00:05Z`).
pub fn slot_of(workflow_id: &str, schedule_id: &str) -> Option<i64> {
    let time = workflow_id.strip_prefix(schedule_id)?.strip_prefix('-')?;
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|time| time.timestamp_millis())
}

/// A schedule's fire on Temporal.
#[workflow]
#[derive(Default)]
pub struct PlugboardScheduledFire;

#[workflow_methods]
impl PlugboardScheduledFire {
    /// Fires the schedule as one activity (retried until a worker can reach the store: the
    /// slot is taken at most once) and returns what it did.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        fire: ScheduledFire,
    ) -> WorkflowResult<FireResult> {
        let options = ActivityOptions::with_start_to_close_timeout(FIRE_TIMEOUT)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_interval(Duration::from_secs(30))
                    .build(),
            )
            .summary(format!("schedule {}", fire.schedule))
            .build();
        let result = ctx
            .execute_activity(FireActivities::fire_schedule, fire, options)
            .await?;
        Ok(result)
    }
}

/// The activity that fires a schedule, over the binary's [`ScheduleFirer`].
pub struct FireActivities {
    firer: Arc<dyn ScheduleFirer>,
    task_queue: String,
}

impl FireActivities {
    /// Activities that fire schedules of the store served on `task_queue` with `firer`.
    pub fn new(firer: Arc<dyn ScheduleFirer>, task_queue: &str) -> Self {
        Self {
            firer,
            task_queue: task_queue.to_owned(),
        }
    }
}

#[activities]
impl FireActivities {
    /// Fires the schedule for the slot its workflow id names.
    #[activity]
    pub async fn fire_schedule(
        self: Arc<Self>,
        ctx: ActivityContext,
        fire: ScheduledFire,
    ) -> Result<FireResult, ActivityError> {
        let workflow_id = ctx.info().workflow_id.clone().unwrap_or_default();
        let Some(slot_ms) = slot_of(&workflow_id, &schedule_id(&self.task_queue, fire.schedule))
        else {
            // Not started by its Temporal Schedule (by hand, say): no slot, no run.
            return Ok(FireResult {
                schedule: fire.schedule,
                run: None,
                outcome: format!("not fired: workflow id `{workflow_id}` names no slot"),
            });
        };
        self.firer
            .fire(&fire, slot_ms)
            .await
            .map_err(|why| ActivityError::from(std::io::Error::other(why)))
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
                offset: Duration::from_millis(3_250),
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

    #[test]
    fn the_slot_is_read_from_the_fire_s_workflow_id() {
        let id = schedule_id("plugboard", 3);
        assert_eq!(
            slot_of(&format!("{id}-2026-01-01T00:00:05Z"), &id),
            Some(1_767_225_605_000)
        );
        assert_eq!(slot_of(&format!("{id}-soon"), &id), None);
        // Schedule 31's fires are not schedule 3's.
        assert_eq!(
            slot_of(
                &format!("{}-2026-01-01T00:00:05Z", schedule_id("plugboard", 31)),
                &id
            ),
            None
        );
    }
}
