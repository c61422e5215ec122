-- mTLS: SPIFFE IDs that authenticate service accounts, and the internal CA that issues
-- their certificates (its private key sealed under the master key).
CREATE TABLE service_identities (
    spiffe_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE internal_ca (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    cert_pem   TEXT NOT NULL,
    sealed_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
