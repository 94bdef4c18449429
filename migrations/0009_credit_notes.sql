-- Credit notes: corrections of a finalized invoice in their own series
-- ('CN-2026-00001', numbered from number_series like invoices), never more
-- than what is left to credit on the invoice or on a line. Frozen when written.
CREATE TABLE credit_notes (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    series      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    invoice_id  INTEGER NOT NULL REFERENCES invoices (id),
    issue_date  TEXT NOT NULL,        -- a local date of the workspace zone
    currency    TEXT NOT NULL,
    total       TEXT NOT NULL,        -- credited, tax included
    content     TEXT NOT NULL,        -- the whole credit note, JSON
    created_at  TEXT NOT NULL,
    UNIQUE (series, year, seq)
) STRICT;

CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id);

CREATE TRIGGER credit_notes_are_frozen_update BEFORE UPDATE ON credit_notes
BEGIN SELECT RAISE(ABORT, 'a credit note cannot be changed'); END;
CREATE TRIGGER credit_notes_are_frozen_delete BEFORE DELETE ON credit_notes
BEGIN SELECT RAISE(ABORT, 'a credit note cannot be deleted'); END;
