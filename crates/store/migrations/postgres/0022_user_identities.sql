-- Accounts at upstream OpenID providers linked to local ones: the provider's `sub`, once
-- per provider. Erasure deletes them (a linked identity is a way in).
CREATE TABLE user_identities (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
