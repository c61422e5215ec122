-- Account recovery and administration: whether the address was proved (a code by mail, or a
-- password reset through it), whether the next use must change the password, and the
-- single-use codes sent by mail (stored as SHA-256 of the code, never the code; a change of
-- address keeps the new address sealed until it is confirmed).
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE email_codes (
    code_hash   TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('reset', 'invite', 'verify', 'change')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    new_email   BYTEA,
    used_at     BIGINT
);
CREATE INDEX email_codes_user ON email_codes (user_id, purpose);
CREATE INDEX email_codes_expiry ON email_codes (expires_at);
