-- Requests that wait for other people's approval: just-in-time elevations (a user asks for
-- a role or scopes for a while, bound to their session) and held four-eyes operations.
-- status: pending | active | denied | revoked | expired | approved | executed | failed.
CREATE TABLE approval_requests (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    requester   TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    operation   TEXT NOT NULL,
    params      TEXT NOT NULL,
    sealed      BYTEA,
    reason      TEXT NOT NULL,
    required    BIGINT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    granted_at  BIGINT,
    ends_at     BIGINT,
    ended_at    BIGINT,
    ended_by    TEXT,
    result      TEXT
);
CREATE INDEX approval_requests_status ON approval_requests (kind, status, id);
CREATE INDEX approval_requests_requester ON approval_requests (requester, kind, id);
CREATE INDEX approval_requests_session ON approval_requests (session_id, status);

-- One decision per approver and request: a second approval by the same person is refused
-- by the key, whatever node it reaches.
CREATE TABLE approval_votes (
    request_id  TEXT NOT NULL REFERENCES approval_requests (id),
    approver    TEXT NOT NULL,
    approve     BOOLEAN NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver)
);

-- The emergency administrator's credential, split into Shamir shares held by different
-- people; only the SHA-256 of the secret is kept. One unused row at most is in force.
CREATE TABLE break_glass (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    split       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
