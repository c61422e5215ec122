-- Detection and response (SQLite). Times are Unix seconds (UTC).

-- Every sign-in attempt that reached a decision: what the risk engine compares a new one
-- with (locations, hours, failure velocity, sprays) and what users see in /auth/activity.
-- No email is kept: `account_key` is the keyed hash the login throttle uses.
CREATE TABLE login_events (
    id          TEXT PRIMARY KEY,
    user_id     TEXT,
    account_key TEXT NOT NULL,
    ip          TEXT,
    net         TEXT,
    time        INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    device      TEXT,
    new_device  INTEGER NOT NULL DEFAULT 0,
    country     TEXT,
    city        TEXT,
    latitude    REAL,
    longitude   REAL,
    asn         INTEGER,
    risk        INTEGER NOT NULL,
    reasons     TEXT NOT NULL
) STRICT;
CREATE INDEX login_events_by_user ON login_events (user_id, time);
CREATE INDEX login_events_by_ip ON login_events (ip, time);
CREATE INDEX login_events_by_net ON login_events (net, time);
CREATE INDEX login_events_by_time ON login_events (time);

-- Devices that completed a sign-in: a random id in a signed cookie, or (weaker, never
-- enough to skip a challenge) a keyed hash of stable request headers, prefixed `fp:`.
CREATE TABLE known_devices (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device     TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (user_id, device)
) STRICT;

-- Client IPs or ranges refused everywhere until `expires_at` (or until lifted).
CREATE TABLE bans (
    id         TEXT PRIMARY KEY,
    cidr       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    lifted_at  INTEGER,
    lifted_by  TEXT
) STRICT;
CREATE INDEX bans_by_expiry ON bans (expires_at);

-- Users whose next sign-in must prove a second factor (automated response).
CREATE TABLE risk_flags (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    flag       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
