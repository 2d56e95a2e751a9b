//! The services tests need (a PostgreSQL server, a Temporal dev server), started for `cargo xtask test` and
//! always stopped again.
//!
//! Each service is a [`Service`] variant with: the packages whose tests need it (it is started
//! only when the selection includes one), the environment variable its address is passed in (if
//! the caller already set it, that instance is used and nothing is started), and a `start` that
//! returns a [`Running`] instance. [`Services`] is the guard: dropping it (an error, a panic)
//! stops everything it holds, in reverse order.
//!
//! To add one (the Temporal dev server, headless Chromium): a module with a `start` and a type
//! implementing [`Running`] whose `Drop` stops it, a variant here, and nothing else.

pub mod account;
pub mod chromium;
pub mod postgres;
pub mod temporal;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::signals::{Interrupts, signal_process};

/// A service some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// A throwaway PostgreSQL server with an empty database.
    Postgres,
    /// A throwaway Temporal dev server (its own database in a temporary folder).
    Temporal,
}

impl Service {
    /// Every service, in start order.
    pub const ALL: [Service; 2] = [Service::Postgres, Service::Temporal];

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Temporal => "temporal",
        }
    }

    /// The packages whose tests use it.
    pub fn needed_by(self) -> &'static [&'static str] {
        match self {
            // plugboard-tests: `tests/tests/postgres_*.rs` run the binary on a PostgreSQL state.
            Self::Postgres => &["plugboard-store-postgres", "plugboard-tests"],
            // plugboard-tests: `tests/tests/temporal_*.rs` run workers and runs on a dev server.
            Self::Temporal => &["plugboard-temporal", "plugboard-tests"],
        }
    }

    /// The variable the tests find it by.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Postgres => postgres::URL_VAR,
            Self::Temporal => temporal::ADDRESS_VAR,
        }
    }

    fn start(self, root: &Path, interrupts: &Interrupts) -> anyhow::Result<Box<dyn Running>> {
        match self {
            Self::Postgres => Ok(Box::new(postgres::start(interrupts)?)),
            Self::Temporal => Ok(Box::new(temporal::start(root, interrupts)?)),
        }
    }
}

/// A started service.
pub trait Running {
    /// What the tests are given to find it.
    fn env(&self) -> Vec<(String, String)>;
    /// Stops it and removes its files; a second call does nothing.
    fn stop(&mut self) -> anyhow::Result<()>;
}

/// The started services: stopped when dropped, whatever happened.
#[derive(Default)]
pub struct Services {
    running: Vec<(Service, Box<dyn Running>)>,
}

impl Services {
    /// Starts `needed` in order. If one fails, those already started are stopped.
    pub fn start(root: &Path, needed: &[Service], interrupts: &Interrupts) -> anyhow::Result<Self> {
        let mut services = Self::default();
        for service in needed {
            interrupts.check("starting the test services")?;
            let running = service.start(root, interrupts)?;
            services.running.push((*service, running));
        }
        Ok(services)
    }

    /// The environment the tests get.
    pub fn env(&self) -> Vec<(String, String)> {
        self.running
            .iter()
            .flat_map(|(_, running)| running.env())
            .collect()
    }

    /// Stops every service, the last started first; reports the first failure after trying all.
    pub fn stop_all(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while let Some((service, mut running)) = self.running.pop() {
            if let Err(error) = running.stop() {
                eprintln!("{}: could not stop cleanly: {error:#}", service.name());
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        // Errors were printed by stop_all; there is nobody left to return them to.
        let _ = self.stop_all();
    }
}

/// Waits up to `limit` for `child` to exit; true when it did.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            // Not ours to wait for any more, or it took too long.
            Ok(None) | Err(_) => return false,
        }
    }
}

/// Asks `child` to stop with `SIG<signal>`, waits up to `limit`, then kills it. Never waits
/// longer than `limit` plus the kill.
pub fn stop_child(child: &mut Child, signal: &str, limit: Duration) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    signal_process(child.id(), signal);
    if !wait_bounded(child, limit) {
        child.kill()?;
        child.wait()?;
        anyhow::bail!(
            "it did not stop within {} s of SIG{signal} and was killed",
            limit.as_secs()
        );
    }
    Ok(())
}

/// The last `lines` lines of a log file, for an error message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
