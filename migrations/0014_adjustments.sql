-- Late usage (docs/billing.md "Corrections after finalizing"): events that
-- arrive in a period already invoiced are billed by an adjustment invoice of
-- that period, in the main series, which names the invoice it adjusts. A
-- period may have several (more late events after an adjustment); the
-- generation counts them.
--
-- The table is rebuilt to widen the kind's check and add `adjusts`.
CREATE TABLE invoices_v14 (
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
    kind            TEXT NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'advance', 'adjustment')),
    generation      INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    replaces        TEXT,
    advance_fees    INTEGER NOT NULL DEFAULT 0 CHECK (advance_fees IN (0, 1)),
    adjusts         TEXT,                 -- an adjustment: the number of the period invoice it adjusts
    CHECK ((kind = 'adjustment') = (adjusts IS NOT NULL)),
    UNIQUE (series, year, seq),
    UNIQUE (subscription_id, period_start, kind, generation)
) STRICT;

INSERT INTO invoices_v14 (id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
    issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind,
    generation, replaces, advance_fees, adjusts)
SELECT id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
    issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind,
    generation, replaces, advance_fees, NULL
FROM invoices;

DROP TABLE invoices;
ALTER TABLE invoices_v14 RENAME TO invoices;

CREATE INDEX invoices_by_customer ON invoices (customer_id, period_start);
CREATE INDEX invoices_by_issue_date ON invoices (issue_date);
CREATE INDEX invoices_by_adjusted ON invoices (adjusts) WHERE adjusts IS NOT NULL;
CREATE TRIGGER invoices_are_frozen_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be changed: void it or issue a credit note'); END;
CREATE TRIGGER invoices_are_frozen_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be deleted: void it or issue a credit note'); END;
