-- Events packed in chunks and ids kept as sorted runs of hashes (event_store.rs
-- describes both). Replaces 0003's row per event, whose per-row B-tree writes
-- bounded import speed. Rows stored under 0003 are converted into these tables
-- right after this migration (event_store::convert_legacy), which then drops
-- the old `events` and `event_ids`.

-- Each stored event id's 128-bit xxh3 hash, in sorted runs per bucket (the hash's first byte).
CREATE TABLE event_keys (
    id      INTEGER PRIMARY KEY,
    bucket  INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    keys    BLOB NOT NULL            -- ascending 16-byte big-endian hashes
) STRICT;
CREATE INDEX event_keys_by_bucket ON event_keys (bucket);

-- One customer's events of one type from one import batch, within 7 UTC days.
CREATE TABLE event_chunks (
    id          INTEGER PRIMARY KEY, -- in write order
    customer_id INTEGER NOT NULL,    -- customers.id
    type_id     INTEGER NOT NULL,    -- event_types.id
    day         INTEGER NOT NULL,    -- the first event's UTC day, since 1970-01-01
    first_ms    INTEGER NOT NULL,    -- the first event's time, unix ms
    last_ms     INTEGER NOT NULL,    -- the last event's time, unix ms
    events      INTEGER NOT NULL,
    import_id   INTEGER NOT NULL,    -- imports.id
    late        INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)), -- its events fell in an invoiced period
    data        BLOB NOT NULL        -- the events, chunk format 1
) STRICT;
-- Covering the metadata: counting and finding chunks never reads their data.
CREATE INDEX event_chunks_by_customer
    ON event_chunks (customer_id, type_id, day, first_ms, last_ms, events, import_id, late);

-- Periods already invoiced, per customer, half-open [from_ms, to_ms): finalizing
-- an invoice records its period here, and events imported into one are late.
CREATE TABLE invoiced_periods (
    customer_id INTEGER NOT NULL,    -- customers.id
    from_ms     INTEGER NOT NULL,
    to_ms       INTEGER NOT NULL CHECK (to_ms > from_ms),
    PRIMARY KEY (customer_id, from_ms)
) STRICT;

-- Rejected rows as the file wrote them (up to 100,000 per import), so they can
-- be saved, fixed and imported again.
CREATE TABLE import_rejects (
    import_id   INTEGER NOT NULL,    -- imports.id
    seq         INTEGER NOT NULL,    -- order in the file
    line        INTEGER NOT NULL,
    field       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    raw         BLOB NOT NULL,       -- CSV: the record as one CSV row; JSON: the value on one line
    PRIMARY KEY (import_id, seq)
) STRICT;

-- The import log gains the CSV header (to head saved rejects) and the outcome
-- 'interrupted': an import found 'running' when no importer holds the
-- workspace's import lock was killed or crashed.
CREATE TABLE imports_v4 (
    id              INTEGER PRIMARY KEY,
    file_name       TEXT NOT NULL,
    file_hash       TEXT,                 -- xxh3-128 of the bytes read, when finished
    format          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    outcome         TEXT NOT NULL
                    CHECK (outcome IN ('running', 'completed', 'cancelled', 'failed', 'interrupted')),
    accepted        INTEGER NOT NULL DEFAULT 0,
    duplicates      INTEGER NOT NULL DEFAULT 0,
    rejected        INTEGER NOT NULL DEFAULT 0,
    late            INTEGER NOT NULL DEFAULT 0, -- accepted events in an already invoiced period
    header          BLOB                  -- a CSV file's header row
) STRICT;
INSERT INTO imports_v4 (id, file_name, file_hash, format, started_at, ended_at, outcome, accepted, duplicates, rejected)
    SELECT id, file_name, file_hash, format, started_at, ended_at, outcome, accepted, duplicates, rejected FROM imports;
DROP TABLE imports;
ALTER TABLE imports_v4 RENAME TO imports;
