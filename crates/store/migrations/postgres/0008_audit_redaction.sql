-- Version 2 audit entries commit to their personal fields with a salted hash, so that the
-- fields of an erased data subject can be removed while the chain and the Merkle tree still
-- verify. The only UPDATE the log accepts is exactly that redaction.
ALTER TABLE audit_events
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1,
    ADD COLUMN pii_salt TEXT,
    ADD COLUMN pii_commitment TEXT,
    ADD COLUMN redacted_at BIGINT;

DROP TRIGGER audit_events_no_update_delete ON audit_events;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION portcullis_audit_append_only();

CREATE FUNCTION portcullis_audit_redact_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.version = 2 AND OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
       AND NEW.seq = OLD.seq AND NEW.time = OLD.time AND NEW.action = OLD.action
       AND NEW.outcome = OLD.outcome AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash
       AND NEW.version = 2 AND NEW.pii_commitment IS NOT DISTINCT FROM OLD.pii_commitment
       AND NEW.actor IS NULL AND NEW.target IS NULL AND NEW.ip IS NULL
       AND NEW.user_agent IS NULL AND NEW.details = '{}' AND NEW.pii_salt IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (only a redaction of personal fields may update it)';
END
$$;
CREATE TRIGGER audit_events_redact_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION portcullis_audit_redact_only();
