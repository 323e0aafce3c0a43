-- The operators' working tools: time spent, extra interventions, quotes and the
-- customer's answer, waiting for the customer, merged tickets, colleagues in copy.

ALTER TABLE tickets ADD COLUMN extra TEXT NOT NULL DEFAULT 'no';   -- no | possible | yes
-- While waiting for the customer (an answer, or a quote's): the one reminder, and the
-- closure if they never answer (core::ticket::TicketStatus).
ALTER TABLE tickets ADD COLUMN customer_reminder_at TEXT;
ALTER TABLE tickets ADD COLUMN customer_reminded_at TEXT;
ALTER TABLE tickets ADD COLUMN auto_close_at TEXT;
-- Set once merged: mail for this ticket reaches that one.
ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets(id);
-- Existing urgent tickets were "a possible extra-billed intervention" by definition.
UPDATE tickets SET extra = 'possible' WHERE urgent = 1;

CREATE TABLE time_entries (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    operator   TEXT NOT NULL,
    day        TEXT NOT NULL,           -- YYYY-MM-DD, Europe/Rome
    minutes    INTEGER NOT NULL,        -- negative corrects an earlier entry
    at         TEXT NOT NULL,
    inbound_id INTEGER REFERENCES inbound(id)
);
CREATE INDEX time_entries_by_ticket ON time_entries(ticket_id);
CREATE INDEX time_entries_by_day ON time_entries(day);

CREATE TABLE quotes (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets(id),
    operator     TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    sent_at      TEXT NOT NULL,
    text         TEXT NOT NULL DEFAULT '',
    inbound_id   INTEGER REFERENCES inbound(id),
    -- accepted | refused | replaced (by a later quote), NULL while unanswered
    decision     TEXT,
    decided_at   TEXT,
    decided_by   TEXT                   -- the customer's address
);
CREATE INDEX quotes_by_ticket ON quotes(ticket_id);

CREATE TABLE ticket_participants (
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    address    TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, address)
);
