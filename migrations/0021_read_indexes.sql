-- Indexes for what every draft, report and invoice read asks: an invoice's
-- history (paid, void) by invoice — without it, each invoice read and each
-- "not void" check scanned the whole history, quadratic in the invoices —
-- and the invoices that billed a period's advance fees, a partial index so
-- that finding them never reads the invoices' frozen content.
CREATE INDEX invoice_status_by_invoice ON invoice_status (invoice_id, status);
CREATE INDEX invoices_advance_billed ON invoices (subscription_id, period_start, kind)
    WHERE kind = 'advance' OR advance_fees = 1;
