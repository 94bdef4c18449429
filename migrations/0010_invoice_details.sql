-- What invoices print beyond the first schema: the paper they are laid out
-- on, whether they carry the usage appendix, the company's logo, and the
-- buyer's tax id (DESIGN.md "Invoices": both parties' tax ids).
ALTER TABLE workspace_settings ADD COLUMN paper TEXT NOT NULL DEFAULT 'a4' CHECK (paper IN ('a4', 'letter'));
ALTER TABLE workspace_settings ADD COLUMN usage_appendix INTEGER NOT NULL DEFAULT 0 CHECK (usage_appendix IN (0, 1));
ALTER TABLE customers ADD COLUMN tax_id TEXT;

-- Images by the SHA-256 of their bytes, kept for good: an invoice names the
-- logo it was finalized with, so a new logo never changes an old invoice.
CREATE TABLE images (
    hash        TEXT PRIMARY KEY,
    bytes       BLOB NOT NULL,
    added_at    TEXT NOT NULL
) STRICT;

CREATE TRIGGER images_are_kept_update BEFORE UPDATE ON images
BEGIN SELECT RAISE(ABORT, 'a stored image cannot be changed'); END;
CREATE TRIGGER images_are_kept_delete BEFORE DELETE ON images
BEGIN SELECT RAISE(ABORT, 'a stored image cannot be deleted: invoices may print it'); END;

-- The logo new invoices print (none: no logo).
ALTER TABLE workspace_settings ADD COLUMN logo TEXT REFERENCES images (hash);
