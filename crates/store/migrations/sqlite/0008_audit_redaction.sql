-- Version 2 audit entries commit to their personal fields with a salted hash, so that the
-- fields of an erased data subject can be removed while the chain and the Merkle tree still
-- verify. The only UPDATE the log accepts is exactly that redaction.
ALTER TABLE audit_events ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN pii_salt TEXT;
ALTER TABLE audit_events ADD COLUMN pii_commitment TEXT;
ALTER TABLE audit_events ADD COLUMN redacted_at INTEGER;

DROP TRIGGER audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN NOT (
    OLD.version = 2 AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
    AND NEW.seq = OLD.seq AND NEW.time = OLD.time AND NEW.action = OLD.action
    AND NEW.outcome = OLD.outcome AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
    AND NEW.version = 2 AND NEW.pii_commitment IS OLD.pii_commitment
    AND NEW.actor IS NULL AND NEW.target IS NULL AND NEW.ip IS NULL AND NEW.user_agent IS NULL
    AND NEW.details = '{}' AND NEW.pii_salt IS NULL
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only (only a redaction of personal fields may update it)');
END;
