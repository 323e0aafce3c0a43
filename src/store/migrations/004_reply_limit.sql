-- The reply rate limit: mails over it are recorded here, never sent (failed_at is set
-- with them, so nothing treats them as pending), and the reason kept.
ALTER TABLE outbox ADD COLUMN held TEXT;
CREATE INDEX outbox_by_created ON outbox(created_at);
