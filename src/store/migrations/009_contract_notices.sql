-- Contract expiry notices sent to the administration: one per contract, kind and end
-- date, recorded in the transaction that queues the notice's mail. The end date is in
-- the key, so a renewal (a later valid_until) arms the next notice by itself.
CREATE TABLE contract_notices (
    contract_id INTEGER NOT NULL REFERENCES contracts(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,            -- before | lapsed
    valid_until TEXT NOT NULL,            -- YYYY-MM-DD, the end date it was about
    sent_at     TEXT NOT NULL,
    PRIMARY KEY (contract_id, kind, valid_until)
);
