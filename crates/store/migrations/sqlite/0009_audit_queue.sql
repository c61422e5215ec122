-- Audit events are queued by the transaction that causes them (one insert, no shared row),
-- and the sequencer moves them into audit_events in order, chaining and committing to them.
-- AUTOINCREMENT: ids are never reused, so the queue order is the commit order.
CREATE TABLE audit_pending (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    actor      TEXT,
    target     TEXT,
    ip         TEXT,
    user_agent TEXT,
    details    TEXT NOT NULL
) STRICT;
