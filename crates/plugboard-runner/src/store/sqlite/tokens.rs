//! [`TokenStore`] for [`SqliteStore`]: the `tokens` table, which also holds each connection's
//! refresh lease. The lease and commit rules are [`lease`](crate::store::lease)'s; every write
//! of the refresh protocol goes through [`SqliteStore::with_reserve`], and token writes are
//! committed with `synchronous=FULL`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use secrecy::{ExposeSecret, SecretString};

use super::{SqliteStore, run};
use crate::clock::system_now_ms;
use crate::store::lease::{self, CommitDecision, LeaseDecision, StoredLease};
use crate::store::{
    CommitOutcome, LeaseHolder, LeaseOutcome, StoreError, StoreFuture, TokenSet, TokenStore,
    VersionedTokens, process_is_provably_dead,
};

/// The SQL assignments that clear a connection's refresh lease (every lease column); a macro so
/// the statements that use it stay `&'static str`s.
macro_rules! no_lease {
    () => {
        "lease_holder = NULL, lease_until = NULL, lease_pid = NULL, lease_host = NULL, \
         lease_process_of = NULL"
    };
}

fn read_tokens(
    conn: &Connection,
    connection: &str,
) -> Result<Option<VersionedTokens>, rusqlite::Error> {
    conn.prepare_cached(
        "SELECT access_token, refresh_token, expires_at, scope, version, reauth_reason,
                updated_at
         FROM tokens WHERE connection = ?1",
    )?
    .query_row(params![connection], |row| {
        Ok(VersionedTokens {
            tokens: TokenSet {
                access_token: SecretString::from(row.get::<_, String>(0)?),
                refresh_token: row.get::<_, Option<String>>(1)?.map(SecretString::from),
                expires_at: row.get(2)?,
                scope: row.get(3)?,
            },
            version: row.get(4)?,
            needs_reauth: row.get(5)?,
            stored_at_ms: row.get(6)?,
        })
    })
    .optional()
}

/// Clears the refresh lease of `connection` if `holder` holds it (a lease since taken over by
/// another holder is left alone).
fn release_lease(conn: &Connection, connection: &str, holder: &str) -> rusqlite::Result<()> {
    conn.execute(
        concat!(
            "UPDATE tokens SET ",
            no_lease!(),
            " WHERE connection = ?1 AND lease_holder = ?2"
        ),
        params![connection, holder],
    )?;
    Ok(())
}

fn write_tokens(
    conn: &Connection,
    connection: &str,
    tokens: &TokenSet,
    version: i64,
) -> Result<(), rusqlite::Error> {
    conn.execute(
        concat!(
            "INSERT INTO tokens (connection, access_token, refresh_token, expires_at, scope,
                                 version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(connection) DO UPDATE SET
                 access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                 expires_at = excluded.expires_at, scope = excluded.scope,
                 version = excluded.version, updated_at = excluded.updated_at,
                 reauth_reason = NULL, ",
            no_lease!()
        ),
        params![
            connection,
            tokens.access_token.expose_secret(),
            tokens.refresh_token.as_ref().map(|t| t.expose_secret()),
            tokens.expires_at,
            tokens.scope,
            version,
            system_now_ms(),
        ],
    )?;
    Ok(())
}

impl SqliteStore {
    /// Takes the refresh lease (see [`TokenStore::acquire_refresh_lease`]).
    fn take_lease(
        &self,
        connection: &str,
        holder: &LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut conn = self.lock();
        // The write lock is taken before reading: the liveness check and the takeover below are
        // one step for every other process, so two waiters cannot both take a dead lease over.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = tx
            .query_row(
                "SELECT version, lease_holder, lease_until, lease_pid, lease_host, lease_process_of
                 FROM tokens WHERE connection = ?1",
                params![connection],
                |row| {
                    Ok(StoredLease {
                        version: row.get(0)?,
                        holder: row.get(1)?,
                        until_ms: row.get(2)?,
                        pid: row.get(3)?,
                        host: row.get(4)?,
                        process_of: row.get(5)?,
                    })
                },
            )
            .optional()?;
        let decision = lease::decide(
            stored.as_ref(),
            holder,
            now_ms,
            lease_ms,
            process_is_provably_dead,
        );
        if let LeaseDecision::Take { until_ms, .. } = &decision {
            tx.execute(
                "UPDATE tokens SET lease_holder = ?2, lease_until = ?3, lease_pid = ?4,
                     lease_host = ?5, lease_process_of = ?2
                 WHERE connection = ?1",
                params![connection, holder.id, until_ms, holder.pid, holder.host],
            )?;
            tx.commit()?;
        }
        Ok(decision.outcome())
    }

    /// Stores refreshed tokens (see [`TokenStore::commit_refresh`]).
    fn write_refreshed(
        &self,
        connection: &str,
        holder: &str,
        expected_version: i64,
        tokens: &TokenSet,
    ) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.lock();
        // The rotated refresh token is the only copy of the connection's access: make this one
        // commit survive a power loss, not just a process crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = read_tokens(&tx, connection)?;
            let outcome =
                match lease::decide_commit(current.as_ref().map(|c| c.version), expected_version) {
                    CommitDecision::Write { version } => {
                        write_tokens(&tx, connection, tokens, version)?;
                        CommitOutcome::Committed(version)
                    }
                    CommitDecision::Conflict => {
                        release_lease(&tx, connection, holder)?;
                        match current {
                            Some(current) => CommitOutcome::Conflict(current),
                            None => CommitOutcome::Gone,
                        }
                    }
                    // Deleted while we refreshed: writing would bring its tokens back.
                    CommitDecision::Gone => CommitOutcome::Gone,
                };
            tx.commit()?;
            Ok::<_, rusqlite::Error>(outcome)
        })();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(result?)
    }
}

impl TokenStore for SqliteStore {
    fn tokens<'a>(&'a self, connection: &'a str) -> StoreFuture<'a, Option<VersionedTokens>> {
        run(move || Ok(read_tokens(&self.lock(), connection)?))
    }

    fn put_tokens<'a>(&'a self, connection: &'a str, tokens: &'a TokenSet) -> StoreFuture<'a, i64> {
        run(move || {
            let mut conn = self.lock();
            conn.pragma_update(None, "synchronous", "FULL")?;
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let version: i64 = tx
                    .query_row(
                        "SELECT version FROM tokens WHERE connection = ?1",
                        params![connection],
                        |row| row.get(0),
                    )
                    .optional()?
                    .unwrap_or(0)
                    + 1;
                write_tokens(&tx, connection, tokens, version)?;
                tx.commit()?;
                Ok::<_, rusqlite::Error>(version)
            })();
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(result?)
        })
    }

    fn acquire_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a LeaseHolder,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, LeaseOutcome> {
        run(move || {
            // No refresh starts (and so no refresh token is spent) without the space its new
            // tokens need put aside.
            self.ensure_reserve()?;
            self.with_reserve(|| self.take_lease(connection, holder, now_ms, lease_ms))
        })
    }

    fn commit_refresh<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        tokens: &'a TokenSet,
    ) -> StoreFuture<'a, CommitOutcome> {
        run(move || {
            self.with_reserve(|| self.write_refreshed(connection, holder, expected_version, tokens))
        })
    }

    fn renew_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        expected_version: i64,
        now_ms: i64,
        lease_ms: i64,
    ) -> StoreFuture<'a, bool> {
        run(move || {
            self.with_reserve(|| {
                let renewed = self.lock().execute(
                    "UPDATE tokens SET lease_until = ?4
                     WHERE connection = ?1 AND lease_holder = ?2 AND version = ?3",
                    params![
                        connection,
                        holder,
                        expected_version,
                        now_ms.saturating_add(lease_ms)
                    ],
                )?;
                Ok(renewed == 1)
            })
        })
    }

    fn mark_needs_reauth<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
        version: i64,
        reason: &'a str,
    ) -> StoreFuture<'a, ()> {
        run(move || {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE tokens SET reauth_reason = ?3 WHERE connection = ?1 AND version = ?2",
                params![connection, version, reason],
            )?;
            release_lease(&tx, connection, holder)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn release_refresh_lease<'a>(
        &'a self,
        connection: &'a str,
        holder: &'a str,
    ) -> StoreFuture<'a, ()> {
        run(move || Ok(release_lease(&self.lock(), connection, holder)?))
    }
}
