-- Who did what: the audit trail records the person (the operating system's
-- user running the console or the CLI) beside each entry. Entries written
-- before this migration have none.
ALTER TABLE audit_log ADD COLUMN actor TEXT;
