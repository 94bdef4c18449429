-- Daily rollups: each meter's partial aggregate per customer, local day of the
-- workspace zone and group, kept from the stored event chunks so that a bill
-- preview reads days instead of events. Derived data: rebuilt from the chunks
-- whenever the zone or the meter's computation changes (see engine::rollup).
CREATE TABLE usage_days (
    meter_id     INTEGER NOT NULL,
    customer_id  INTEGER NOT NULL,
    day          INTEGER NOT NULL,  -- local date, days since 1970-01-01
    grp          TEXT NOT NULL,     -- '' ungrouped or no group value; '=' || value
    count        INTEGER NOT NULL,
    sum          BLOB NOT NULL,     -- rust_decimal, 16 bytes
    max          BLOB,
    min          BLOB,
    latest_ms    INTEGER,
    latest_order INTEGER,           -- chunk id × 65536 + place in the chunk: breaks ties of time
    latest       BLOB,
    distinct_values TEXT,           -- unique_count: a JSON array
    PRIMARY KEY (meter_id, customer_id, day, grp)
) STRICT, WITHOUT ROWID;

-- How far each meter's rollups are built: every chunk up to `through_chunk`,
-- for the computation and zone named by `signature`.
CREATE TABLE usage_days_state (
    meter_id       INTEGER PRIMARY KEY,
    through_chunk  INTEGER NOT NULL,
    signature      TEXT NOT NULL
) STRICT;
