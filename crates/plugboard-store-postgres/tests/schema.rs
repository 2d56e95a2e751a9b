//! The schema holds every kind of state the SQLite store holds (connections, apps, tokens with
//! versions and leases, limiter state, quotas, cursors, runs and their journal with intents), per
//! tenant, and its constraints refuse what the store must never write.

mod support;

use plugboard_store_postgres::{DEFAULT_TENANT, PostgresStore};
use support::{KEY_A, connect_raw, fresh_database, key};

#[tokio::test]
async fn every_kind_of_state_fits_and_a_tenant_takes_its_rows_with_it() {
    let url = fresh_database().await;
    let store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    let db = connect_raw(&url).await;

    let default_tenants: i64 = db
        .query_one(
            "SELECT count(*) FROM tenants WHERE id = $1",
            &[&DEFAULT_TENANT],
        )
        .await
        .expect("reads")
        .get(0);
    assert_eq!(default_tenants, 1, "the default tenant exists");

    db.batch_execute(
        r#"
        INSERT INTO tenants (id, name) VALUES ('acme', 'Acme');
        INSERT INTO partner_settings (tenant_id, connector_id, settings_sealed)
            VALUES ('acme', 'constant-contact', 'pbs1:00000000:x');
        INSERT INTO connections (tenant_id, name, connector_id, settings_sealed, endpoints)
            VALUES ('acme', 'crm', 'constant-contact', 'pbs1:00000000:x',
                    '{"base_url": "http://127.0.0.1:1/v3"}');
        INSERT INTO tokens (tenant_id, connection, access_token_sealed, version,
                            lease_holder, lease_fence, lease_until_ms, lease_pid, lease_host)
            VALUES ('acme', 'crm', 'pbs1:00000000:x', 1, 'holder-1', 1,
                    plugboard_now_ms() + 30000, 4242, 'host/boot');
        INSERT INTO rate_spacing (key, tat_us) VALUES ('cc:4/s:app', plugboard_now_us());
        INSERT INTO rate_slots (key, seq, sent_us, sender_pid, sender_host)
            VALUES ('cc:4/s:app', 1, plugboard_now_us(), 4242, 'host/boot');
        INSERT INTO rate_counters (key, window_start_ms, used) VALUES ('cc:day:app', 0, 17);
        INSERT INTO cursors (tenant_id, key, value)
            VALUES ('acme', 'poll:crm', '{"updated_after": "2026-01-01T00:00:00Z"}');
        "#,
    )
    .await
    .expect("every kind of row fits");

    // Runs and their journal, with the exact JSON text kept (key order, number spelling).
    let output = r#"{"z": 1, "a": 1.50, "list_id": "abc"}"#;
    let run: i64 = db
        .query_one(
            "INSERT INTO runs (tenant_id, workflow, workflow_digest, inputs, status, owner_pid,
                               owner_host)
             VALUES ('acme', 'wf.json', 'sha256:1', '{}', 'running', 4242, 'host/boot')
             RETURNING id",
            &[],
        )
        .await
        .expect("a run")
        .get(0);
    for (seq, key) in ["create", "#intent import[0]", "import[0]"]
        .iter()
        .enumerate()
    {
        db.execute(
            "INSERT INTO journal_entries (run_id, key, output, seq)
             VALUES ($1, $2, $3::text::json, $4)",
            &[&run, key, &output, &(seq as i64 + 1)],
        )
        .await
        .expect("a journal entry");
    }
    let kept: String = db
        .query_one(
            "SELECT output::text FROM journal_entries WHERE run_id = $1 AND key = 'create'",
            &[&run],
        )
        .await
        .expect("reads")
        .get(0);
    assert_eq!(kept, output, "the JSON is kept as written");

    // Deleting the tenant deletes its rows; budgets keyed by API key are shared, not the tenant's.
    db.execute("DELETE FROM tenants WHERE id = 'acme'", &[])
        .await
        .expect("deletes the tenant");
    for table in [
        "partner_settings",
        "connections",
        "tokens",
        "cursors",
        "runs",
        "journal_entries",
    ] {
        let left: i64 = db
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("counts")
            .get(0);
        assert_eq!(left, 0, "{table} kept a deleted tenant's rows");
    }
    let budgets: i64 = db
        .query_one("SELECT count(*) FROM rate_counters", &[])
        .await
        .expect("counts")
        .get(0);
    assert_eq!(budgets, 1);
    drop(store);
}

#[tokio::test]
async fn the_constraints_refuse_what_the_store_must_never_write() {
    let url = fresh_database().await;
    let _store = PostgresStore::connect(&url, key(KEY_A))
        .await
        .expect("opens");
    let db = connect_raw(&url).await;
    let refused = [
        // A connection of a tenant that does not exist.
        "INSERT INTO connections (tenant_id, name, connector_id, settings_sealed)
         VALUES ('nobody', 'c', 'x', 'pbs1:00000000:x')",
        // A token version below 1.
        "INSERT INTO tokens (tenant_id, connection, access_token_sealed, version)
         VALUES ('default', 'c', 'pbs1:00000000:x', 0)",
        // A lease holder without an end.
        "INSERT INTO tokens (tenant_id, connection, access_token_sealed, version, lease_holder)
         VALUES ('default', 'c', 'pbs1:00000000:x', 1, 'h')",
        // A status the runner does not know.
        "INSERT INTO runs (tenant_id, workflow, inputs, status)
         VALUES ('default', 'w', '{}', 'succeeded')",
        // Two journal entries of one run at the same position.
        "WITH r AS (INSERT INTO runs (tenant_id, workflow, inputs, status)
                    VALUES ('default', 'w', '{}', 'running') RETURNING id)
         INSERT INTO journal_entries (run_id, key, output, seq)
         SELECT id, k, '1', 1 FROM r, (VALUES ('a'), ('b')) AS keys(k)",
        // A negative quota count.
        "INSERT INTO rate_counters (key, window_start_ms, used) VALUES ('k', 0, -1)",
        // Invalid JSON in a cursor.
        "INSERT INTO cursors (tenant_id, key, value) VALUES ('default', 'k', '{not json')",
    ];
    for statement in refused {
        let error = db
            .batch_execute(statement)
            .await
            .expect_err(&format!("accepted: {statement}"));
        // Refused by a constraint or a type (SQLSTATE classes 23 and 22), not a typo.
        let code = error
            .as_db_error()
            .map(|e| e.code().code().to_owned())
            .unwrap_or_default();
        assert!(
            code.starts_with("23") || code.starts_with("22"),
            "{statement}: {error:?}"
        );
    }
    let runs: i64 = db
        .query_one("SELECT count(*) FROM runs", &[])
        .await
        .expect("counts")
        .get(0);
    assert_eq!(runs, 0, "a refused statement left a run behind");
}
