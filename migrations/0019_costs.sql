-- What usage costs the company (docs/billing.md "Costs and margin"): cost
-- rates per meter and optional group value, each from a local day until a
-- later rate of the same meter and group; the exchange rates reports convert
-- costs with; and the margin floor under which a customer is a power user.
CREATE TABLE cost_rates (
    id          INTEGER PRIMARY KEY,
    meter       TEXT NOT NULL REFERENCES meters (code),
    group_value TEXT CHECK (group_value IS NULL OR group_value <> ''),
    currency    TEXT NOT NULL,
    unit_cost   TEXT NOT NULL,                 -- exact decimal text, >= 0
    from_day    TEXT NOT NULL,                 -- YYYY-MM-DD, local to the workspace zone
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX cost_rates_key ON cost_rates (meter, coalesce(group_value, ''), from_day);

CREATE TABLE fx_rates (
    id            INTEGER PRIMARY KEY,
    from_currency TEXT NOT NULL,
    to_currency   TEXT NOT NULL CHECK (to_currency <> from_currency),
    rate          TEXT NOT NULL,               -- 1 from = rate to; exact decimal text, > 0
    as_of         TEXT NOT NULL,               -- YYYY-MM-DD
    created_at    TEXT NOT NULL,
    UNIQUE (from_currency, to_currency, as_of)
) STRICT;

ALTER TABLE workspace_settings ADD COLUMN margin_floor_percent TEXT NOT NULL DEFAULT '20';
