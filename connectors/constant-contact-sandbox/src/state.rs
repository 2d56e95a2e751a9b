//! The state every handler shares: configuration, the account, tokens, limiters, faults, counters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::config::SandboxConfig;
use crate::faults::FaultState;
use crate::limits::{Limiter, SlidingWindow};
use crate::oauth::TokenStore;
use crate::stats::Counters;
use crate::store::Store;

/// Shared by every request of one sandbox.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub store: Mutex<Store>,
    pub tokens: Mutex<TokenStore>,
    pub limiter: Mutex<Limiter>,
    pub token_limiter: Mutex<HashMap<String, SlidingWindow>>,
    pub faults: Mutex<FaultState>,
    pub counters: Counters,
}

/// The handlers' state.
pub(crate) type AppState = Arc<Shared>;

impl Shared {
    /// Fresh state for `config`, with its seeded account.
    pub fn new(config: SandboxConfig, store: Store) -> Self {
        Self {
            limiter: Mutex::new(Limiter::new(config.per_second_limit, config.daily_limit)),
            config,
            store: Mutex::new(store),
            tokens: Mutex::new(TokenStore::default()),
            token_limiter: Mutex::new(HashMap::new()),
            faults: Mutex::new(FaultState::default()),
            counters: Counters::default(),
        }
    }
}

/// Locks a mutex; a panic elsewhere does not make the sandbox unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
