-- Schema 4: a run can be `queued`, recorded and waiting for a worker to take it (a run started on
-- Temporal), instead of standing in as `cancelled` with a note until a worker claims it.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled'));
