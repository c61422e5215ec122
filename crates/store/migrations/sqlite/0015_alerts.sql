-- Alerts raised by the rules of [[alerts.rules]] over the audit log, and their delivery to
-- each alert sink. One open alert per rule and group absorbs repeats within its dedup window.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    status      TEXT NOT NULL,
    dry_run     INTEGER NOT NULL,
    actions     TEXT NOT NULL,
    details     TEXT NOT NULL,
    resolved_at INTEGER,
    -- The audit entry that raised it: deliveries go out in this order.
    event_seq   INTEGER NOT NULL
) STRICT;
CREATE INDEX alerts_open ON alerts (rule, group_key, status, last_at);

-- pending | delivered | failed (gave up after max_attempts) | rate_limited (not sent).
CREATE TABLE alert_deliveries (
    alert_id     TEXT NOT NULL REFERENCES alerts (id),
    sink         TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    PRIMARY KEY (alert_id, sink)
) STRICT;
CREATE INDEX alert_deliveries_by_sink ON alert_deliveries (sink, status, created_at);
