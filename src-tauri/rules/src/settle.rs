//! How an invoice is settled once rated: top-ups added after tax, wallet
//! credits burned in their order, the amount due (docs/billing.md "One
//! invoice's arithmetic", "Wallets"); and what a finalized invoice still asks
//! for once credit notes correct it ("Corrections after finalizing").
//!
//! An invoice's amount due is its total less the wallet credits applied, plus
//! the top-ups it bills (top-ups are owed money, not usage). Credit notes,
//! tax included, take off first what the customer owes for the usage (the
//! amount due less the top-ups), then give back what the wallet paid, then
//! take off the top-ups: a credited invoice never leaves the customer paying
//! for usage while its credit is returned, and a top-up bought stays owed
//! until nothing else is left to credit.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

/// The end of an invoice's arithmetic, after the rating's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    /// The rated total plus the top-ups billed.
    pub total: Decimal,
    /// What wallet credit may pay: the rated total (never the top-ups).
    pub creditable: Decimal,
    pub credits_applied: Decimal,
    /// The total less the credits applied.
    pub amount_due: Decimal,
}

/// Closes an invoice rated at `rated_total` (tax included): the top-ups it
/// bills are added after tax, and `credit` (what the wallet can give, e.g.
/// [`burn`]'s sum) pays what it can of the rated total, never of the top-ups.
/// Every amount comes back in the invoice's minor units (the rated total's
/// scale): a credit of 5 applied to 12.40 reads 5.00, amount due 7.40.
pub fn close(rated_total: Decimal, topups: Decimal, credit: Decimal) -> Closing {
    let scale = rated_total.scale().max(topups.scale());
    let at_scale = |mut d: Decimal| {
        d.rescale(scale);
        d
    };
    let creditable = at_scale(rated_total.max(Decimal::ZERO));
    let credits_applied = at_scale(credit.max(Decimal::ZERO).min(creditable));
    let total = at_scale(rated_total + topups);
    Closing { total, creditable, credits_applied, amount_due: at_scale(total - credits_applied) }
}

/// A wallet grant that can pay: when it ends (its last day), its priority,
/// when it was granted, what is left of it, and whatever identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit<K> {
    pub key: K,
    pub expires: Option<NaiveDate>,
    pub priority: i64,
    pub granted_at: DateTime<Utc>,
    pub remaining: Decimal,
}

/// The burn order: the soonest last day first (a grant that never expires
/// last), then the higher priority, then the oldest grant.
pub fn burn_order<K: Ord>(credits: &mut [Credit<K>]) {
    credits.sort_by(|a, b| {
        (a.expires.is_none(), a.expires, -a.priority, a.granted_at, &a.key).cmp(&(
            b.expires.is_none(),
            b.expires,
            -b.priority,
            b.granted_at,
            &b.key,
        ))
    });
}

/// What each credit gives to pay `amount`, in burn order, skipping the
/// empty ones and stopping once it is paid: (key, amount taken, what was left).
pub fn burn<K: Ord + Clone>(credits: &[Credit<K>], amount: Decimal) -> Vec<(K, Decimal, Decimal)> {
    let mut ordered: Vec<Credit<K>> = credits.iter().filter(|c| c.remaining > Decimal::ZERO).cloned().collect();
    burn_order(&mut ordered);
    let mut left = amount.max(Decimal::ZERO);
    let mut out = Vec::new();
    for c in ordered {
        if left.is_zero() {
            break;
        }
        let take = c.remaining.min(left);
        left -= take;
        out.push((c.key, take, c.remaining));
    }
    out
}

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

/// Splits an invoice's tax over its lines in proportion to their net amounts,
/// in minor units, so the shares add up to the tax exactly (largest remainder).
pub fn tax_shares(nets: &[Decimal], tax: Decimal, minor_units: u32) -> Vec<Decimal> {
    let subtotal: Decimal = nets.iter().sum();
    let unit = Decimal::new(1, minor_units);
    let scaled = |mut v: Decimal| {
        v.rescale(minor_units);
        v
    };
    if subtotal.is_zero() || tax.is_zero() {
        return nets.iter().map(|_| scaled(Decimal::ZERO)).collect();
    }
    // Exact shares in minor units, floored; the rest goes to the largest fractions.
    let exact: Vec<Decimal> = nets.iter().map(|n| tax * n / subtotal / unit).collect();
    let mut shares: Vec<Decimal> = exact.iter().map(|e| e.floor()).collect();
    let total_units = (tax / unit).round();
    let mut left = total_units - shares.iter().sum::<Decimal>();
    let mut order: Vec<usize> = (0..nets.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - shares[b]).cmp(&(exact[a] - shares[a])).then(a.cmp(&b)));
    for &i in order.iter().cycle().take(nets.len() * 2) {
        if left <= Decimal::ZERO {
            break;
        }
        shares[i] += Decimal::ONE;
        left -= Decimal::ONE;
    }
    shares.iter().map(|s| scaled(s * unit)).collect()
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

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn credits_burn_soonest_expiry_then_priority_then_oldest() {
        let credit = |key: &'static str, expires: Option<&str>, priority: i64, granted: &str, remaining: Decimal| {
            Credit { key, expires: expires.map(day), priority, granted_at: at(granted), remaining }
        };
        // The burn-order example: A = 100 ending 2026-12-31, B = 50 paid without
        // expiry, against 120: A gives 100, B gives 20 and keeps 30.
        let a = credit("A", Some("2026-12-31"), 0, "2026-10-01T00:00:00Z", dec!(100));
        let b = credit("B", None, 0, "2026-09-01T00:00:00Z", dec!(50));
        assert_eq!(burn(&[b.clone(), a.clone()], dec!(120)), [("A", dec!(100), dec!(100)), ("B", dec!(20), dec!(50))]);
        let closing = close(dec!(120.00), dec!(0), dec!(120));
        assert_eq!((closing.credits_applied, closing.amount_due), (dec!(120.00), dec!(0.00)));
        // Same last day: the higher priority first; same priority: the oldest.
        let p1 = credit("P1", Some("2026-12-31"), 1, "2026-11-01T00:00:00Z", dec!(10));
        let p5 = credit("P5", Some("2026-12-31"), 5, "2026-11-02T00:00:00Z", dec!(10));
        let old = credit("OLD", Some("2026-12-31"), 1, "2026-10-01T00:00:00Z", dec!(10));
        let order: Vec<&str> = burn(&[p1, p5, old], dec!(30)).into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(order, ["P5", "OLD", "P1"]);
        // Empty grants give nothing; an amount of nothing takes nothing.
        let empty = credit("E", Some("2026-11-30"), 9, "2026-01-01T00:00:00Z", dec!(0));
        assert_eq!(burn(&[empty, a.clone()], dec!(5)), [("A", dec!(5), dec!(100))]);
        assert!(burn(&[a, b], dec!(0)).is_empty());
    }

    #[test]
    fn top_ups_are_added_after_tax_and_never_paid_by_credit() {
        // (rated total, top-ups, credit) → (total, credits applied, amount due)
        for (rated, topups, credit, total, applied, due) in [
            (dec!(120.00), dec!(0), dec!(0), dec!(120.00), dec!(0), dec!(120.00)),
            (dec!(120.00), dec!(500.00), dec!(0), dec!(620.00), dec!(0), dec!(620.00)),
            (dec!(120.00), dec!(500.00), dec!(1000), dec!(620.00), dec!(120.00), dec!(500.00)),
            (dec!(120.00), dec!(0), dec!(30), dec!(120.00), dec!(30), dec!(90.00)),
            (dec!(0.00), dec!(0), dec!(30), dec!(0.00), dec!(0), dec!(0.00)),
        ] {
            let c = close(rated, topups, credit);
            assert_eq!((c.total, c.credits_applied, c.amount_due), (total, applied, due), "{rated} {topups} {credit}");
        }
        // Amounts come back in the invoice's minor units, whatever the credit's.
        let c = close(dec!(12.40), dec!(0), dec!(5));
        assert_eq!([c.credits_applied, c.amount_due].map(|d| d.to_string()), ["5.00", "7.40"]);
        let c = close(dec!(100), dec!(0.50), dec!(0));
        assert_eq!([c.total, c.creditable, c.amount_due].map(|d| d.to_string()), ["100.50", "100.00", "100.50"]);
    }

    #[test]
    fn tax_shares_add_up_to_the_tax_to_the_cent() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let ds = |v: &[&str]| v.iter().map(|s| d(s)).collect::<Vec<_>>();
        for (nets, tax, expected) in [
            (vec!["54.29", "212.80", "61.39", "-32.85"], "59.13", vec!["10.86", "42.56", "12.28", "-6.57"]),
            (vec!["0.01", "0.01", "0.01"], "0.01", vec!["0.01", "0.00", "0.00"]),
            (vec!["10.00", "0.00"], "0.00", vec!["0.00", "0.00"]),
            (vec!["100", "100", "100"], "20.00", vec!["6.67", "6.67", "6.66"]),
        ] {
            let shares = tax_shares(&ds(&nets), d(tax), 2);
            assert_eq!(shares.iter().sum::<Decimal>(), d(tax), "{nets:?}");
            assert_eq!(shares, ds(&expected), "{nets:?}");
            // Written with the currency's decimals, zero included ("0.00", not "0").
            let text: Vec<String> = shares.iter().map(|s| s.to_string()).collect();
            assert_eq!(text, expected, "{nets:?}");
        }
        // Random invoices: the shares always add up.
        let mut rng = crate::rng::Rng::new(11);
        for _ in 0..10_000 {
            let n = 1 + (rng.next_u64() % 12) as usize;
            let nets: Vec<_> = (0..n).map(|_| Decimal::new((rng.next_u64() % 1_000_000) as i64 - 100_000, 2)).collect();
            let subtotal: Decimal = nets.iter().sum();
            let tax = (subtotal * d("0.19")).round_dp(2);
            assert_eq!(tax_shares(&nets, tax, 2).iter().sum::<Decimal>(), tax, "{nets:?}");
        }
    }
}
