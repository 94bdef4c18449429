-- Credit wallets (DESIGN.md "Credit wallets"): per customer, grants of
-- prepaid or free credit and an append-only ledger of what happened to them.
-- Both tables refuse UPDATE and DELETE: a correction is a new entry.

-- A grant: an amount of credit in the customer's currency, used in burn
-- order (soonest expiry, then higher priority, then oldest).
CREATE TABLE wallet_grants (
    id               INTEGER PRIMARY KEY,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    code             TEXT NOT NULL,          -- the grant's id (the catalog's), unique per customer
    kind             TEXT NOT NULL CHECK (kind IN ('paid', 'free')),
    origin           TEXT NOT NULL CHECK (origin IN ('catalog', 'manual', 'auto_topup', 'rollover')),
    currency         TEXT NOT NULL,
    amount           TEXT NOT NULL,
    expires          TEXT,                   -- the last local day (workspace zone) it can be used
    priority         INTEGER NOT NULL DEFAULT 0,
    rollover_percent TEXT,                   -- at expiry, at most this % of what is left rolls over
    rollover_max     TEXT,                   -- and at most this amount
    rollover_months  INTEGER,                -- the rolled credit lasts this many months more
    reference        TEXT,                   -- a paid top-up's invoice or payment reference
    note             TEXT NOT NULL DEFAULT '',
    rolled_from      INTEGER REFERENCES wallet_grants (id),
    granted_at       TEXT NOT NULL,          -- UTC
    UNIQUE (customer_id, code)
) STRICT;

CREATE INDEX wallet_grants_by_expiry ON wallet_grants (expires) WHERE expires IS NOT NULL;
CREATE INDEX wallet_grants_by_customer_expiry ON wallet_grants (customer_id, expires);

-- The ledger. Every entry belongs to one grant and carries the grant's
-- remaining amount and the wallet's balance after it, so a balance is read
-- from one row however long the ledger; the CHECKs make a negative one
-- impossible to write.
CREATE TABLE wallet_entries (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers (id),
    grant_id       INTEGER NOT NULL REFERENCES wallet_grants (id),
    kind           TEXT NOT NULL
                   CHECK (kind IN ('grant', 'consumption', 'expiry', 'rollover', 'void', 'adjustment')),
    amount         TEXT NOT NULL,            -- signed
    grant_balance  TEXT NOT NULL CHECK (grant_balance NOT LIKE '-%'),
    balance        TEXT NOT NULL CHECK (balance NOT LIKE '-%'),
    invoice_id     INTEGER REFERENCES invoices (id),
    note           TEXT NOT NULL DEFAULT '',
    at             TEXT NOT NULL             -- when it took effect, UTC
) STRICT;

CREATE INDEX wallet_entries_by_customer ON wallet_entries (customer_id, id);
CREATE INDEX wallet_entries_by_grant ON wallet_entries (grant_id, id);
-- Whether a grant has expired or been voided, without reading its other entries.
CREATE INDEX wallet_expiries ON wallet_entries (grant_id) WHERE kind = 'expiry';
CREATE INDEX wallet_voids ON wallet_entries (grant_id) WHERE kind = 'void';

CREATE TRIGGER wallet_grants_are_frozen_update BEFORE UPDATE ON wallet_grants
BEGIN SELECT RAISE(ABORT, 'a wallet grant cannot be changed'); END;
CREATE TRIGGER wallet_grants_are_frozen_delete BEFORE DELETE ON wallet_grants
BEGIN SELECT RAISE(ABORT, 'a wallet grant cannot be deleted'); END;
CREATE TRIGGER wallet_entries_are_frozen_update BEFORE UPDATE ON wallet_entries
BEGIN SELECT RAISE(ABORT, 'a wallet ledger entry cannot be changed'); END;
CREATE TRIGGER wallet_entries_are_frozen_delete BEFORE DELETE ON wallet_entries
BEGIN SELECT RAISE(ABORT, 'a wallet ledger entry cannot be deleted'); END;

-- Per-customer wallet rules: an automatic top-up, and alerts. Settings, not
-- history: changed in place. The `armed` flags make a rule fire once when the
-- projected balance drops below its line, and again only after it was back.
CREATE TABLE wallet_rules (
    customer_id    INTEGER PRIMARY KEY REFERENCES customers (id),
    topup_below    TEXT,                   -- when the projected balance drops below this...
    topup_amount   TEXT,                   -- ...grant this as a paid top-up, billed on the next invoice
    topup_armed    INTEGER NOT NULL DEFAULT 1,
    alert_below    TEXT,                   -- alert below this amount...
    alert_percent  TEXT,                   -- ...or below this % of the credit granted in active grants
    alert_armed    INTEGER NOT NULL DEFAULT 1,
    expiry_days    INTEGER,                -- alert when a grant with credit left ends within this many days
    updated_at     TEXT NOT NULL
) STRICT;

-- Which automatic top-ups were billed, on which invoice (once each).
CREATE TABLE wallet_topups_billed (
    grant_id    INTEGER PRIMARY KEY REFERENCES wallet_grants (id),
    invoice_id  INTEGER NOT NULL REFERENCES invoices (id)
) STRICT;

-- The console's alerts inbox: shown until acknowledged.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    kind             TEXT NOT NULL CHECK (kind IN ('low_balance', 'expiring', 'topup')),
    subject          TEXT NOT NULL DEFAULT '',   -- the grant it is about, if any
    message          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    acknowledged_at  TEXT
) STRICT;

-- A grant's expiry is announced once.
CREATE UNIQUE INDEX alerts_expiring_once ON alerts (customer_id, subject) WHERE kind = 'expiring';
CREATE INDEX alerts_open ON alerts (id) WHERE acknowledged_at IS NULL;
