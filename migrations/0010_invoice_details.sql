-- What invoices print beyond the first schema: the paper they are laid out
-- on, whether they carry the usage appendix, the company's logo, and the
-- buyer's tax id (DESIGN.md "Invoices": both parties' tax ids).
ALTER TABLE workspace_settings ADD COLUMN paper TEXT NOT NULL DEFAULT 'a4' CHECK (paper IN ('a4', 'letter'));
ALTER TABLE workspace_settings ADD COLUMN usage_appendix INTEGER NOT NULL DEFAULT 0 CHECK (usage_appendix IN (0, 1));
ALTER TABLE customers ADD COLUMN tax_id TEXT;

-- Images by the SHA-256 of their bytes, kept for good: an invoice names the
-- logo it was finalized with, so a new logo never changes an old invoice.
CREATE TABLE images (
    hash        TEXT PRIMARY KEY,
    bytes       BLOB NOT NULL,
    added_at    TEXT NOT NULL
) STRICT;

CREATE TRIGGER images_are_kept_update BEFORE UPDATE ON images
BEGIN SELECT RAISE(ABORT, 'a stored image cannot be changed'); END;
CREATE TRIGGER images_are_kept_delete BEFORE DELETE ON images
BEGIN SELECT RAISE(ABORT, 'a stored image cannot be deleted: invoices may print it'); END;

-- The logo new invoices print (none: no logo).
ALTER TABLE workspace_settings ADD COLUMN logo TEXT REFERENCES images (hash);

-- An invoice is its period's invoice, or the fee-only invoice of the period's
-- advance fees issued at its start (DESIGN.md "Invoices"): one of each per
-- subscription period. The table is rebuilt to widen its unique key; the
-- migration runs with foreign keys off and checks them before it commits.
CREATE TABLE invoices_v10 (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    series          TEXT NOT NULL,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
    period_start    TEXT NOT NULL,
    period_end      TEXT NOT NULL,
    issue_date      TEXT NOT NULL,
    due_date        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    total           TEXT NOT NULL,
    amount_due      TEXT NOT NULL,
    content         TEXT NOT NULL,
    previous_hash   TEXT NOT NULL,
    hash            TEXT NOT NULL,
    finalized_at    TEXT NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'advance')),
    UNIQUE (series, year, seq),
    UNIQUE (subscription_id, period_start, kind)
) STRICT;

INSERT INTO invoices_v10 (id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
    issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind)
SELECT id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
    issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, 'period'
FROM invoices;

DROP TABLE invoices;
ALTER TABLE invoices_v10 RENAME TO invoices;

CREATE INDEX invoices_by_customer ON invoices (customer_id, period_start);
CREATE TRIGGER invoices_are_frozen_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be changed: void it or issue a credit note'); END;
CREATE TRIGGER invoices_are_frozen_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be deleted: void it or issue a credit note'); END;
