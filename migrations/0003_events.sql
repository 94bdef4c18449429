-- Usage events and their import log.

-- Event types that meters count, numbered so events store a small integer.
CREATE TABLE event_types (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    events  INTEGER NOT NULL DEFAULT 0    -- how many are stored (events has no type index)
) STRICT;

-- Each stored event id, keyed by its 64-bit hash (xxh3). A different id with the
-- same hash is stored under the next free key, so no event is lost to a collision.
CREATE TABLE event_ids (
    id_key      INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL
) STRICT;

-- Events clustered by customer, type and time: one customer's month of one meter
-- is one contiguous range of this table, read without touching any other.
CREATE TABLE events (
    customer_id     INTEGER NOT NULL,     -- customers.id
    type_id         INTEGER NOT NULL,     -- event_types.id
    ts_ms           INTEGER NOT NULL,     -- unix milliseconds, UTC
    id_key          INTEGER NOT NULL,     -- event_ids.id_key
    properties      TEXT NOT NULL,        -- JSON object
    import_id       INTEGER NOT NULL,     -- imports.id
    PRIMARY KEY (customer_id, type_id, ts_ms, id_key)
) STRICT, WITHOUT ROWID;

-- One row per import: what was read, and how far it got.
CREATE TABLE imports (
    id              INTEGER PRIMARY KEY,
    file_name       TEXT NOT NULL,
    file_hash       TEXT,                 -- xxh3-128 of the bytes read, when finished
    format          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    outcome         TEXT NOT NULL CHECK (outcome IN ('running', 'completed', 'cancelled', 'failed')),
    accepted        INTEGER NOT NULL DEFAULT 0,
    duplicates      INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Saved CSV column mappings: which columns hold the id, customer, type and time.
CREATE TABLE column_mappings (
    name            TEXT PRIMARY KEY,
    id_column       TEXT NOT NULL,
    customer_column TEXT NOT NULL,
    type_column     TEXT NOT NULL,
    time_column     TEXT NOT NULL
) STRICT;
