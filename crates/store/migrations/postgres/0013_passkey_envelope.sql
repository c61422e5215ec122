-- Passkey credentials (webauthn-rs state: public key, counters, flags) sealed under their
-- owner's data key; the old text column is left empty.
ALTER TABLE passkeys ADD COLUMN credential_enc BYTEA;
