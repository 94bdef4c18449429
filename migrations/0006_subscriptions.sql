-- Subscriptions: a customer on one version of a plan from a start date (in the
-- workspace zone) to an optional end date (excluded), billed in periods on an
-- anchor day. `terms` holds the per-subscription price overrides and discounts
-- as JSON. One customer's subscriptions never overlap: usage at any instant
-- belongs to at most one of them.
CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    plan_id       INTEGER NOT NULL,
    plan_version  INTEGER NOT NULL,
    start_date    TEXT NOT NULL,
    end_date      TEXT,
    anchor_day    INTEGER NOT NULL CHECK (anchor_day BETWEEN 1 AND 31),
    terms         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    FOREIGN KEY (plan_id, plan_version) REFERENCES plan_versions (plan_id, version),
    CHECK (end_date IS NULL OR end_date > start_date)
) STRICT;

CREATE INDEX subscriptions_by_customer ON subscriptions (customer_id, start_date);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan_id, plan_version);
