//! The threads watched connector calls run on ([`crate::session`]), reused from call to call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How long an idle call thread waits for another call before it ends.
const WORKER_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many finished call threads a session keeps for later calls.
const MAX_IDLE_WORKERS: usize = 64;

/// One watched call's work, for a worker thread: it returns how to deliver its result.
pub(crate) type Job = Box<dyn FnOnce() -> Finish + Send>;

/// Delivers a finished job's result; run after the worker is idle again.
pub(crate) type Finish = Box<dyn FnOnce() + Send>;

/// The threads watched calls run on, reused: starting a thread costs 0.2-0.3 ms on a busy small
/// VM (more than the whole runner step it would serve), handing a job to a waiting one ~6 µs.
///
/// Each idle worker waits on its own channel; a call takes one off the idle list (or starts a
/// new one), so a job is only ever sent to a worker that is free: a call never queues behind a
/// slow or hung one. A worker whose call hangs simply never comes back. Idle workers end after
/// [`WORKER_IDLE_TIMEOUT`], and at once when the session is dropped.
#[derive(Default)]
pub(crate) struct Workers {
    idle: Mutex<Vec<IdleWorker>>,
    next_id: AtomicU64,
}

/// A worker waiting for a job.
struct IdleWorker {
    id: u64,
    jobs: Sender<Job>,
}

impl Workers {
    /// Runs `job` on a free worker, starting one if none is idle.
    pub(crate) fn run(self: &Arc<Self>, mut job: Job) -> std::io::Result<()> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(worker) = idle else {
                return self.start(job);
            };
            match worker.jobs.send(job) {
                Ok(()) => return Ok(()),
                // Its wait ended (it cannot while listed, but a lost job is worse than a
                // retry): try the next one.
                Err(returned) => job = returned.0,
            }
        }
    }

    fn start(self: &Arc<Self>, first: Job) -> std::io::Result<()> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let pool = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("plugboard-call".to_owned())
            .spawn(move || work(id, &pool, first))
            .map(drop)
    }
}

/// A worker's life: run a job, go back on the idle list, wait for the next one.
fn work(id: u64, pool: &Weak<Workers>, first: Job) {
    let mut job = first;
    loop {
        let finish = job();
        // A fresh channel per wait: its only sender is in the idle list, so a dropped session
        // (and its list) ends the wait at once.
        let (sender, jobs) = channel::<Job>();
        {
            let Some(workers) = pool.upgrade() else {
                finish();
                return;
            };
            let mut idle = workers.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() >= MAX_IDLE_WORKERS {
                drop(idle);
                finish();
                return;
            }
            idle.push(IdleWorker { id, jobs: sender });
        }
        finish();
        job = loop {
            match jobs.recv_timeout(WORKER_IDLE_TIMEOUT) {
                Ok(next) => break next,
                Err(RecvTimeoutError::Timeout) => {
                    let Some(workers) = pool.upgrade() else {
                        return;
                    };
                    let mut idle = workers.idle.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(at) = idle.iter().position(|w| w.id == id) {
                        idle.remove(at);
                        return;
                    }
                    // Not listed: a call took this worker and its job is on the way.
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
    }
}
