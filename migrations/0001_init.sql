-- Workspace settings and customers: the foundation.
-- Decimals are TEXT (never REAL); timestamps are RFC 3339 UTC TEXT.

CREATE TABLE workspace_settings (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    company_name        TEXT NOT NULL,
    address             TEXT NOT NULL DEFAULT '[]',   -- JSON array of lines
    tax_id              TEXT,
    currency            TEXT NOT NULL,
    timezone            TEXT NOT NULL,
    invoice_prefix      TEXT NOT NULL,
    payment_terms_days  INTEGER NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 365)
) STRICT;

CREATE TABLE customers (
    id                  INTEGER PRIMARY KEY,
    external_id         TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    email               TEXT,
    currency            TEXT NOT NULL,
    tax_rate            TEXT NOT NULL DEFAULT '0',    -- fraction, e.g. '0.20'
    tax_exempt_reason   TEXT,                         -- NULL unless exempt
    address             TEXT NOT NULL DEFAULT '[]',   -- JSON array of lines
    archived_at         TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;

CREATE INDEX customers_by_name ON customers (name COLLATE NOCASE, external_id);

-- Architecture invariant: a customer's external id never changes once stored.
CREATE TRIGGER customers_external_id_immutable
BEFORE UPDATE OF external_id ON customers
WHEN NEW.external_id IS NOT OLD.external_id
BEGIN
    SELECT RAISE(ABORT, 'customer external id is immutable');
END;

-- Architecture invariant: customers are archived, never deleted.
CREATE TRIGGER customers_never_deleted
BEFORE DELETE ON customers
BEGIN
    SELECT RAISE(ABORT, 'customers are archived, never deleted');
END;
