-- Finalized invoices. A row is frozen when written: triggers refuse every
-- UPDATE and DELETE, so no code path can change or remove one. Later states
-- (paid, void) are appended to invoice_status; nothing is rewritten.

-- The last number used per series and year ('INV' 2026 → 41). Taking the next
-- number and writing its invoice happen in one transaction: a crash before the
-- commit loses both, so numbers are gapless and never reused.
CREATE TABLE number_series (
    series  TEXT NOT NULL,
    year    INTEGER NOT NULL,
    last    INTEGER NOT NULL CHECK (last >= 1),
    PRIMARY KEY (series, year)
) STRICT;

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,      -- 'INV-2026-00001'
    series          TEXT NOT NULL,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
    period_start    TEXT NOT NULL,             -- RFC 3339 UTC
    period_end      TEXT NOT NULL,
    issue_date      TEXT NOT NULL,             -- a local date of the workspace zone
    due_date        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    total           TEXT NOT NULL,
    amount_due      TEXT NOT NULL,
    content         TEXT NOT NULL,             -- the whole frozen invoice, JSON
    previous_hash   TEXT NOT NULL,             -- the previous invoice's hash ('' for the first)
    hash            TEXT NOT NULL,             -- SHA-256 of previous_hash and content, hex
    finalized_at    TEXT NOT NULL,
    UNIQUE (series, year, seq),
    UNIQUE (subscription_id, period_start)     -- a subscription's period is finalized once
) STRICT;

CREATE INDEX invoices_by_customer ON invoices (customer_id, period_start);

CREATE TRIGGER invoices_are_frozen_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be changed: void it or issue a credit note'); END;
CREATE TRIGGER invoices_are_frozen_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be deleted: void it or issue a credit note'); END;

-- What happened to an invoice after it was finalized, in order.
CREATE TABLE invoice_status (
    id          INTEGER PRIMARY KEY,
    invoice_id  INTEGER NOT NULL REFERENCES invoices (id),
    status      TEXT NOT NULL CHECK (status IN ('paid', 'void')),
    on_date     TEXT NOT NULL,                 -- the payment's or the void's date
    note        TEXT NOT NULL,                 -- the payment reference, or why it was voided
    at          TEXT NOT NULL
) STRICT;

CREATE TRIGGER invoice_status_is_append_only_update BEFORE UPDATE ON invoice_status
BEGIN SELECT RAISE(ABORT, 'an invoice''s history cannot be changed'); END;
CREATE TRIGGER invoice_status_is_append_only_delete BEFORE DELETE ON invoice_status
BEGIN SELECT RAISE(ABORT, 'an invoice''s history cannot be deleted'); END;

-- The audit trail: who did what to which document, append-only.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    action   TEXT NOT NULL,        -- 'finalize', 'void', 'paid', …
    subject  TEXT NOT NULL,        -- the document's number
    detail   TEXT NOT NULL         -- JSON
) STRICT;

CREATE TRIGGER audit_log_is_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be changed'); END;
CREATE TRIGGER audit_log_is_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail cannot be deleted'); END;
