//! Late usage (docs/billing.md "Corrections after finalizing"): a period
//! already invoiced is re-rated whole with the events that came late, and the
//! adjustment invoice bills the difference to what the period's invoices
//! billed, line by line, so tier boundaries, included units, commitments and
//! percent discounts hold as if every event had been there on time. The
//! period's invoices then add up, line by line and in subtotal and tax, to
//! the re-rated period.

use rust_decimal::Decimal;

use crate::money::Dec;
use crate::pricing::{Step, StepKind};
use crate::rating::{Line, LineKind, Rated};

type Key<'a> = (LineKind, Option<&'a str>, Option<&'a str>, &'a str);

/// Lines are the same line when kind, meter, group and description agree.
fn key(l: &Line) -> Key<'_> {
    (l.kind, l.meter.as_deref(), l.group.as_deref(), l.description.as_str())
}

/// The adjustment of a period re-rated as `rerated` whose invoices so far
/// (its invoice, then any earlier adjustments) billed `billed`; `billed_on`
/// names them for the steps ("INV-2026-00001"). A line whose quantity and
/// amount did not move is left out. Subtotal and tax are the differences of
/// the re-rated period's and the billed ones', so nothing is rounded twice.
pub fn late_adjustment(rerated: &Rated, billed: &[Rated], billed_on: &str) -> Rated {
    // Every line once, in the re-rated order, then lines billed that the re-rate no longer has.
    let mut order: Vec<&Line> = Vec::new();
    for l in rerated.lines.iter().chain(billed.iter().flat_map(|b| b.lines.iter())) {
        if !order.iter().any(|o| key(o) == key(l)) {
            order.push(l);
        }
    }
    let sum = |lines: &mut dyn Iterator<Item = &Line>| {
        lines.fold((Decimal::ZERO, Decimal::ZERO), |(q, a), l| (q + l.quantity.0, a + l.amount.0))
    };
    let mut lines = Vec::new();
    for l in order {
        let (rq, ra) = sum(&mut rerated.lines.iter().filter(|r| key(r) == key(l)));
        let (bq, ba) = sum(&mut billed.iter().flat_map(|b| b.lines.iter()).filter(|b| key(b) == key(l)));
        if rq == bq && ra == ba {
            continue;
        }
        // The cost the late usage adds: the re-rated line's less what was billed,
        // when the re-rated line has one (in its currency).
        let billed_cost: Decimal = billed
            .iter()
            .flat_map(|b| b.lines.iter())
            .filter(|b| key(b) == key(l) && b.cost_currency == l.cost_currency)
            .filter_map(|b| b.cost.map(|c| c.0))
            .sum();
        let rerated_line = rerated.lines.iter().find(|r| key(r) == key(l));
        let cost = rerated_line.and_then(|r| r.cost).map(|c| Dec(c.0 - billed_cost));
        let cost_currency = rerated_line.and_then(|r| r.cost_currency.clone()).filter(|_| cost.is_some());
        let step = |kind, label: String, quantity: Decimal, amount: Decimal| Step {
            kind,
            label,
            quantity: Dec(quantity),
            unit_price: Dec(Decimal::ZERO),
            flat_fee: Dec(amount),
            amount: Dec(amount),
        };
        lines.push(Line {
            kind: l.kind,
            description: l.description.clone(),
            meter: l.meter.clone(),
            group: l.group.clone(),
            quantity: Dec(rq - bq),
            amount: Dec(ra - ba),
            steps: vec![
                step(StepKind::Rerated, "the period re-rated with the late events".into(), rq, ra),
                step(StepKind::BilledBefore, format!("billed before ({billed_on})"), -bq, -ba),
            ],
            // Set with the invoice's currency known (`cost::fill_margins`).
            margin: None,
            margin_percent: None,
            cost,
            cost_currency,
        });
    }
    let total = |f: fn(&Rated) -> Decimal| f(rerated) - billed.iter().map(f).sum::<Decimal>();
    let subtotal = total(|r| r.subtotal.0);
    let tax = total(|r| r.tax.0);
    Rated { lines, subtotal: Dec(subtotal), tax: Dec(tax), total: Dec(subtotal + tax) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::pricing::PriceFields;
    use crate::rating::{Charge, ChargeUsage, Discount, DiscountKind, RatingInput, rate};

    fn d(s: &str) -> Decimal {
        s.parse::<Dec>().unwrap().0
    }

    /// docs/billing.md's graduated tokens: 1,000,000 at 0.000005, then 0.000004;
    /// a 10% discount and 20% tax when asked.
    fn period(tokens: &str, discount: bool) -> Rated {
        capped(tokens, discount, None)
    }

    /// [`period`] under a spend cap.
    fn capped(tokens: &str, discount: bool, maximum: Option<&str>) -> Rated {
        let tiers = serde_json::json!({ "model": "graduated", "tiers": [
            { "up_to": "1000000", "unit_price": "0.000005" }, { "up_to": null, "unit_price": "0.000004" } ] });
        rate(&RatingInput {
            currency: Currency::parse("USD").unwrap(),
            fees: vec![],
            charges: vec![Charge {
                description: "LLM tokens".into(),
                meter: "tokens".into(),
                group: None,
                model: PriceFields::from_json(tiers).unwrap().validate().unwrap(),
                usage: ChargeUsage::Quantity(d(tokens)),
                maximum: None,
            }],
            minimum_commitment: None,
            maximum: maximum.map(d),
            active_days: 31,
            period_days: 31,
            discounts: if discount {
                vec![Discount { name: "Launch".into(), kind: DiscountKind::Percent(d("10")), meter: None }]
            } else {
                vec![]
            },
            tax_rate: discount.then(|| d("0.20")),
        })
        .unwrap()
    }

    fn shown(r: &Rated) -> Vec<(LineKind, String, String)> {
        r.lines.iter().map(|l| (l.kind, l.quantity.to_string(), l.amount.to_string())).collect()
    }

    #[test]
    fn late_tokens_add_the_re_rated_difference_across_the_tier_boundary() {
        // docs/billing.md: billed 1,000,000 → 5.00; 250,000 late → 6.00; the adjustment is 1.00.
        let billed = period("1000000", false);
        assert_eq!(billed.total.to_string(), "5.00");
        let adj = late_adjustment(&period("1250000", false), &[billed], "INV-2026-00001");
        assert_eq!(shown(&adj), [(LineKind::Usage, "250000".into(), "1.00".into())]);
        assert_eq!(
            (adj.subtotal.to_string(), adj.tax.to_string(), adj.total.to_string()),
            ("1.00".into(), "0.00".into(), "1.00".into())
        );
        let steps: Vec<(StepKind, String, String)> =
            adj.lines[0].steps.iter().map(|s| (s.kind, s.label.clone(), s.amount.to_string())).collect();
        assert_eq!(
            steps,
            [
                (StepKind::Rerated, "the period re-rated with the late events".into(), "6.00".into()),
                (StepKind::BilledBefore, "billed before (INV-2026-00001)".into(), "-5.00".into())
            ]
        );
    }

    #[test]
    fn a_second_adjustment_bills_only_what_the_first_did_not_and_the_sum_is_the_period() {
        // With a 10% discount and 20% tax. On time 900,000: 4.50 − 0.45 = 4.05, tax 0.81, total 4.86.
        let billed = period("900000", true);
        assert_eq!((billed.subtotal.to_string(), billed.total.to_string()), ("4.05".into(), "4.86".into()));
        // 200,000 late: 1,100,000 → 5.40 − 0.54 = 4.86, tax 0.97: adds 0.90 − 0.09 = 0.81, tax 0.16.
        let first = late_adjustment(&period("1100000", true), std::slice::from_ref(&billed), "INV-1");
        assert_eq!(
            shown(&first),
            [(LineKind::Usage, "200000".into(), "0.90".into()), (LineKind::Discount, "0".into(), "-0.09".into())]
        );
        assert_eq!(
            (first.subtotal.to_string(), first.tax.to_string(), first.total.to_string()),
            ("0.81".into(), "0.16".into(), "0.97".into())
        );
        // 3 more late: 1,100,003 → 5.400012 rounds to 5.40: nothing moves but the quantity.
        let second = late_adjustment(&period("1100003", true), &[billed.clone(), first.clone()], "INV-1, INV-2");
        assert_eq!(shown(&second), [(LineKind::Usage, "3".into(), "0.00".into())]);
        assert_eq!(second.total.to_string(), "0.00");
        // Nothing late since: no line.
        let none = late_adjustment(&period("1100000", true), &[billed.clone(), first.clone()], "INV-1, INV-2");
        assert!(none.lines.is_empty() && none.total.0.is_zero());
        // The invoices add up to the period re-rated whole, in every figure.
        let whole = period("1100000", true);
        assert_eq!(billed.subtotal.0 + first.subtotal.0, whole.subtotal.0);
        assert_eq!(billed.tax.0 + first.tax.0, whole.tax.0);
        assert_eq!(billed.total.0 + first.total.0, whole.total.0);
    }

    #[test]
    fn late_usage_above_a_spend_cap_adjusts_nothing_but_the_lines() {
        // Capped at 5.50: billed 1,000,000 → 5.00; 250,000 late re-rate to 6.00, capped −0.50.
        let billed = capped("1000000", false, Some("5.50"));
        assert_eq!(billed.total.to_string(), "5.00");
        let adj = late_adjustment(&capped("1250000", false, Some("5.50")), std::slice::from_ref(&billed), "INV-1");
        assert_eq!(
            shown(&adj),
            [(LineKind::Usage, "250000".into(), "1.00".into()), (LineKind::Cap, "1".into(), "-0.50".into())]
        );
        assert_eq!(adj.total.to_string(), "0.50", "only up to the cap");
        // More late usage once at the cap: the usage line grows, the cap line takes it back.
        let more = late_adjustment(&capped("2000000", false, Some("5.50")), &[billed, adj], "INV-1, INV-2");
        assert_eq!(
            shown(&more),
            [(LineKind::Usage, "750000".into(), "3.00".into()), (LineKind::Cap, "0".into(), "-3.00".into())]
        );
        assert_eq!(more.total.to_string(), "0.00");
    }
}
