-- Corrections after finalizing (DESIGN.md "Corrections after finalizing"): a void invoice
-- gives its subscription period back, and the next finalize of that period
-- reissues it under a new number that names the void one. An advance fee is
-- billed once per period, on whichever invoice is finalized first.
--
-- The table is rebuilt to widen its unique key: one invoice per subscription
-- period and kind per generation, where the generation counts the void
-- invoices of that period and kind that came before (0 for the first).
CREATE TABLE invoices_v12 (
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
    generation      INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    replaces        TEXT,                 -- the number of the void invoice this one reissues
    -- A period invoice that billed the period's advance fees itself (no
    -- advance invoice of the period stood when it was finalized).
    advance_fees    INTEGER NOT NULL DEFAULT 0 CHECK (advance_fees IN (0, 1)),
    UNIQUE (series, year, seq),
    UNIQUE (subscription_id, period_start, kind, generation)
) STRICT;

-- Before this schema no period was invoiced twice, and a period invoice
-- finalized without an advance invoice of its period billed the advance fees.
INSERT INTO invoices_v12 (id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
    issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind,
    generation, replaces, advance_fees)
SELECT i.id, i.number, i.series, i.year, i.seq, i.customer_id, i.subscription_id, i.period_start, i.period_end,
    i.issue_date, i.due_date, i.currency, i.total, i.amount_due, i.content, i.previous_hash, i.hash,
    i.finalized_at, i.kind, 0, NULL,
    CASE WHEN i.kind = 'period' AND NOT EXISTS (
        SELECT 1 FROM invoices a WHERE a.kind = 'advance' AND a.subscription_id = i.subscription_id
          AND a.period_start = i.period_start) THEN 1 ELSE 0 END
FROM invoices i;

DROP TABLE invoices;
ALTER TABLE invoices_v12 RENAME TO invoices;

CREATE INDEX invoices_by_customer ON invoices (customer_id, period_start);
CREATE INDEX invoices_by_issue_date ON invoices (issue_date);
CREATE TRIGGER invoices_are_frozen_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be changed: void it or issue a credit note'); END;
CREATE TRIGGER invoices_are_frozen_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'a finalized invoice cannot be deleted: void it or issue a credit note'); END;
