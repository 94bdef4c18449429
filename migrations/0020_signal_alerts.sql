-- The inbox also holds the business signals (docs/billing.md "Business
-- figures"): a churn risk or a power user is raised once per customer and
-- reason (`subject` names the signal and its period, e.g.
-- 'falling:2026-10-01'). The kinds of the usage and spend rules (issue 17)
-- are allowed already, so that table is not rebuilt again.
CREATE TABLE alerts_v20 (
    id               INTEGER PRIMARY KEY,
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    kind             TEXT NOT NULL CHECK (kind IN ('low_balance', 'expiring', 'topup', 'churn_risk', 'power_user',
                                                   'usage', 'spend')),
    subject          TEXT NOT NULL DEFAULT '',   -- the grant, or the signal and its period, it is about
    message          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    acknowledged_at  TEXT
) STRICT;

INSERT INTO alerts_v20 (id, customer_id, kind, subject, message, created_at, acknowledged_at)
SELECT id, customer_id, kind, subject, message, created_at, acknowledged_at FROM alerts;

DROP TABLE alerts;
ALTER TABLE alerts_v20 RENAME TO alerts;

-- A grant's expiry is announced once; a signal once per customer and subject.
CREATE UNIQUE INDEX alerts_expiring_once ON alerts (customer_id, subject) WHERE kind = 'expiring';
CREATE UNIQUE INDEX alerts_signal_once ON alerts (customer_id, kind, subject) WHERE kind IN ('churn_risk', 'power_user');
CREATE INDEX alerts_open ON alerts (id) WHERE acknowledged_at IS NULL;
