-- The authorization server's protocol state, one row per record, by kind:
--   request  an authorization request in progress (its handle is the id), until it expires;
--   par      a pushed authorization request (RFC 9126), id = SHA-256 of its request_uri;
--   code     an authorization code, id = SHA-256 of the code, used once;
--   consent  a person's consent to a client's scopes, id = user id and client id;
--   grant    what a code exchange issued: id = the session of its refresh-token family,
--            parent = the browser sign-in session it came from;
--   device   a device authorization (RFC 8628), id = SHA-256 of the device code;
--   user_code  its user code, id = SHA-256 of the code, pointing at the device record.
-- body is the record's JSON (validated parameters, scopes, bindings); never a secret.
CREATE TABLE oauth_grants (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     TEXT,
    parent      TEXT,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (kind, id)
);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id, kind);
CREATE INDEX oauth_grants_parent ON oauth_grants (parent);
CREATE INDEX oauth_grants_expiry ON oauth_grants (expires_at);

-- tls_client_auth (RFC 8705 §2.1.2): the URI SAN (a SPIFFE ID) the client's certificate,
-- issued by the internal CA, must carry.
ALTER TABLE oauth_clients ADD COLUMN tls_client_auth_san_uri TEXT;
