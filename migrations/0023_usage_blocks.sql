-- The daily rollups packed by blocks of 32 local days: one row per meter,
-- customer and block holds each day's aggregate per group (engine::rollup
-- reads and writes its format), instead of one row per day and group. A
-- period is read in one or two rows, and an import of many events writes
-- far fewer. Derived data: every meter is rebuilt from the event chunks on
-- the next refresh.
DROP TABLE usage_days;

CREATE TABLE usage_blocks (
    id          INTEGER PRIMARY KEY,
    meter_id    INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    block       INTEGER NOT NULL,   -- local day number (days since 1970-01-01) div 32
    data        BLOB NOT NULL,      -- the block's (day, group, aggregate) entries, format 1
    UNIQUE (meter_id, customer_id, block)
) STRICT;

-- The group values each meter has seen per customer, for pickers.
CREATE TABLE usage_groups (
    meter_id    INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    grp         TEXT NOT NULL,      -- '=' || the group value
    PRIMARY KEY (meter_id, customer_id, grp)
) STRICT, WITHOUT ROWID;

DELETE FROM usage_days_state;
