-- What the server keeps about its master key when the key itself is not stored: for a
-- Shamir split, the threshold, the split's id and a check value of the key (JSON).
CREATE TABLE key_meta (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
