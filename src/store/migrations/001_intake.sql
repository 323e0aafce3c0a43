-- Intake: contracts, tickets, every inbound message with its raw bytes, and the outbox.

CREATE TABLE contracts (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL UNIQUE,
    valid_from  TEXT NOT NULL,            -- YYYY-MM-DD, Europe/Rome
    valid_until TEXT NOT NULL,            -- YYYY-MM-DD inclusive, Europe/Rome
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE contract_addresses (
    contract_id INTEGER NOT NULL REFERENCES contracts(id) ON DELETE CASCADE,
    address     TEXT NOT NULL,            -- normalised: lower case, punycode domain
    PRIMARY KEY (contract_id, address)
);
CREATE INDEX contract_addresses_by_address ON contract_addresses(address);

CREATE TABLE contract_references (
    contract_id INTEGER NOT NULL REFERENCES contracts(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    reference   TEXT NOT NULL,
    PRIMARY KEY (contract_id, position)
);

-- Ticket numbers are counted per prefix and year and never reused.
CREATE TABLE ticket_counters (
    prefix TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    contract_id INTEGER NOT NULL REFERENCES contracts(id),
    requester   TEXT NOT NULL,
    sender      TEXT NOT NULL,
    state       TEXT NOT NULL,
    summary     TEXT NOT NULL,
    opened_at   TEXT NOT NULL,
    ack_due_at  TEXT NOT NULL
);

-- Every message taken from the mailbox (or given to `process`), whatever its outcome.
CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT,                    -- NULL for `process FILE.eml`
    uidvalidity  INTEGER,
    uid          INTEGER,
    message_id   TEXT,
    received_at  TEXT NOT NULL,           -- IMAP INTERNALDATE, never the Date header
    processed_at TEXT NOT NULL,
    sender       TEXT,
    subject      TEXT NOT NULL,
    size         INTEGER NOT NULL,
    outcome      TEXT NOT NULL,           -- ticket | update | rejected | quarantine
    reason       TEXT NOT NULL,
    folder       TEXT NOT NULL,           -- processed | rejected | quarantine
    ticket_id    INTEGER REFERENCES tickets(id),
    raw          BLOB NOT NULL,
    moved_at     TEXT,                    -- when the IMAP move was confirmed
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX inbound_by_message_id ON inbound(message_id);
CREATE INDEX inbound_by_ticket ON inbound(ticket_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    ticket_id       INTEGER REFERENCES tickets(id),
    inbound_id      INTEGER REFERENCES inbound(id),
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,        -- comma separated
    subject         TEXT NOT NULL,
    raw             BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT,                 -- gave up: permanent error or retries exhausted
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_by_ticket ON outbox(ticket_id);
