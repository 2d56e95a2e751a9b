-- Schema 6: a cancellation asked for by another process than the one executing the run (one
-- service process cancelling a run another executes), which the executing process reads.
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
