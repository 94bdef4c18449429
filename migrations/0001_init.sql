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

-- The customer list's order; the partial index serves the default view (active
-- customers) for both its count and its pages, without visiting archived rows.
CREATE INDEX customers_by_name ON customers (name COLLATE NOCASE, external_id);
CREATE INDEX customers_active_by_name ON customers (name COLLATE NOCASE, external_id)
    WHERE archived_at IS NULL;

-- Substring search over id, name and email (3+ characters) without a table scan.
CREATE VIRTUAL TABLE customers_search USING fts5 (
    external_id, name, email,
    content = 'customers', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN
    INSERT INTO customers_search (rowid, external_id, name, email)
    VALUES (NEW.id, NEW.external_id, NEW.name, NEW.email);
END;

CREATE TRIGGER customers_search_update AFTER UPDATE OF name, email ON customers BEGIN
    INSERT INTO customers_search (customers_search, rowid, external_id, name, email)
    VALUES ('delete', OLD.id, OLD.external_id, OLD.name, OLD.email);
    INSERT INTO customers_search (rowid, external_id, name, email)
    VALUES (NEW.id, NEW.external_id, NEW.name, NEW.email);
END;

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
