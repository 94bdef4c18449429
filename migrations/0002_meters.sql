-- Meters: how usage events of one type aggregate per customer and period.

CREATE TABLE meters (
    id              INTEGER PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    unit            TEXT,
    event_type      TEXT NOT NULL,                 -- the events it counts (default: its code)
    aggregation     TEXT NOT NULL CHECK (aggregation IN ('count', 'sum', 'max', 'min', 'avg', 'unique_count', 'latest')),
    property        TEXT,                          -- NULL only for count
    filters         TEXT NOT NULL DEFAULT '{}',    -- JSON object: property -> required value
    group_by        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK ((aggregation = 'count') OR (property IS NOT NULL))
) STRICT;

CREATE INDEX meters_by_event_type ON meters (event_type);
