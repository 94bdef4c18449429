-- The company's payment details (payee, IBAN and BIC, or account and routing
-- number, a note), printed on every invoice: JSON, or NULL while none are set.
ALTER TABLE workspace_settings ADD COLUMN payment TEXT;
