-- Plans: a code, and its versions, each the plan's whole definition.
CREATE TABLE plans (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
) STRICT;

-- A plan's definition (PlanFields as JSON). Version 1 is written with the plan;
-- a change replaces the latest version until subscriptions hold it, and then
-- adds the next version (subscriptions keep theirs until moved).
CREATE TABLE plan_versions (
    plan_id     INTEGER NOT NULL REFERENCES plans (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (plan_id, version)
) STRICT;
