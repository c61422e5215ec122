-- Access tokens a client revoked before they expired (RFC 7009), by jti; kept until the
-- token would have expired anyway.
CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
