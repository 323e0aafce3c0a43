-- The reply rate limit: mails over it are recorded here, never sent (failed_at is set
-- with them, so nothing treats them as pending), and the reason kept.
ALTER TABLE outbox ADD COLUMN held TEXT;

-- Each recipient of each queued mail, so that "how many mails went to this address in
-- the last hour" is an index range, not a scan of the outbox.
CREATE TABLE outbox_recipients (
    outbox_id  INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_recipients_by_address ON outbox_recipients(address, created_at);
CREATE INDEX outbox_recipients_by_outbox ON outbox_recipients(outbox_id);
