-- What the running daemon last did, for `assistenza status` (read by another process).
CREATE TABLE daemon_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Acknowledgements by ticket, for the promise report.
CREATE INDEX outbox_by_kind ON outbox(kind, ticket_id);
