-- What invoices print beyond the first schema: the paper they are laid out
-- on, and the buyer's tax id (DESIGN.md "Invoices": both parties' tax ids).
ALTER TABLE workspace_settings ADD COLUMN paper TEXT NOT NULL DEFAULT 'a4' CHECK (paper IN ('a4', 'letter'));
ALTER TABLE customers ADD COLUMN tax_id TEXT;
