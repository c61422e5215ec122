-- Passkeys (WebAuthn credentials) and the server-side state of WebAuthn ceremonies.
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- base64url credential id; one credential belongs to one account.
    credential_id   TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    -- webauthn-rs `Passkey` as JSON: public key, signature counter, backup flags.
    credential      TEXT NOT NULL,
    backup_eligible INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id);

-- One row per started ceremony, deleted when finished (successfully or not) or expired.
CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    -- register | authenticate | discoverable
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- what the ceremony is bound to: the session (register, step-up) or the hash of an
    -- mfa_token (second factor of a login).
    binding    TEXT,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
