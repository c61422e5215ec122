-- Envelope encryption of personal data: key-encryption keys sealed under the master key,
-- one data-encryption key per subject wrapped by a KEK, and the users' email and display
-- name sealed under their DEK with a blind index for lookups by email. The old plaintext
-- columns are emptied by the server at start (email keeps the user id, for its NOT NULL
-- UNIQUE constraint; erased accounts keep their pseudonym there).
CREATE TABLE keks (
    version    INTEGER PRIMARY KEY,
    sealed     BLOB,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) STRICT;

CREATE TABLE deks (
    subject      TEXT PRIMARY KEY,
    version      INTEGER NOT NULL,
    kek_version  INTEGER NOT NULL,
    wrapped      BLOB,
    created_at   INTEGER NOT NULL,
    destroyed_at INTEGER
) STRICT;
CREATE INDEX deks_by_kek ON deks (kek_version);

ALTER TABLE users ADD COLUMN email_enc BLOB;
ALTER TABLE users ADD COLUMN display_name_enc BLOB;
ALTER TABLE users ADD COLUMN email_bidx TEXT;
CREATE UNIQUE INDEX users_email_bidx ON users (email_bidx);
