-- The ticket's life after intake: who has it, level, urgency, the deadlines the scheduler
-- enforces, and a history of who did what. Texts of the thread are kept beside the raw
-- mail so escalations can quote the whole conversation without re-parsing MIME.

ALTER TABLE tickets ADD COLUMN operator TEXT;                 -- operator name in charge
ALTER TABLE tickets ADD COLUMN level INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tickets ADD COLUMN team TEXT;                     -- second-level team
ALTER TABLE tickets ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN first_contact_due_at TEXT;
ALTER TABLE tickets ADD COLUMN first_contact_at TEXT;
ALTER TABLE tickets ADD COLUMN reminded_at TEXT;
ALTER TABLE tickets ADD COLUMN closed_at TEXT;
ALTER TABLE tickets ADD COLUMN reopen_until TEXT;
-- The next time the scheduler owes this ticket something (core::ticket::next_deadline).
ALTER TABLE tickets ADD COLUMN next_deadline_at TEXT;
CREATE INDEX tickets_next_deadline ON tickets(next_deadline_at) WHERE next_deadline_at IS NOT NULL;

ALTER TABLE inbound ADD COLUMN text TEXT;                     -- own text, for ticket mail
ALTER TABLE outbox ADD COLUMN body TEXT;

CREATE TABLE ticket_events (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,           -- operator name, customer address, or "sistema"
    event      TEXT NOT NULL,           -- opened | taken | assigned | escalated | ...
    detail     TEXT NOT NULL DEFAULT '',
    inbound_id INTEGER REFERENCES inbound(id)
);
CREATE INDEX ticket_events_by_ticket ON ticket_events(ticket_id);
