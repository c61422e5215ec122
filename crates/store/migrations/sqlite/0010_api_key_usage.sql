-- Requests per API key, route and quota period ("d:2026-11-22", "m:2026-11"), for the
-- gateway's daily and monthly quotas. Nodes add what they counted about once a second.
CREATE TABLE api_key_usage (
    key_id TEXT NOT NULL,
    route  TEXT NOT NULL,
    period TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (key_id, route, period)
) STRICT;
