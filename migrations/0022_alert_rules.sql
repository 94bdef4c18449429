-- Usage and spend alert rules (docs/billing.md "Alerts"), as the catalog
-- writes them: settings, changed in place by their id.
CREATE TABLE alert_rules (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    fields      TEXT NOT NULL,           -- the catalog entry, validated, as JSON
    updated_at  TEXT NOT NULL
) STRICT;

-- What a usage or spend alert records: its rule, the period it is about
-- (the first local day), the threshold passed and the value that passed it.
ALTER TABLE alerts ADD COLUMN rule TEXT;
ALTER TABLE alerts ADD COLUMN period TEXT;
ALTER TABLE alerts ADD COLUMN threshold TEXT;
ALTER TABLE alerts ADD COLUMN value TEXT;

-- Each (rule, customer, period, threshold) fires once: the subject is
-- "rule:period:threshold".
CREATE UNIQUE INDEX alerts_rule_once ON alerts (customer_id, subject) WHERE kind IN ('usage', 'spend');
