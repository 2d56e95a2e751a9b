//! [`TokenStore`] for [`PostgresStore`]: sealed tokens, their versions, and the refresh lease in
//! the same `tokens` row.
//!
//! Every lease and commit decision locks the connection's row (`SELECT … FOR UPDATE`), reads the
//! decision clock ([`decision_clock`](crate::decision_clock)) and asks the runner's
//! [`lease::decide`] / [`lease::decide_commit`], so the rules are the ones SQLite follows. The
//! lease is fenced by the token version, as in SQLite: a renewal or a commit names the version
//! its refresh started from, and a holder whose lease passed to another cannot renew (so never
//! sends its refresh token). `lease_fence` counts the grants, for operators reading the table.

use plugboard_runner::StoreError;
use plugboard_runner::store::lease::{self, CommitDecision, LeaseDecision, StoredLease};
use plugboard_runner::store::{
    CommitOutcome, LeaseHolder, LeaseOutcome, StoreFuture, TokenSet, TokenStore, VersionedTokens,
    process_is_provably_dead,
};
use tokio_postgres::GenericClient;

use crate::tokens::StoredTokens;
use crate::{DEFAULT_TENANT, PgStoreError, PostgresStore};

/// The SQL assignments that clear a connection's refresh lease (every lease column).
macro_rules! no_lease {
    () => {
        "lease_holder = NULL, lease_until_ms = NULL, lease_pid = NULL, lease_host = NULL"
    };
}

fn stored(tokens: &TokenSet) -> StoredTokens {
    StoredTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        expires_at: tokens.expires_at,
        scope: tokens.scope.clone(),
    }
}

impl PostgresStore {
    /// A connection's tokens with their version, mark and age, read through `client` (a
    /// transaction when the caller holds the row's lock).
    async fn read_versioned(
        &self,
        client: &impl GenericClient,
        connection: &str,
        lock: bool,
    ) -> Result<Option<VersionedTokens>, StoreError> {
        let sql = if lock {
            "SELECT access_token_sealed, refresh_token_sealed, expires_at, scope, version,
                    reauth_reason, updated_at_ms
             FROM tokens WHERE tenant_id = $1 AND connection = $2 FOR UPDATE"
        } else {
            "SELECT access_token_sealed, refresh_token_sealed, expires_at, scope, version,
                    reauth_reason, updated_at_ms
             FROM tokens WHERE tenant_id = $1 AND connection = $2"
        };
        let row = client
            .query_opt(sql, &[&DEFAULT_TENANT, &connection])
            .await
            .map_err(self.failed("reading tokens"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tokens = self.open_tokens(DEFAULT_TENANT, connection, row.get(0), row.get(1))?;
        Ok(Some(VersionedTokens {
            tokens: TokenSet {
                access_token: tokens.0,
                refresh_token: tokens.1,
                expires_at: row.get(2),
                scope: row.get(3),
            },
            version: row.get(4),
            needs_reauth: row.get(5),
            stored_at_ms: row.get(6),
        }))
    }

    /// Takes the refresh lease (see [`TokenStore::acquire_refresh_lease`]).
    async fn take_lease(
        &self,
        connection: &str,
        holder: &LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let doing = "taking a refresh lease";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(self.failed(doing))?;
        let row = tx
            .query_opt(
                "SELECT version, lease_holder, lease_until_ms, lease_pid, lease_host
                 FROM tokens WHERE tenant_id = $1 AND connection = $2 FOR UPDATE",
                &[&DEFAULT_TENANT, &connection],
            )
            .await
            .map_err(self.failed(doing))?;
        let stored = row.map(|row| {
            let holder: Option<String> = row.get(1);
            StoredLease {
                version: row.get(0),
                // Every lease this store writes records its process with it.
                process_of: holder.clone(),
                holder,
                until_ms: row.get(2),
                pid: row.get::<_, Option<i32>>(3).map(i64::from),
                host: row.get(4),
            }
        });
        let time = self.clock.now(&tx, now_ms, self.database()).await?;
        let decision = lease::decide(
            stored.as_ref(),
            holder,
            time.now_ms,
            lease_ms,
            process_is_provably_dead,
        );
        if let LeaseDecision::Take { until_ms, .. } = &decision {
            let pid = i32::try_from(holder.pid).unwrap_or(i32::MAX);
            tx.execute(
                "UPDATE tokens SET lease_holder = $3, lease_until_ms = $4, lease_pid = $5,
                     lease_host = $6, lease_fence = lease_fence + 1
                 WHERE tenant_id = $1 AND connection = $2",
                &[
                    &DEFAULT_TENANT,
                    &connection,
                    &holder.id,
                    until_ms,
                    &pid,
                    &holder.host,
                ],
            )
            .await
            .map_err(self.failed(doing))?;
            tx.commit().await.map_err(self.failed(doing))?;
        }
        Ok(match decision.outcome() {
            LeaseOutcome::Acquired {
                version,
                until_ms,
                took_over,
            } => LeaseOutcome::Acquired {
                version,
                until_ms: time.for_caller(until_ms),
                took_over,
            },
            LeaseOutcome::Held {
                version,
                holder,
                until_ms,
            } => LeaseOutcome::Held {
                version,
                holder,
                until_ms: time.for_caller(until_ms),
            },
            LeaseOutcome::NoTokens => LeaseOutcome::NoTokens,
        })
    }

    /// Stores refreshed tokens (see [`TokenStore::commit_refresh`]).
    async fn write_refreshed(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<CommitOutcome, StoreError> {
        let doing = "storing refreshed tokens";
        let (access, refresh) = self.seal_tokens(DEFAULT_TENANT, connection, &stored(tokens))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(self.failed(doing))?;
        let current = self.read_versioned(&*tx, connection, true).await?;
        let outcome =
            match lease::decide_commit(current.as_ref().map(|c| c.version), expected_version) {
                CommitDecision::Write { version } => {
                    tx.execute(
                        concat!(
                            "UPDATE tokens SET access_token_sealed = $3, refresh_token_sealed = $4,
                             expires_at = $5, scope = $6, version = $7,
                             updated_at_ms = plugboard_now_ms(), reauth_reason = NULL, ",
                            no_lease!(),
                            " WHERE tenant_id = $1 AND connection = $2"
                        ),
                        &[
                            &DEFAULT_TENANT,
                            &connection,
                            &access,
                            &refresh,
                            &tokens.expires_at,
                            &tokens.scope,
                            &version,
                        ],
                    )
                    .await
                    .map_err(self.failed(doing))?;
                    CommitOutcome::Committed(version)
                }
                CommitDecision::Conflict => {
                    self.release(&*tx, connection, holder).await?;
                    match current {
                        Some(current) => CommitOutcome::Conflict(current),
                        None => CommitOutcome::Gone,
                    }
                }
                // Deleted while we refreshed: writing would bring its tokens back.
                CommitDecision::Gone => CommitOutcome::Gone,
            };
        tx.commit().await.map_err(self.failed(doing))?;
        Ok(outcome)
    }

    /// Clears the lease of `connection` if `holder` holds it.
    async fn release(
        &self,
        client: &impl GenericClient,
        connection: &str,
        holder: &str,
    ) -> Result<(), PgStoreError> {
        client
            .execute(
                concat!(
                    "UPDATE tokens SET ",
                    no_lease!(),
                    " WHERE tenant_id = $1 AND connection = $2 AND lease_holder = $3"
                ),
                &[&DEFAULT_TENANT, &connection, &holder],
            )
            .await
            .map_err(self.failed("releasing a refresh lease"))?;
        Ok(())
    }
}

impl TokenStore for PostgresStore {
    fn tokens<'a>(&'a self, connection: &'a str) -> StoreFuture<'a, Option<VersionedTokens>> {
        Box::pin(async move {
            let client = self.client().await?;
            let client: &tokio_postgres::Client = &client;
            self.read_versioned(client, connection, false).await
        })
    }

    fn put_tokens<'a>(&'a self, connection: &'a str, tokens: &'a TokenSet) -> StoreFuture<'a, i64> {
        Box::pin(async move {
            Ok(
                PostgresStore::put_tokens(self, DEFAULT_TENANT, connection, &stored(tokens))
                    .await?,
            )
        })
    }

    fn acquire_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, LeaseOutcome> {
        Box::pin(self.take_lease(connection, holder, now_ms, lease_ms))
    }

    fn commit_refresh<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        tokens: &'a TokenSet,
    ) -> StoreFuture<'a, CommitOutcome> {
        Box::pin(self.write_refreshed(connection, holder, expected_version, tokens))
    }

    fn renew_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let client = self.client().await?;
            // From the decision clock's now: the server's, unless a test moves time by hand.
            let renewed = client
                .execute(
                    "UPDATE tokens
                     SET lease_until_ms = COALESCE($5, plugboard_now_ms()) + $6
                     WHERE tenant_id = $1 AND connection = $2 AND lease_holder = $3
                       AND version = $4",
                    &[
                        &DEFAULT_TENANT,
                        &connection,
                        &holder,
                        &expected_version,
                        &self.clock.caller_time(now_ms),
                        &lease_ms,
                    ],
                )
                .await
                .map_err(self.failed("renewing a refresh lease"))?;
            Ok(renewed == 1)
        })
    }

    fn mark_needs_reauth<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        version: i64,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let doing = "marking a connection as needing a new authorization";
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(self.failed(doing))?;
            tx.execute(
                "UPDATE tokens SET reauth_reason = $4
                 WHERE tenant_id = $1 AND connection = $2 AND version = $3",
                &[&DEFAULT_TENANT, &connection, &version, &reason],
            )
            .await
            .map_err(self.failed(doing))?;
            self.release(&*tx, connection, holder).await?;
            tx.commit().await.map_err(self.failed(doing))?;
            Ok(())
        })
    }

    fn release_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.client().await?;
            let client: &tokio_postgres::Client = &client;
            Ok(self.release(client, connection, holder).await?)
        })
    }
}
