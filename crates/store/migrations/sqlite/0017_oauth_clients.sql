-- OAuth 2.0 / OpenID Connect clients. Lists (redirect URIs, grants, scopes) are JSON arrays;
-- jwks is the client's public JWK Set (private_key_jwt); secret_hash is an HMAC-SHA-256
-- of the client secret under a key derived from the master key, never the secret.
CREATE TABLE oauth_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    auth_method               TEXT NOT NULL,
    scopes                    TEXT NOT NULL,
    backchannel_logout_uri    TEXT,
    require_pkce              INTEGER NOT NULL,
    require_par               INTEGER NOT NULL,
    require_dpop              INTEGER NOT NULL,
    jwks                      TEXT,
    secret_hash               TEXT,
    created_by                TEXT NOT NULL,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
) STRICT;
