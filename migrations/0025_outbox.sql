-- Sending by e-mail (docs/billing.md "Payments, reminders and sending"). The
-- mail server's settings (never its password, which stays outside the
-- workspace), the message templates and the reminder levels live in the
-- settings row. Every message is first queued here with everything it
-- carries, then handed to the server; a message is kept, never deleted, and
-- one document, kind and level has one message only.
ALTER TABLE workspace_settings ADD COLUMN mail TEXT;            -- JSON, absent until set
ALTER TABLE workspace_settings ADD COLUMN reminder_days TEXT NOT NULL DEFAULT '[7,21,45]';

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    document        TEXT NOT NULL,          -- an invoice's or credit note's number, or a statement's key
    kind            TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'reminder', 'statement')),
    level           INTEGER NOT NULL DEFAULT 0 CHECK (level >= 0),   -- a reminder's level (1, 2, …); 0 otherwise
    customer        TEXT NOT NULL,          -- the customer's id
    recipients      TEXT NOT NULL,          -- JSON array of addresses
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    attachment_name TEXT NOT NULL,
    attachment      BLOB NOT NULL,          -- the PDF, as queued
    message_id      TEXT NOT NULL UNIQUE,   -- the same on every attempt
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    queued_at       TEXT NOT NULL,
    attempted_at    TEXT,
    sent_at         TEXT,
    server_reply    TEXT,
    UNIQUE (document, kind, level)
) STRICT;

CREATE INDEX outbox_unsent ON outbox (status) WHERE status <> 'sent';

CREATE TRIGGER outbox_is_kept_delete BEFORE DELETE ON outbox
BEGIN SELECT RAISE(ABORT, 'a message in the outbox is kept: it cannot be deleted'); END;
-- Once sent, a message's record does not change.
CREATE TRIGGER outbox_sent_is_final BEFORE UPDATE ON outbox WHEN OLD.status = 'sent'
BEGIN SELECT RAISE(ABORT, 'a sent message cannot be changed'); END;
-- What a message says and to whom never changes after it was queued.
CREATE TRIGGER outbox_content_is_kept BEFORE UPDATE OF document, kind, level, customer, recipients, subject, body,
    attachment_name, attachment, message_id, queued_at ON outbox
BEGIN SELECT RAISE(ABORT, 'a queued message''s content cannot be changed'); END;
