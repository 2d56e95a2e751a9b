//! Tokens, their versions, the refresh lease and the needs-reauthorisation mark:
//! [`TokenStore`]. The lease's rules are in [`lease`](super::lease).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::{StoreFuture, local_host_id, process_is_provably_dead};

/// A connection's OAuth2 tokens. The tokens are `SecretString`s, so `Debug` never shows them.
#[derive(Clone, Debug)]
pub struct TokenSet {
    /// The bearer token sent with API requests.
    pub access_token: SecretString,
    /// The token that buys a new access token; single-use when the API rotates it.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in seconds since the Unix epoch, when known.
    pub expires_at: Option<i64>,
    /// The scopes granted, space-separated, when the server said.
    pub scope: Option<String>,
}

impl PartialEq for TokenSet {
    fn eq(&self, other: &Self) -> bool {
        self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(ExposeSecret::expose_secret)
                == other
                    .refresh_token
                    .as_ref()
                    .map(ExposeSecret::expose_secret)
            && self.expires_at == other.expires_at
            && self.scope == other.scope
    }
}

/// A [`TokenSet`] with its version: every write of a connection's tokens increments it, so a
/// process that waited for someone else's refresh can tell that the tokens changed.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionedTokens {
    /// The tokens.
    pub tokens: TokenSet,
    /// Starts at 1 and grows by one with every write.
    pub version: i64,
    /// Why the connection must be authorised again, once the token endpoint refused its refresh
    /// token: kept, so every process and `plugboard connections` say so at once instead of
    /// spending token requests on a dead grant. Cleared by new tokens.
    pub needs_reauth: Option<String>,
    /// When these tokens were stored (ms since the epoch): with `expires_at`, their lifetime, so
    /// a refresh comes a fraction of it early, not a fixed time that may exceed it.
    pub stored_at_ms: Option<i64>,
}

/// Who holds (or asks for) a refresh lease: enough for another process to tell that the holder
/// died, so a lease left by a killed process is taken over at once instead of after it lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// Unique per executor: only the holder that took a lease commits or releases it.
    pub id: String,
    /// The holder's process id; meaningful only where [`LeaseHolder::host`] matches ours.
    pub pid: u32,
    /// Which process table `pid` belongs to (see [`local_host_id`]); pids on another machine or
    /// in another pid namespace say nothing about our processes.
    pub host: String,
}

impl LeaseHolder {
    /// A holder named `id` in this process, on this machine.
    pub fn this_process(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            pid: std::process::id(),
            host: local_host_id().to_owned(),
        }
    }

    /// True only when the holder ran on this machine (same [`local_host_id`]) and its process no
    /// longer exists (or is a zombie). Anything uncertain (another machine, a reused pid, no
    /// permission to ask, a non-unix system) counts as alive: the lease then lapses by time.
    pub fn is_provably_dead(&self) -> bool {
        process_is_provably_dead(self.pid, &self.host)
    }

    /// The host name part of [`LeaseHolder::host`], for messages.
    pub fn host_name(&self) -> &str {
        self.host.split('/').next().unwrap_or_default()
    }
}

/// The answer to a refresh-lease request.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// The caller holds the lease until `until_ms` and may call the token endpoint.
    Acquired {
        /// Token version when the lease was taken; the refresh must start from it.
        version: i64,
        /// When the lease lapses (ms since the epoch) if never released.
        until_ms: i64,
        /// The holder whose unexpired lease was taken over because its process is dead (worth
        /// a log line: it may have spent the refresh token before dying).
        took_over: Option<LeaseHolder>,
    },
    /// Someone else holds it; wait for the version to change.
    Held {
        /// The current token version.
        version: i64,
        /// Who holds it, when known (a lease taken by an older plugboard records no process).
        holder: Option<LeaseHolder>,
        /// When it lapses (ms since the epoch) unless released first.
        until_ms: i64,
    },
    /// The connection has no tokens to refresh.
    NoTokens,
}

/// What [`TokenStore::commit_refresh`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// The new tokens are stored under this version (and the lease released).
    Committed(i64),
    /// The version moved while we refreshed (our lease had lapsed): the stored tokens win.
    Conflict(VersionedTokens),
    /// The connection was deleted while we refreshed; nothing was written.
    Gone,
}

/// A connection's tokens and the refresh protocol's state (see the runner's `oauth` module):
/// versions, the cross-process refresh lease, and the mark of a grant the token endpoint
/// refused. Lease and commit decisions follow [`lease::decide`](super::lease::decide) and
/// [`lease::decide_commit`](super::lease::decide_commit).
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The connection's tokens and their version.
    fn tokens<'a>(&'a self, connection: &'a str) -> StoreFuture<'a, Option<VersionedTokens>>;
    /// Stores tokens unconditionally (a fresh authorization), durably; returns the new version.
    fn put_tokens<'a>(&'a self, connection: &'a str, tokens: &'a TokenSet) -> StoreFuture<'a, i64>;

    /// Takes the connection's refresh lease for `holder` unless another holder's lease is still
    /// running at `now_ms` and that holder is not provably dead
    /// ([`LeaseHolder::is_provably_dead`]). The check and the takeover are one transaction, so
    /// of many waiters for a dead holder exactly one takes its lease over.
    fn acquire_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, LeaseOutcome>;
    /// In one durable transaction: stores the refreshed tokens if the version is still
    /// `expected_version`, bumps the version and releases the lease of the holder with id
    /// `holder`.
    fn commit_refresh<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        tokens: &'a TokenSet,
    ) -> StoreFuture<'a, CommitOutcome>;
    /// Extends the refresh lease of the holder with id `holder` to `now_ms + lease_ms`, provided
    /// it still holds it and the tokens are still at `expected_version`; `false` otherwise.
    /// Called right before the refresh token is sent: a lease that lapsed during a long wait
    /// (a throttled token endpoint, a suspended machine) may have passed to another process
    /// that is sending the same single-use refresh token, and must not be acted on.
    fn renew_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, bool>;
    /// Marks the connection as needing a new authorization (why: `reason`) and releases the
    /// lease of `holder`, unless its tokens moved past `version` meanwhile (someone
    /// reconnected or refreshed).
    fn mark_needs_reauth<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        version: i64,
        reason: &'a str,
    ) -> StoreFuture<'a, ()>;
    /// Releases the lease of the holder with id `holder` (after a failed refresh); a lease since
    /// taken over by another holder is left alone.
    fn release_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
    ) -> StoreFuture<'a, ()>;
}
