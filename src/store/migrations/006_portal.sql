-- The portal's form. With `web.require_confirmation`, a submission waits here until the
-- owner of the address confirms its link; then it is recorded in `inbound` like any
-- other message and `inbound_id` points to it.
CREATE TABLE web_pending (
    id           INTEGER PRIMARY KEY,
    token        TEXT NOT NULL UNIQUE,    -- the random part of the confirmation link
    form_key     TEXT NOT NULL UNIQUE,    -- the form's idempotency key
    address      TEXT NOT NULL,           -- the requester's address, as typed
    fields       TEXT NOT NULL,           -- the form's fields, JSON
    raw          BLOB NOT NULL,           -- the submission as a MIME message, files included
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    confirmed_at TEXT,
    inbound_id   INTEGER REFERENCES inbound(id)
);
CREATE INDEX web_pending_by_expiry ON web_pending(expires_at);
