-- Schema 3: a run's progress events (the objects `--json` prints), written by the worker that
-- executes the run and read by the `plugboard run --temporal` that started it. Numbered per run
-- under the run's row lock (src/runs.rs), so a reader that has seen number n has seen every
-- event before it: a global sequence would let a later number commit first.
CREATE TABLE run_events (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    event  JSON NOT NULL,
    PRIMARY KEY (run_id, seq)
);
