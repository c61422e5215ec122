-- Access tokens a client revoked before they expired (RFC 7009), by jti; kept until the
-- token would have expired anyway.
CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
