-- Delivery of audit events to SIEM sinks: one cursor per sink (the last delivered entry),
-- a lease so that one node of a cluster delivers at a time, and counters for metrics.
CREATE TABLE audit_sink_cursors (
    name         TEXT PRIMARY KEY,
    last_seq     INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER NOT NULL,
    delivered    INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    dead_letters INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Events a sink refused past its attempts, kept for replay.
CREATE TABLE audit_sink_dead_letters (
    sink       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    error      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sink, seq)
) STRICT;
