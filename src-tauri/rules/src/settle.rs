//! What a finalized invoice still asks for once credit notes correct it
//! (docs/billing.md "Corrections after finalizing").
//!
//! An invoice's amount due is its total less the wallet credits applied, plus
//! the top-ups it bills (top-ups are owed money, not usage). Credit notes,
//! tax included, take off first what the customer owes for the usage (the
//! amount due less the top-ups), then give back what the wallet paid, then
//! take off the top-ups: a credited invoice never leaves the customer paying
//! for usage while its credit is returned, and a top-up bought stays owed
//! until nothing else is left to credit.

use rust_decimal::Decimal;

/// What an invoice settles, as frozen at finalize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dues {
    /// What the customer was asked to pay, top-ups included.
    pub amount_due: Decimal,
    /// The top-ups billed on the invoice.
    pub topups: Decimal,
    /// The wallet credits the invoice consumed.
    pub credits_applied: Decimal,
}

impl Dues {
    /// How much of the wallet credits the credit notes give back once they
    /// credit `credited` in all.
    pub fn returned_by(&self, credited: Decimal) -> Decimal {
        let usage_due = self.amount_due - self.topups;
        (credited - usage_due).max(Decimal::ZERO).min(self.credits_applied)
    }

    /// What the invoice still asks the customer to pay once its credit notes
    /// took off `credited`: the amount due less what they credited, except
    /// what they gave back to the wallet instead. Zero or less: nothing owed.
    pub fn owed_after(&self, credited: Decimal) -> Decimal {
        self.amount_due - (credited - self.returned_by(credited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn credit_notes_take_off_usage_then_return_credit_then_top_ups() {
        // (amount due, top-ups, credits applied, credited) → (returned, owed)
        let table = [
            // No wallet: a credit note lowers what is owed, cent for cent.
            (dec!(120.00), dec!(0), dec!(0), dec!(20.00), dec!(0), dec!(100.00)),
            (dec!(120.00), dec!(0), dec!(0), dec!(120.00), dec!(0), dec!(0.00)),
            // The burn-order example: 120 paid by the wallet, nothing due.
            // Crediting 50 gives 50 back to the wallet; owed stays 0.
            (dec!(0.00), dec!(0), dec!(120.00), dec!(50.00), dec!(50.00), dec!(0.00)),
            (dec!(0.00), dec!(0), dec!(120.00), dec!(120.00), dec!(120.00), dec!(0.00)),
            // Partly wallet-paid: 80 due, 40 credits. The first 80 credited
            // lower the usage owed, the rest returns credit (at most 40).
            (dec!(80.00), dec!(0), dec!(40.00), dec!(60.00), dec!(0), dec!(20.00)),
            (dec!(80.00), dec!(0), dec!(40.00), dec!(100.00), dec!(20.00), dec!(0.00)),
            (dec!(80.00), dec!(0), dec!(40.00), dec!(120.00), dec!(40.00), dec!(0.00)),
            // A 500.00 top-up billed with 100 of usage due, 30 of credit used:
            // the usage goes first, then the credit, and the top-up stays owed.
            (dec!(600.00), dec!(500.00), dec!(30.00), dec!(100.00), dec!(0), dec!(500.00)),
            (dec!(600.00), dec!(500.00), dec!(30.00), dec!(130.00), dec!(30.00), dec!(500.00)),
            (dec!(600.00), dec!(500.00), dec!(30.00), dec!(630.00), dec!(30.00), dec!(0.00)),
        ];
        for (amount_due, topups, credits_applied, credited, returned, owed) in table {
            let dues = Dues { amount_due, topups, credits_applied };
            assert_eq!(dues.returned_by(credited), returned, "{dues:?} credited {credited}");
            assert_eq!(dues.owed_after(credited), owed, "{dues:?} credited {credited}");
        }
    }
}
