-- Messages set aside in quarantine because handling them failed (outcome 'failed', the
-- reason kept with them), for `assistenza status`: a few rows among many, found by time.
CREATE INDEX inbound_failed ON inbound(processed_at) WHERE outcome = 'failed';
