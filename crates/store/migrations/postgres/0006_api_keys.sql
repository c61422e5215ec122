-- API keys: only a keyed hash of each key is stored, found by its public prefix.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    owner_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    prefix         TEXT NOT NULL UNIQUE,
    key_hash       TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    signing        TEXT NOT NULL,
    signing_secret BYTEA,
    public_key     BYTEA,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT,
    last_used_ip   TEXT,
    rotated_from   TEXT
);
CREATE INDEX api_keys_owner ON api_keys (owner_id);

-- Nonces of HTTP message signatures seen within the acceptance window (replay protection).
CREATE TABLE signature_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);
