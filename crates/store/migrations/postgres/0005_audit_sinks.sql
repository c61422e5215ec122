-- Delivery of audit events to SIEM sinks: one cursor per sink (the last delivered entry),
-- a lease so that one node of a cluster delivers at a time, and counters for metrics.
CREATE TABLE audit_sink_cursors (
    name         TEXT PRIMARY KEY,
    last_seq     BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT NOT NULL,
    delivered    BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    dead_letters BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Events a sink refused past its attempts, kept for replay.
CREATE TABLE audit_sink_dead_letters (
    sink       TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    error      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (sink, seq)
);
