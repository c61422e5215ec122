-- The key a session's tokens are bound to (RFC 9449): the JWK thumbprint of the DPoP proof
-- that came with the sign-in. Its access tokens carry it as `cnf.jkt`, and refreshing
-- needs a proof by the same key.
ALTER TABLE sessions ADD COLUMN dpop_jkt TEXT;
