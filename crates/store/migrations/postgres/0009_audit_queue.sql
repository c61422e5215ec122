-- Audit events are queued by the transaction that causes them (one insert, no shared row:
-- concurrent writers do not serialise on the chain head), and the sequencer moves them into
-- audit_events in order, chaining and committing to them.
CREATE TABLE audit_pending (
    id         BIGSERIAL PRIMARY KEY,
    time       BIGINT NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    actor      TEXT,
    target     TEXT,
    ip         TEXT,
    user_agent TEXT,
    details    TEXT NOT NULL
);
-- A queue: every row is deleted soon after it is inserted. Vacuum it often so scans do not
-- wade through dead rows.
ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                               autovacuum_vacuum_insert_threshold = 5000);
