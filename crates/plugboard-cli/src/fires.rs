//! A worker's side of schedules on Temporal: the cluster fires a schedule, and the worker turns
//! the fire into a run through the service's own logic (the same checks, tenant isolation and
//! records as `POST …/runs`), then starts it on the cluster like the service would.

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use plugboard_runner::Session;
use plugboard_service::Service;
use plugboard_service::postgres::PgServiceStore;
use plugboard_service::runs::LiveRuns;
use plugboard_temporal::schedules::{FireFailure, FireResult, ScheduleFirer, ScheduledFire};

use crate::temporal::ServiceRuns;

/// Fires schedules of the shared store the worker serves.
pub struct ServiceFirer {
    service: Arc<Service>,
    state_label: String,
}

impl ServiceFirer {
    /// A firer over the worker's `session` and the service's records in the same database
    /// (`store`), starting runs on the cluster at `address`, `task_queue`.
    pub fn new(
        session: &Session,
        store: Arc<plugboard_store_postgres::PostgresStore>,
        state_file: &Path,
        address: &str,
        task_queue: &str,
    ) -> anyhow::Result<Self> {
        let remote = ServiceRuns::connect(address, task_queue, state_file, session.handle())?;
        let records = Arc::new(PgServiceStore::new(store));
        let service = Service {
            store: Arc::clone(&records) as _,
            // A worker serves no page and no callback.
            public_url: String::new(),
            runner: session.clone(),
            endpoints: BTreeMap::new(),
            workflows: Arc::clone(&records) as _,
            schedules: records,
            live_runs: LiveRuns::default(),
            install_expiry: std::time::Duration::ZERO,
            remote: Some(Arc::new(remote)),
        };
        Ok(Self {
            service: Arc::new(service),
            state_label: crate::temporal::state_label(state_file)?,
        })
    }
}

impl ScheduleFirer for ServiceFirer {
    fn fire<'a>(
        &'a self,
        fire: &'a ScheduledFire,
        slot_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Result<FireResult, FireFailure>> + Send + 'a>> {
        Box::pin(async move {
            if fire.state != self.state_label {
                return Err(FireFailure::Refused(format!(
                    "schedule {} belongs to the state {}, and this worker serves {}; give the \
                     stores different --task-queue names",
                    fire.schedule, fire.state, self.state_label
                )));
            }
            let fired = plugboard_service::schedules::fire_on_cluster(
                &self.service,
                fire.schedule,
                slot_ms,
            )
            .await
            .map_err(|error| FireFailure::Retry(format!("schedule {}: {error}", fire.schedule)))?;
            eprintln!("worker: schedule {}: {fired}", fire.schedule);
            Ok(FireResult {
                schedule: fire.schedule,
                run: fired.run(),
                outcome: fired.to_string(),
            })
        })
    }
}
