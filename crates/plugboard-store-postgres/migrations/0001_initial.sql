-- plugboard's PostgreSQL state store, schema 1: what the SQLite store holds at its schema 5, plus
-- tenants. Applied by src/migrate.rs in one transaction under an advisory lock; never edit a
-- migration once released (the runner refuses a database whose applied migration differs): add
-- the next file instead.
--
-- Conventions:
-- - Times the runner compares are BIGINT milliseconds (limiter spacing: microseconds) since the
--   Unix epoch, as in the SQLite store, and come from the server's clock (plugboard_now_ms/us), so
--   machines with skewed clocks still agree on leases and rate limits.
-- - Secrets (settings documents, access and refresh tokens) are stored sealed (src/crypto.rs):
--   columns named *_sealed hold `pbs1:<key id>:<base64>`, never plaintext.
-- - JSON documents are `json`, not `jsonb`: it keeps the text as written (key order, numbers),
--   and an API's output must reach a resumed workflow exactly as it was recorded.

-- The server clock, for lease and limiter decisions. clock_timestamp(), not now(): now() is frozen
-- at the start of the transaction, which may have waited for a row lock meanwhile.
CREATE FUNCTION plugboard_now_ms() RETURNS BIGINT
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT $$;
CREATE FUNCTION plugboard_now_us() RETURNS BIGINT
    LANGUAGE sql VOLATILE PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT $$;

-- Who owns connections, apps, cursors and runs. The single-machine path and the embedded service
-- use the tenant 'default'.
CREATE TABLE tenants (
    id            TEXT PRIMARY KEY CHECK (id <> ''),
    name          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL DEFAULT plugboard_now_ms()
);
INSERT INTO tenants (id, name) VALUES ('default', 'default');

-- Which keys have sealed values here: one row per key id, holding a value sealed with that key,
-- so a wrong PLUGBOARD_SECRET_KEY is refused when the store opens, before anything is written.
CREATE TABLE secret_keys (
    key_id        TEXT PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{8}$'),
    check_sealed  TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL DEFAULT plugboard_now_ms()
);

-- An app: a connector's partner-level settings (client id and secret, redirect URI) per tenant.
CREATE TABLE partner_settings (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector_id    TEXT NOT NULL,
    settings_sealed TEXT NOT NULL,
    updated_at_ms   BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    PRIMARY KEY (tenant_id, connector_id)
);

CREATE TABLE connections (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    connector_id    TEXT NOT NULL,
    settings_sealed TEXT NOT NULL,
    -- Endpoint overrides (a sandbox's URLs): {base_url, authorize_url?, token_url?}.
    endpoints       JSON,
    created_at_ms   BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    PRIMARY KEY (tenant_id, name)
);

-- A connection's tokens. No foreign key to connections, as in the SQLite store: tokens may be
-- stored before their connection row (the store's contract allows it); deleting a connection
-- deletes its tokens in the same transaction.
CREATE TABLE tokens (
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection           TEXT NOT NULL,
    access_token_sealed  TEXT NOT NULL,
    refresh_token_sealed TEXT,
    -- When the access token expires, seconds since the epoch.
    expires_at           BIGINT,
    scope                TEXT,
    -- Starts at 1, +1 with every write: a waiter for someone else's refresh sees the change.
    version              BIGINT NOT NULL CHECK (version >= 1),
    updated_at_ms        BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    -- Why the connection must be authorised again (its refresh token was refused).
    reauth_reason        TEXT,
    -- The refresh lease: who holds it and until when (server clock). lease_fence grows by one
    -- with every grant and never goes back, so a holder whose lease lapsed and passed to another
    -- can be told from the current one in every write it attempts.
    lease_holder         TEXT,
    lease_fence          BIGINT NOT NULL DEFAULT 0,
    lease_until_ms       BIGINT,
    lease_pid            INTEGER,
    lease_host           TEXT,
    PRIMARY KEY (tenant_id, connection),
    CHECK ((lease_holder IS NULL) = (lease_until_ms IS NULL))
);

-- Rate limits. Keys name the connector, the limit and its scope value (hashed, never a raw
-- secret) and are not per tenant: an API applies its limit per application key, whoever uses it.
-- A rolling limit's GCRA spacing: the theoretical arrival time.
CREATE TABLE rate_spacing (
    key    TEXT PRIMARY KEY,
    tat_us BIGINT NOT NULL
);
-- A rolling limit's window guard: each request's send and completion times.
CREATE TABLE rate_slots (
    key         TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    sent_us     BIGINT NOT NULL,
    done_us     BIGINT,
    sender_pid  INTEGER,
    sender_host TEXT,
    PRIMARY KEY (key, seq)
);
-- Calendar quotas (e.g. 10,000 a day, reset at 00:00 UTC).
CREATE TABLE rate_counters (
    key             TEXT PRIMARY KEY,
    window_start_ms BIGINT NOT NULL,
    used            BIGINT NOT NULL CHECK (used >= 0)
);

-- Poll triggers' cursors.
CREATE TABLE cursors (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         JSON NOT NULL,
    updated_at_ms BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workflow        TEXT NOT NULL,
    -- What a resume must match: a digest of the workflow's steps and connections.
    workflow_digest TEXT,
    inputs          JSON NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    error           TEXT,
    started_at_ms   BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    finished_at_ms  BIGINT,
    -- The process running it, so a second one does not resume it meanwhile.
    owner_pid       INTEGER,
    owner_host      TEXT
);
CREATE INDEX runs_by_tenant ON runs (tenant_id, id DESC);

-- The journal: each completed step's output under its key (`<step>`, `<step>[<n>]`), and the
-- intents written before a call that is not idempotent (`#intent <key>`) and a stream's cursors
-- (`#cursor <key>`), in the order they were recorded.
CREATE TABLE journal_entries (
    run_id         BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    output         JSON NOT NULL,
    seq            BIGINT NOT NULL,
    recorded_at_ms BIGINT NOT NULL DEFAULT plugboard_now_ms(),
    PRIMARY KEY (run_id, key)
);
-- The next seq of a run is MAX(seq) + 1: without this index each write would scan the run.
CREATE UNIQUE INDEX journal_entries_by_seq ON journal_entries (run_id, seq);
