-- GDPR requests (`assistenza gdpr erase`): the secret that makes an erased address's
-- pseudonym (the same address always gets the same one, and nobody without this file
-- can compute it), and an audit of what the administration did: that an erasure
-- happened and when, never what or whose.
CREATE TABLE gdpr_salt (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    salt BLOB NOT NULL
);
-- SQLite's randomblob() is a ChaCha20 stream seeded from the operating system.
INSERT INTO gdpr_salt (id, salt) VALUES (1, randomblob(32));

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    action TEXT NOT NULL,                -- gdpr_erase
    detail TEXT NOT NULL DEFAULT ''      -- counts only, never an address
);
