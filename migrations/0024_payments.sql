-- Payments of finalized invoices: several per invoice, each at most what is
-- still owed, in the invoice's currency. A payment recorded in error is taken
-- back by a reversal entry with its reason; neither is ever changed or
-- deleted. (An invoice recorded as paid before this, through invoice_status,
-- stays paid in full.)
CREATE TABLE payments (
    id          INTEGER PRIMARY KEY,
    invoice_id  INTEGER NOT NULL REFERENCES invoices (id),
    amount      TEXT NOT NULL,                 -- a decimal above zero
    on_date     TEXT NOT NULL,                 -- the day the money came in, YYYY-MM-DD
    method      TEXT NOT NULL CHECK (method IN ('bank_transfer', 'card', 'cash', 'other')),
    reference   TEXT NOT NULL CHECK (length(trim(reference)) > 0),
    at          TEXT NOT NULL
) STRICT;

CREATE INDEX payments_by_invoice ON payments (invoice_id);

CREATE TABLE payment_reversals (
    payment_id  INTEGER PRIMARY KEY REFERENCES payments (id),
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    at          TEXT NOT NULL
) STRICT;

CREATE TRIGGER payments_are_kept_update BEFORE UPDATE ON payments
BEGIN SELECT RAISE(ABORT, 'a payment cannot be changed: reverse it and record it again'); END;
CREATE TRIGGER payments_are_kept_delete BEFORE DELETE ON payments
BEGIN SELECT RAISE(ABORT, 'a payment cannot be deleted: reverse it'); END;
CREATE TRIGGER payment_reversals_are_kept_update BEFORE UPDATE ON payment_reversals
BEGIN SELECT RAISE(ABORT, 'a payment''s reversal cannot be changed'); END;
CREATE TRIGGER payment_reversals_are_kept_delete BEFORE DELETE ON payment_reversals
BEGIN SELECT RAISE(ABORT, 'a payment''s reversal cannot be deleted'); END;
