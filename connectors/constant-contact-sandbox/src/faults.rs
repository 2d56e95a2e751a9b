//! Fault injection: 5xx answers, latency, dropped connections and forced 429s, drawn from a seeded
//! generator so a test sees the same faults on every run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The faults to inject into API requests (`/v3/...`); the default injects none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fraction (0..=1) of API requests answered 500 or 503.
    pub error_rate: f64,
    /// Delay added before every API request is handled (JSON: `latency_ms`).
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// Fraction (0..=1) of API requests whose connection is closed without any response.
    pub drop_rate: f64,
    /// Fraction (0..=1) of API requests that change something (POST, PUT, PATCH, DELETE) whose
    /// connection is closed after they were handled: the change happened, the answer is lost.
    pub drop_after_rate: f64,
    /// The next N API requests are answered 429 `throttled`.
    pub force_throttle: u32,
    /// The next N API requests are answered 401 whatever their token, as when the provider
    /// revokes tokens faster than a client can use them.
    pub force_unauthorized: u32,
    /// The next N requests that create a bulk activity (`POST /v3/activities/...`) are answered
    /// with the 429 the spec documents for a full queue: more than 1,000 queued activities.
    pub force_queue_full: u32,
    /// Seed of the generator that decides which requests fail.
    pub seed: u64,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// What to do with one API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Answer 429 `throttled`.
    Throttle,
    /// Answer 401.
    Unauthorized,
    /// Answer this 5xx status.
    ServerError(u16),
}

/// The active faults and their generator.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    rng: fastrand::Rng,
    throttle_left: u32,
    unauthorized_left: u32,
    queue_full_left: u32,
}

impl Default for FaultState {
    fn default() -> Self {
        Self::new(Faults::default())
    }
}

impl FaultState {
    /// Starts injecting `faults` from the beginning of their seeded sequence.
    pub fn new(faults: Faults) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(faults.seed),
            throttle_left: faults.force_throttle,
            unauthorized_left: faults.force_unauthorized,
            queue_full_left: faults.force_queue_full,
            faults,
        }
    }

    /// Decides the latency and the fault (if any) for the next API request.
    pub fn next(&mut self) -> (Duration, Option<Fault>) {
        let latency = self.faults.latency;
        if self.faults.drop_rate > 0.0 && self.rng.f64() < self.faults.drop_rate {
            return (latency, Some(Fault::Drop));
        }
        if self.unauthorized_left > 0 {
            self.unauthorized_left -= 1;
            return (latency, Some(Fault::Unauthorized));
        }
        if self.throttle_left > 0 {
            self.throttle_left -= 1;
            return (latency, Some(Fault::Throttle));
        }
        if self.faults.error_rate > 0.0 && self.rng.f64() < self.faults.error_rate {
            let status = if self.rng.bool() { 500 } else { 503 };
            return (latency, Some(Fault::ServerError(status)));
        }
        (latency, None)
    }

    /// Whether to refuse a bulk activity because its queue is full (one of `force_queue_full`).
    pub fn queue_full(&mut self) -> bool {
        if self.queue_full_left > 0 {
            self.queue_full_left -= 1;
            true
        } else {
            false
        }
    }

    /// Whether to lose the answer of a change that was just handled.
    pub fn drop_after_processing(&mut self) -> bool {
        self.faults.drop_after_rate > 0.0 && self.rng.f64() < self.faults.drop_after_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_deterministic_and_forced_throttles_run_out() {
        let faults = Faults {
            error_rate: 0.5,
            force_throttle: 2,
            seed: 9,
            ..Faults::default()
        };
        let run = |f: &Faults| {
            let mut state = FaultState::new(f.clone());
            (0..20).map(|_| state.next().1).collect::<Vec<_>>()
        };
        let first = run(&faults);
        assert_eq!(first, run(&faults));
        assert_eq!(first[..2], [Some(Fault::Throttle), Some(Fault::Throttle)]);
        assert!(!first[2..].contains(&Some(Fault::Throttle)));
        assert!(
            first
                .iter()
                .any(|f| matches!(f, Some(Fault::ServerError(_))))
        );
        assert!(first.iter().any(Option::is_none));
    }

    #[test]
    fn faults_read_latency_in_milliseconds() {
        let faults: Faults =
            serde_json::from_str(r#"{"latency_ms": 250, "drop_rate": 1.0}"#).expect("valid faults");
        assert_eq!(faults.latency, Duration::from_millis(250));
        assert!((faults.drop_rate - 1.0).abs() < f64::EPSILON);
    }
}
