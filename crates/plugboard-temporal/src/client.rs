//! Connecting to Temporal, and starting, waiting for and listing runs.

pub use temporalio_client::Client;
use temporalio_client::{
    ClientOptions, Connection, ConnectionOptions, Url, WorkflowCancelOptions,
    WorkflowGetResultOptions, WorkflowIdReusePolicy, WorkflowStartOptions,
    errors::WorkflowStartError,
};

use crate::workflow::PlugboardRun;
use crate::{NAMESPACE, RunRequest, RunResult, TemporalError, workflow_id};

/// `HOST:PORT` checked and turned into the URL the client connects to.
pub fn target_url(address: &str) -> Result<url_free::Target, TemporalError> {
    url_free::Target::parse(address)
}

/// Connects to the Temporal front end at `address` (`HOST:PORT`), in namespace `default`.
pub async fn connect(address: &str) -> Result<Client, TemporalError> {
    let target = target_url(address)?;
    let unreachable = |why: String| TemporalError::Unreachable {
        address: address.to_owned(),
        why,
    };
    let url = Url::parse(&target.url).map_err(|e| unreachable(e.to_string()))?;
    let options = ConnectionOptions::new(url)
        .identity(format!("plugboard@{}", std::process::id()))
        .build();
    let connection = Connection::connect(options)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    Client::new(connection, ClientOptions::new(NAMESPACE).build())
        .map_err(|e| unreachable(e.to_string()))
}

/// Whether this call started the run, or found it already started (by an earlier call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Started now.
    New,
    /// A workflow with this run's id already existed: nothing new was started.
    AlreadyStarted,
}

/// Starts `request` as workflow [`workflow_id`]`(task_queue, request.run)`, unless it already
/// exists.
pub async fn start_run(
    client: &Client,
    task_queue: &str,
    request: RunRequest,
) -> Result<Started, TemporalError> {
    let id = workflow_id(task_queue, request.run);
    // Rejected even after the first ended: a run id is executed once, whatever its outcome
    // (a failed run is resumed by its workers' retries, not by a second workflow).
    let options = WorkflowStartOptions::new(task_queue, id.clone())
        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
        .build();
    match client
        .start_workflow(PlugboardRun::run, request, options)
        .await
    {
        Ok(_) => Ok(Started::New),
        Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(Started::AlreadyStarted),
        Err(error) => Err(TemporalError::Workflow {
            workflow_id: id,
            why: error.to_string(),
        }),
    }
}

/// Waits for run `run`'s workflow to end and returns its result.
pub async fn wait_for_run(
    client: &Client,
    task_queue: &str,
    run: i64,
) -> Result<RunResult, TemporalError> {
    let id = workflow_id(task_queue, run);
    client
        .get_workflow_handle::<PlugboardRun>(id.clone())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|error| TemporalError::Workflow {
            workflow_id: id,
            why: error.to_string(),
        })
}

/// Asks run `run`'s workflow to cancel: its worker stops the run at its next request or wait.
pub async fn cancel_run(client: &Client, task_queue: &str, run: i64) -> Result<(), TemporalError> {
    let id = workflow_id(task_queue, run);
    client
        .get_workflow_handle::<PlugboardRun>(id.clone())
        .cancel(WorkflowCancelOptions::default())
        .await
        .map_err(|error| TemporalError::Workflow {
            workflow_id: id,
            why: error.to_string(),
        })
}

/// Plain `HOST:PORT` parsing, so a typo is refused before any connection is tried.
pub mod url_free {
    use crate::TemporalError;

    /// A checked address.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Target {
        /// `http://HOST:PORT`.
        pub url: String,
    }

    impl Target {
        /// Accepts `HOST:PORT` (no scheme, a port in 1..=65535).
        pub fn parse(address: &str) -> Result<Self, TemporalError> {
            let bad = |why: &str| TemporalError::BadAddress {
                address: excerpt(address),
                why: why.to_owned(),
            };
            let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no `:PORT`"))?;
            if host.is_empty() || host.contains("://") || host.contains('/') {
                return Err(bad("expected a host name or IP address before `:PORT`"));
            }
            let port: u16 = port
                .parse()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| bad("the port is not a number in 1..=65535"))?;
            Ok(Self {
                url: format!("http://{host}:{port}"),
            })
        }
    }

    /// At most 60 characters of what was given, so an error never echoes a pasted secret whole.
    fn excerpt(text: &str) -> String {
        match text.char_indices().nth(60) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text.to_owned(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn host_and_port_are_accepted() {
            assert_eq!(
                Target::parse("127.0.0.1:7233").map(|t| t.url).ok(),
                Some("http://127.0.0.1:7233".to_owned())
            );
        }

        #[test]
        fn bad_addresses_say_why() {
            for bad in ["127.0.0.1", "http://x:1", ":7233", "h:0", "h:99999", "h:x"] {
                let error = Target::parse(bad).expect_err(bad).to_string();
                assert!(error.starts_with("--temporal "), "{error}");
            }
            let long = format!("{}:1", "x".repeat(500));
            assert!(Target::parse(&format!("{long}/")).is_err());
        }
    }
}
