-- Schema 2: one row per rate-limit budget key, locked with SELECT … FOR UPDATE by every admission
-- that charges the budget (src/limits.rs). A budget's first request finds no rate_spacing or
-- rate_counters row to lock yet, and two processes must not both see "no row" and both take the
-- first slot: the anchor row is inserted (ON CONFLICT DO NOTHING) and then locked, so admissions
-- of one budget queue behind each other from the very first.
CREATE TABLE rate_budgets (
    key TEXT PRIMARY KEY
);
