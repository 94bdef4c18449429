//! Rating: one subscription period's fees, usage and commitment turned into
//! invoice lines, in the order of docs/billing.md "One invoice's arithmetic" — fee lines + usage lines + commitment
//! true-up → minus discounts = subtotal → plus tax = total. Pure: the caller
//! supplies the priced inputs. Rounding happens in exactly two places, each
//! line's amount and the tax, half away from zero to the currency's minor units.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::money::{Currency, Dec, Overflow};
use crate::pricing::{PriceModel, Priced, Step, StepKind, prorate};

/// What an invoice line is (docs/interfaces.md's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Fee,
    Usage,
    Commitment,
    /// The spend cap: what the usage lines (with the true-up) came to above
    /// the period's maximum, taken off.
    Cap,
    Discount,
}

/// One invoice line with the arithmetic behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Line {
    pub kind: LineKind,
    pub description: String,
    pub meter: Option<String>,
    pub group: Option<String>,
    pub quantity: Dec,
    /// Rounded to the currency's minor units.
    pub amount: Dec,
    /// The unrounded steps that make the amount.
    pub steps: Vec<Step>,
    /// What the usage cost the company, where a cost rate prices its meter
    /// (docs/billing.md "Costs and margin"), in `cost_currency`: set on
    /// drafts, frozen at finalize; an invoice from before costs has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cost: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cost_currency: Option<String>,
    /// The amount less the cost, and that in percent of the amount (one
    /// decimal; none without an amount), when the cost is in the invoice's
    /// currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub margin: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub margin_percent: Option<Dec>,
}

/// A fixed fee of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub name: String,
    pub amount: Decimal,
}

/// A charge with the quantity its meter read (or each event's amount, for a percentage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub description: String,
    pub meter: String,
    pub group: Option<String>,
    pub model: PriceModel,
    pub usage: ChargeUsage,
    /// The most this charge may come to in a period (its line is held there).
    pub maximum: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeUsage {
    Quantity(Decimal),
    EventAmounts(Vec<Decimal>),
}

/// A discount: a percent of one charge's line or of the invoice, or a fixed amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    pub name: String,
    pub kind: DiscountKind,
    /// The meter of the charge it applies to; none: the whole invoice.
    pub meter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    /// "10" is 10%.
    Percent(Decimal),
    Fixed(Decimal),
}

/// Everything one period's draft needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingInput {
    pub currency: Currency,
    pub fees: Vec<Fee>,
    pub charges: Vec<Charge>,
    pub minimum_commitment: Option<Decimal>,
    /// The spend cap: the most the usage lines and the true-up may come to in
    /// a whole period (prorated by days like the commitment).
    pub maximum: Option<Decimal>,
    /// Days of the period the subscription was active, and the period's days.
    pub active_days: u32,
    pub period_days: u32,
    pub discounts: Vec<Discount>,
    /// A fraction ("0.20"); none when exempt.
    pub tax_rate: Option<Decimal>,
}

/// The lines and totals of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Rated {
    pub lines: Vec<Line>,
    pub subtotal: Dec,
    pub tax: Dec,
    pub total: Dec,
}

/// Which limit a period's usage is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AllowanceKind {
    /// The spend cap (`maximum`): usage above it is not billed.
    Cap,
    /// The minimum commitment: usage below it is trued up.
    Commitment,
}

/// A period's usage against its cap (or, without one, its commitment), both
/// for the days the subscription was active: "8,412.00 of 10,000.00 cap".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Allowance {
    pub kind: AllowanceKind,
    /// The usage lines' amounts (each charge held at its own maximum), before
    /// the true-up and the cap.
    pub used: Dec,
    /// The prorated cap or commitment.
    pub limit: Dec,
    /// What is left under the limit (0 once reached).
    pub remaining: Dec,
    /// What went above a cap and is not billed (0 under it, and for a commitment).
    #[serde(default)]
    pub unbilled: Dec,
}

impl Allowance {
    /// "Usage 8,412.00 of the 10,000.00 USD cap", and what went unbilled
    /// above it, or "of the 500.00 USD minimum commitment".
    pub fn in_words(&self, currency: &str) -> String {
        let g = |d: &Dec| crate::text::group_digits(&d.to_string());
        match self.kind {
            AllowanceKind::Cap if self.unbilled.0 > Decimal::ZERO => format!(
                "Usage {} of the {} {currency} cap: {} above the cap is not billed",
                g(&self.used),
                g(&self.limit),
                g(&self.unbilled)
            ),
            AllowanceKind::Cap => format!("Usage {} of the {} {currency} cap", g(&self.used), g(&self.limit)),
            AllowanceKind::Commitment => {
                format!("Usage {} of the {} {currency} minimum commitment", g(&self.used), g(&self.limit))
            }
        }
    }
}

/// A commitment or a cap for the days the subscription was active, rounded
/// once to the currency's minor units: what a period's usage is held to.
pub fn period_limit(currency: &Currency, whole: Decimal, active_days: u32, period_days: u32) -> Decimal {
    currency.round(prorate(whole, active_days, period_days).amount.0)
}

/// A step that is the whole of its line's adjustment (a true-up, a cap, a discount): one of `amount`.
fn whole_step(kind: StepKind, label: String, amount: Decimal) -> Step {
    Step {
        kind,
        label,
        quantity: Dec(Decimal::ONE),
        unit_price: Dec(amount),
        flat_fee: Dec(Decimal::ZERO),
        amount: Dec(amount),
    }
}

/// The allowance of a period rated from `input` as `rated`: the cap when it
/// has one, else the commitment, else none.
pub fn allowance(input: &RatingInput, rated: &Rated) -> Option<Allowance> {
    let (kind, whole) = match (input.maximum, input.minimum_commitment) {
        (Some(m), _) => (AllowanceKind::Cap, m),
        (None, Some(c)) => (AllowanceKind::Commitment, c),
        (None, None) => return None,
    };
    let c = &input.currency;
    let limit = period_limit(c, whole, input.active_days, input.period_days);
    let used = c.round(rated.lines.iter().filter(|l| l.kind == LineKind::Usage).map(|l| l.amount.0).sum());
    let remaining = c.round((limit - used).max(Decimal::ZERO));
    // What the cap line took off, as a positive amount (never "-0.00").
    let taken: Decimal = rated.lines.iter().filter(|l| l.kind == LineKind::Cap).map(|l| l.amount.0).sum();
    let unbilled = if taken.is_zero() { Decimal::ZERO } else { -taken };
    Some(Allowance {
        kind,
        used: Dec(used),
        limit: Dec(limit),
        remaining: Dec(remaining),
        unbilled: Dec(c.round(unbilled)),
    })
}

fn line(
    kind: LineKind,
    description: String,
    meter: Option<String>,
    group: Option<String>,
    quantity: Decimal,
    priced: Priced,
    currency: &Currency,
) -> Line {
    Line {
        kind,
        description,
        meter,
        group,
        quantity: Dec(quantity),
        amount: Dec(currency.round(priced.amount.0)),
        steps: priced.steps,
        cost: None,
        cost_currency: None,
        margin: None,
        margin_percent: None,
    }
}

/// Rates one period. Discounts never take a line or the invoice below zero.
pub fn rate(input: &RatingInput) -> Result<Rated, Overflow> {
    headroom(input)?;
    let c = &input.currency;
    let mut lines = Vec::new();
    for fee in &input.fees {
        let priced = prorate(fee.amount, input.active_days, input.period_days);
        lines.push(line(LineKind::Fee, fee.name.clone(), None, None, Decimal::ONE, priced, c));
    }
    for charge in &input.charges {
        let (quantity, mut priced) = match &charge.usage {
            ChargeUsage::Quantity(q) => (*q, charge.model.price(*q)),
            ChargeUsage::EventAmounts(amounts) => (amounts.iter().sum(), charge.model.price_events(amounts)),
        };
        if let Some(maximum) = charge.maximum
            && priced.amount.0 > maximum
        {
            // Held at its maximum; the steps keep what it came to and show what the cap took off.
            let label = format!("{} held at the charge's maximum {}", c.round(priced.amount.0), c.round(maximum));
            priced.steps.push(whole_step(StepKind::Cap, label, maximum - priced.amount.0));
            priced.amount = Dec(maximum);
        }
        lines.push(line(
            LineKind::Usage,
            charge.description.clone(),
            Some(charge.meter.clone()),
            charge.group.clone(),
            quantity,
            priced,
            c,
        ));
    }
    if let Some(commitment) = input.minimum_commitment {
        // The commitment is prorated like a fee and compared with the usage lines.
        let prorated = period_limit(c, commitment, input.active_days, input.period_days);
        let usage: Decimal = lines.iter().filter(|l| l.kind == LineKind::Usage).map(|l| l.amount.0).sum();
        let short = prorated - usage;
        if short > Decimal::ZERO {
            let label = format!("minimum commitment {prorated} less usage {usage}");
            let steps = vec![whole_step(StepKind::Commitment, label, short)];
            let priced = Priced { amount: Dec(short), steps };
            lines.push(line(
                LineKind::Commitment,
                "Minimum commitment true-up".into(),
                None,
                None,
                Decimal::ONE,
                priced,
                c,
            ));
        }
    }
    if let Some(maximum) = input.maximum {
        // The cap is prorated like the commitment and compared with the usage lines and the true-up.
        let capped = period_limit(c, maximum, input.active_days, input.period_days);
        let usage: Decimal =
            lines.iter().filter(|l| matches!(l.kind, LineKind::Usage | LineKind::Commitment)).map(|l| l.amount.0).sum();
        let excess = usage - capped;
        if excess > Decimal::ZERO {
            let steps = vec![whole_step(StepKind::Cap, format!("usage {usage} less the maximum {capped}"), -excess)];
            let priced = Priced { amount: Dec(-excess), steps };
            lines.push(line(LineKind::Cap, "Spend cap".into(), None, None, Decimal::ONE, priced, c));
        }
    }
    let before_discounts: Decimal = lines.iter().map(|l| l.amount.0).sum();
    let mut discounted = Decimal::ZERO;
    for d in &input.discounts {
        let base = match &d.meter {
            Some(meter) => lines.iter().filter(|l| l.meter.as_ref() == Some(meter)).map(|l| l.amount.0).sum(),
            None => before_discounts,
        };
        let wanted = match d.kind {
            DiscountKind::Percent(p) => base * p / Decimal::ONE_HUNDRED,
            DiscountKind::Fixed(a) => a,
        };
        // Never more than what is left to discount.
        let amount = c.round(wanted).min(base).min(before_discounts - discounted).max(Decimal::ZERO);
        discounted += amount;
        // A line of −0 would print as "-0.00".
        let off = if amount.is_zero() { c.round(Decimal::ZERO) } else { -amount };
        let label = match d.kind {
            DiscountKind::Percent(p) => format!("{}% of {}", p.normalize(), base),
            DiscountKind::Fixed(a) => format!("{} off", a),
        };
        let steps = vec![whole_step(StepKind::Discount, label, off)];
        lines.push(Line {
            kind: LineKind::Discount,
            description: d.name.clone(),
            meter: d.meter.clone(),
            group: None,
            quantity: Dec(Decimal::ONE),
            amount: Dec(off),
            steps,
            cost: None,
            cost_currency: None,
            margin: None,
            margin_percent: None,
        });
    }
    // Sums of rounded amounts: `round` here only fixes the scale (0 prints as 0.00).
    let subtotal = c.round(lines.iter().map(|l| l.amount.0).sum());
    let tax = c.round(input.tax_rate.map_or(Decimal::ZERO, |r| subtotal * r));
    Ok(Rated { lines, subtotal: Dec(subtotal), tax: Dec(tax), total: Dec(c.round(subtotal + tax)) })
}

/// Checks, without overflowing, that no amount [`rate`] computes can pass
/// `Decimal`'s range: a bound of every line (each price model's own, fees and
/// the commitment at their most), of the discounts and of the tax on their sum.
fn headroom(input: &RatingInput) -> Result<(), Overflow> {
    let days = Decimal::from(input.active_days.max(input.period_days).max(1));
    let add = |bound: Decimal, v: Option<Decimal>| bound.checked_add(v.ok_or(Overflow)?.abs()).ok_or(Overflow);
    let mut bound = Decimal::ZERO;
    for fee in &input.fees {
        bound = add(bound, fee.amount.checked_mul(days))?;
    }
    for charge in &input.charges {
        bound = add(
            bound,
            Some(match &charge.usage {
                ChargeUsage::Quantity(q) => charge.model.bound(*q)?.max(q.abs()),
                ChargeUsage::EventAmounts(amounts) => charge.model.bound_events(amounts)?,
            }),
        )?;
    }
    if let Some(commitment) = input.minimum_commitment {
        bound = add(bound, commitment.checked_mul(days))?;
    }
    // A cap line is at most the usage lines and the true-up it takes off; its
    // prorated maximum is computed too.
    if let Some(maximum) = input.maximum {
        maximum.checked_mul(days).ok_or(Overflow)?;
        bound = add(bound, Some(bound))?;
    }
    let lines = bound;
    for d in &input.discounts {
        bound = add(
            bound,
            match d.kind {
                DiscountKind::Percent(p) => lines.checked_mul(p),
                DiscountKind::Fixed(a) => Some(a),
            },
        )?;
    }
    let rate = input.tax_rate.unwrap_or_default().abs().max(Decimal::ONE);
    let total = bound.checked_mul(rate).and_then(|tax| tax.checked_add(bound)).ok_or(Overflow)?;
    if total <= crate::money::MAX_COMPUTED { Ok(()) } else { Err(Overflow) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::PriceFields;

    fn d(s: &str) -> Decimal {
        s.parse::<Dec>().unwrap().0
    }

    fn input() -> RatingInput {
        RatingInput {
            currency: Currency::parse("USD").unwrap(),
            fees: vec![],
            charges: vec![],
            minimum_commitment: None,
            maximum: None,
            active_days: 31,
            period_days: 31,
            discounts: vec![],
            tax_rate: None,
        }
    }

    fn per_unit(meter: &str, price: &str, quantity: &str) -> Charge {
        Charge {
            description: meter.into(),
            meter: meter.into(),
            group: None,
            model: PriceFields::PerUnit { unit_price: Dec(d(price)), included: None }.validate().unwrap(),
            usage: ChargeUsage::Quantity(d(quantity)),
            maximum: None,
        }
    }

    fn amounts(r: &Rated) -> Vec<(LineKind, String)> {
        r.lines.iter().map(|l| (l.kind, l.amount.to_string())).collect()
    }

    #[test]
    fn tax_applies_to_the_subtotal_rounded_once() {
        // docs/billing.md: 20% of 1,234.56 → 246.91, total 1,481.47.
        let rated = rate(&RatingInput {
            charges: vec![per_unit("m", "1.23456", "1000")],
            tax_rate: Some(d("0.20")),
            ..input()
        })
        .unwrap();
        assert_eq!(
            (rated.subtotal.to_string(), rated.tax.to_string(), rated.total.to_string()),
            ("1234.56".into(), "246.91".into(), "1481.47".into())
        );
    }

    #[test]
    fn a_commitment_adds_a_true_up_line() {
        // docs/billing.md: commit 500.00, usage 312.40 → true-up 187.60.
        let rated = rate(&RatingInput {
            charges: vec![per_unit("m", "0.3124", "1000")],
            minimum_commitment: Some(d("500.00")),
            ..input()
        })
        .unwrap();
        assert_eq!(amounts(&rated), [(LineKind::Usage, "312.40".into()), (LineKind::Commitment, "187.60".into())]);
        assert_eq!(rated.total.to_string(), "500.00");
        let over = rate(&RatingInput {
            charges: vec![per_unit("m", "1", "600")],
            minimum_commitment: Some(d("500.00")),
            ..input()
        })
        .unwrap();
        assert_eq!(over.lines.len(), 1, "usage above the commitment needs no true-up");
        // Prorated like a fee: 17 of 31 days of 500.00 is 274.19.
        let partial = rate(&RatingInput { minimum_commitment: Some(d("500.00")), active_days: 17, ..input() }).unwrap();
        assert_eq!(amounts(&partial), [(LineKind::Commitment, "274.19".into())]);
    }

    #[test]
    fn the_invoice_order_fees_usage_true_up_discounts_then_tax() {
        let rated = rate(&RatingInput {
            fees: vec![Fee { name: "Platform fee".into(), amount: d("99.00") }],
            charges: vec![per_unit("tokens", "0.000002", "10000000"), per_unit("calls", "0.001", "5000")],
            minimum_commitment: Some(d("100.00")),
            active_days: 17,
            discounts: vec![
                Discount {
                    name: "Tokens promo".into(),
                    kind: DiscountKind::Percent(d("50")),
                    meter: Some("tokens".into()),
                },
                Discount { name: "Launch".into(), kind: DiscountKind::Percent(d("10")), meter: None },
            ],
            tax_rate: Some(d("0.0825")),
            ..input()
        })
        .unwrap();
        // 99 × 17/31 = 54.29; tokens 20.00; calls 5.00; commitment 100 × 17/31 = 54.84 − 25.00 = 29.84;
        // promo 50% of 20.00 = 10.00; launch 10% of 109.13 = 10.91.
        assert_eq!(
            amounts(&rated),
            [
                (LineKind::Fee, "54.29".into()),
                (LineKind::Usage, "20.00".into()),
                (LineKind::Usage, "5.00".into()),
                (LineKind::Commitment, "29.84".into()),
                (LineKind::Discount, "-10.00".into()),
                (LineKind::Discount, "-10.91".into()),
            ]
        );
        assert_eq!(rated.subtotal.to_string(), "88.22");
        assert_eq!(rated.tax.to_string(), "7.28", "8.25% of 88.22 = 7.27815");
        assert_eq!(rated.total.to_string(), "95.50");
    }

    /// docs/billing.md "Spend caps": the usage above the period's maximum is taken
    /// off by one line, prorated by days like the commitment.
    #[test]
    fn a_spend_cap_takes_off_what_usage_came_to_above_the_maximum() {
        struct Case {
            name: &'static str,
            usage: &'static str,
            commitment: Option<&'static str>,
            maximum: &'static str,
            active_days: u32,
            cap: Option<&'static str>,
            subtotal: &'static str,
        }
        let cases = [
            Case {
                name: "whole period",
                usage: "1234.56",
                commitment: None,
                maximum: "1000.00",
                active_days: 31,
                cap: Some("-234.56"),
                subtotal: "1000.00",
            },
            Case {
                name: "17 of 31 days: 700 − 548.39",
                usage: "700.00",
                commitment: None,
                maximum: "1000.00",
                active_days: 17,
                cap: Some("-151.61"),
                subtotal: "548.39",
            },
            Case {
                name: "under the cap",
                usage: "999.99",
                commitment: None,
                maximum: "1000.00",
                active_days: 31,
                cap: None,
                subtotal: "999.99",
            },
            Case {
                name: "exactly at the cap",
                usage: "1000.00",
                commitment: None,
                maximum: "1000.00",
                active_days: 31,
                cap: None,
                subtotal: "1000.00",
            },
            Case {
                name: "the true-up counts as usage, never above the cap",
                usage: "100.00",
                commitment: Some("500.00"),
                maximum: "500.00",
                active_days: 31,
                cap: None,
                subtotal: "500.00",
            },
            Case {
                name: "commitment and cap both prorated",
                usage: "900.00",
                commitment: Some("310.00"),
                maximum: "620.00",
                active_days: 10,
                cap: Some("-700.00"),
                subtotal: "200.00",
            },
        ];
        for case in cases {
            let rated = rate(&RatingInput {
                fees: vec![Fee { name: "Platform fee".into(), amount: d("31.00") }],
                charges: vec![per_unit("m", case.usage, "1")],
                minimum_commitment: case.commitment.map(d),
                maximum: Some(d(case.maximum)),
                active_days: case.active_days,
                ..input()
            })
            .unwrap();
            let cap = rated.lines.iter().find(|l| l.kind == LineKind::Cap);
            assert_eq!(cap.map(|l| l.amount.to_string()).as_deref(), case.cap, "{}", case.name);
            if let Some(cap) = cap {
                assert_eq!(cap.description, "Spend cap", "{}", case.name);
                assert_eq!(cap.steps[0].kind, StepKind::Cap, "{}", case.name);
            }
            // Fees are not capped: the platform fee (prorated) comes on top.
            let fee = rated.lines[0].amount.0;
            assert_eq!((rated.subtotal.0 - fee).to_string(), case.subtotal, "{}", case.name);
        }
    }

    #[test]
    fn a_period_s_allowance_is_its_usage_against_the_cap_or_else_the_commitment() {
        let case = |usage: &str, commitment: Option<&str>, maximum: Option<&str>, days: u32| {
            let input = RatingInput {
                charges: vec![per_unit("m", usage, "1")],
                minimum_commitment: commitment.map(d),
                maximum: maximum.map(d),
                active_days: days,
                ..input()
            };
            allowance(&input, &rate(&input).unwrap()).map(|a| {
                assert!(!a.unbilled.to_string().starts_with('-'), "{a:?}");
                (a.kind, a.used.to_string(), a.limit.to_string(), a.remaining.to_string())
            })
        };
        let row = |k, u: &str, l: &str, r: &str| Some((k, u.to_string(), l.to_string(), r.to_string()));
        assert_eq!(
            case("8412.00", None, Some("10000.00"), 31),
            row(AllowanceKind::Cap, "8412.00", "10000.00", "1588.00")
        );
        assert_eq!(case("1234.56", None, Some("1000.00"), 31), row(AllowanceKind::Cap, "1234.56", "1000.00", "0.00"));
        assert_eq!(
            case("700.00", Some("300"), Some("1000.00"), 17),
            row(AllowanceKind::Cap, "700.00", "548.39", "0.00")
        );
        assert_eq!(
            case("312.40", Some("500.00"), None, 31),
            row(AllowanceKind::Commitment, "312.40", "500.00", "187.60")
        );
        assert_eq!(case("312.40", None, None, 31), None);
        let words = |usage: &str, commitment: Option<&str>, maximum: Option<&str>| {
            let input = RatingInput {
                charges: vec![per_unit("m", usage, "1")],
                minimum_commitment: commitment.map(d),
                maximum: maximum.map(d),
                ..input()
            };
            allowance(&input, &rate(&input).unwrap()).unwrap().in_words("USD")
        };
        assert_eq!(words("8412.00", None, Some("10000.00")), "Usage 8,412.00 of the 10,000.00 USD cap");
        assert_eq!(
            words("1234.56", None, Some("1000.00")),
            "Usage 1,234.56 of the 1,000.00 USD cap: 234.56 above the cap is not billed"
        );
        assert_eq!(words("312.40", Some("500.00"), None), "Usage 312.40 of the 500.00 USD minimum commitment");
    }

    #[test]
    fn a_charge_held_at_its_maximum_shows_what_the_cap_took_off() {
        // docs/billing.md: graduated 1,250.00, maximum 1,000.00 → line 1,000.00.
        let tiers = serde_json::json!({ "model": "graduated", "tiers": [
            { "up_to": "1000", "unit_price": "1.00" }, { "up_to": null, "unit_price": "0.50" } ] });
        let charge = |maximum: Option<&str>| Charge {
            description: "Calls".into(),
            meter: "calls".into(),
            group: None,
            model: PriceFields::from_json(tiers.clone()).unwrap().validate().unwrap(),
            usage: ChargeUsage::Quantity(d("1500")),
            maximum: maximum.map(d),
        };
        let free = rate(&RatingInput { charges: vec![charge(None)], ..input() }).unwrap();
        assert_eq!(amounts(&free), [(LineKind::Usage, "1250.00".into())]);
        let held = rate(&RatingInput { charges: vec![charge(Some("1000.00"))], ..input() }).unwrap();
        assert_eq!(amounts(&held), [(LineKind::Usage, "1000.00".into())]);
        let steps: Vec<(StepKind, String)> =
            held.lines[0].steps.iter().map(|s| (s.kind, s.amount.to_string())).collect();
        assert_eq!(
            steps,
            [(StepKind::Tier, "1000.00".into()), (StepKind::Tier, "250.00".into()), (StepKind::Cap, "-250.00".into())]
        );
        assert_eq!(held.lines[0].steps[2].label, "1250.00 held at the charge's maximum 1000.00");
        // Under its maximum a charge is left alone.
        let under = rate(&RatingInput { charges: vec![charge(Some("2000.00"))], ..input() }).unwrap();
        assert_eq!(under, free);
    }

    #[test]
    fn a_cap_comes_before_discounts_and_tax() {
        // Usage 1,234.56 capped at 1,000.00, then 10% off, then 20% tax.
        let rated = rate(&RatingInput {
            charges: vec![per_unit("m", "1234.56", "1")],
            maximum: Some(d("1000.00")),
            discounts: vec![Discount { name: "Launch".into(), kind: DiscountKind::Percent(d("10")), meter: None }],
            tax_rate: Some(d("0.20")),
            ..input()
        })
        .unwrap();
        assert_eq!(
            amounts(&rated),
            [
                (LineKind::Usage, "1234.56".into()),
                (LineKind::Cap, "-234.56".into()),
                (LineKind::Discount, "-100.00".into())
            ]
        );
        assert_eq!(
            (rated.subtotal.to_string(), rated.tax.to_string(), rated.total.to_string()),
            ("900.00".into(), "180.00".into(), "1080.00".into())
        );
    }

    #[test]
    fn discounts_never_go_below_zero() {
        let rated = rate(&RatingInput {
            charges: vec![per_unit("m", "1", "5")],
            discounts: vec![
                Discount { name: "Big".into(), kind: DiscountKind::Fixed(d("8.00")), meter: None },
                Discount { name: "More".into(), kind: DiscountKind::Percent(d("50")), meter: None },
            ],
            ..input()
        })
        .unwrap();
        assert_eq!(amounts(&rated)[1..], [(LineKind::Discount, "-5.00".into()), (LineKind::Discount, "0.00".into())]);
        assert_eq!(rated.total.to_string(), "0.00");
    }

    /// A random decimal of up to `digits` integer digits and `scale` decimals.
    fn random_dec(rng: &mut crate::rng::Rng, digits: u32, scale: u32) -> Decimal {
        let scale = (rng.next_u64() % u64::from(scale + 1)) as u32;
        let digits = 1 + (rng.next_u64() % u64::from(digits)) as u32;
        let bound = 10u64.pow((digits + scale).min(18));
        Decimal::new((rng.next_u64() % bound) as i64, scale)
    }

    fn random_tiers(rng: &mut crate::rng::Rng) -> Vec<crate::pricing::TierFields> {
        let n = 1 + rng.next_u64() % 4;
        let mut up_to = Decimal::ZERO;
        (0..n)
            .map(|i| {
                up_to += Decimal::ONE + random_dec(rng, 7, 3);
                crate::pricing::TierFields {
                    up_to: (i + 1 < n).then_some(Dec(up_to)),
                    unit_price: Dec(random_dec(rng, 3, 12)),
                    flat_fee: rng.next_u64().is_multiple_of(2).then(|| Dec(random_dec(rng, 3, 2))),
                }
            })
            .collect()
    }

    /// What a summed meter reads: up to a billion events of up to what one
    /// event may carry (crate::event_file::MAX_EVENT_VALUE), or everyday amounts.
    fn random_quantity(rng: &mut crate::rng::Rng) -> Decimal {
        match rng.next_u64() % 10 {
            0 => {
                let value = Decimal::new((rng.next_u64() % 999_999_999_999_999) as i64 + 1, 0);
                value * Decimal::from(1 + rng.next_u64() % 1_000_000_000)
            }
            1 => -random_dec(rng, 6, 3),
            _ => random_dec(rng, 9, 6),
        }
    }

    #[test]
    fn a_million_random_invoices_add_up_to_the_cent_and_never_panic() {
        let mut rng = crate::rng::Rng::new(20261201);
        let (mut rated, mut overflowed, mut graduated) = (0u32, 0u32, 0u32);
        let currencies = ["USD", "JPY", "KWD", "EUR"].map(|c| Currency::parse(c).unwrap());
        for _ in 0..1_000_000 {
            let currency = currencies[(rng.next_u64() % 4) as usize];
            let model = match rng.next_u64() % 5 {
                0 => PriceFields::PerUnit {
                    unit_price: Dec(random_dec(&mut rng, 4, 12)),
                    included: rng.next_u64().is_multiple_of(2).then(|| Dec(random_dec(&mut rng, 5, 0))),
                },
                1 => PriceFields::Graduated { tiers: random_tiers(&mut rng) },
                2 => PriceFields::Volume { tiers: random_tiers(&mut rng) },
                3 => PriceFields::Package {
                    package_size: Dec(Decimal::ONE + random_dec(&mut rng, 4, 2)),
                    package_price: Dec(random_dec(&mut rng, 4, 2)),
                    free: None,
                },
                _ => PriceFields::Percentage {
                    percent: Dec(Decimal::new((rng.next_u64() % 10_001) as i64, 2)),
                    fixed_fee: Some(Dec(random_dec(&mut rng, 2, 2))),
                    min_fee: None,
                    max_fee: rng.next_u64().is_multiple_of(2).then(|| Dec(Decimal::new(1_000_000, 2))),
                },
            }
            .validate()
            .unwrap();
            let is_graduated = matches!(model, PriceModel::Graduated(_));
            let quantity = random_quantity(&mut rng);
            let input = RatingInput {
                currency,
                fees: vec![Fee { name: "Fee".into(), amount: random_dec(&mut rng, 5, 2) }],
                charges: vec![Charge {
                    description: "Usage".into(),
                    meter: "m".into(),
                    group: None,
                    model,
                    usage: ChargeUsage::Quantity(quantity),
                    maximum: rng.next_u64().is_multiple_of(4).then(|| random_dec(&mut rng, 5, 2)),
                }],
                minimum_commitment: rng.next_u64().is_multiple_of(3).then(|| random_dec(&mut rng, 5, 2)),
                maximum: rng.next_u64().is_multiple_of(3).then(|| random_dec(&mut rng, 5, 2)),
                active_days: 1 + (rng.next_u64() % 31) as u32,
                period_days: 31,
                discounts: match rng.next_u64() % 3 {
                    0 => vec![Discount {
                        name: "Off".into(),
                        kind: DiscountKind::Percent(random_dec(&mut rng, 2, 1)),
                        meter: None,
                    }],
                    1 => vec![Discount {
                        name: "Off".into(),
                        kind: DiscountKind::Fixed(random_dec(&mut rng, 4, 2)),
                        meter: None,
                    }],
                    _ => vec![],
                },
                tax_rate: rng.next_u64().is_multiple_of(2).then(|| Decimal::new((rng.next_u64() % 30) as i64, 2)),
            };
            let Ok(r) = rate(&input) else {
                overflowed += 1;
                continue;
            };
            rated += 1;
            let c = &input.currency;
            let sum: Decimal = r.lines.iter().map(|l| l.amount.0).sum();
            assert_eq!(r.subtotal.0, sum, "{input:?}");
            assert!(r.lines.iter().all(|l| l.amount.0 == c.round(l.amount.0)), "each line in minor units: {input:?}");
            assert_eq!(r.tax.0, c.round(input.tax_rate.map_or(Decimal::ZERO, |t| r.subtotal.0 * t)), "{input:?}");
            assert_eq!(r.total.0, r.subtotal.0 + r.tax.0, "{input:?}");
            let usage = r.lines.iter().find(|l| l.kind == LineKind::Usage).unwrap();
            if let Some(maximum) = input.charges[0].maximum {
                assert!(usage.amount.0 <= c.round(maximum), "a charge never passes its maximum: {input:?}");
            }
            if let Some(maximum) = input.maximum {
                let capped = period_limit(c, maximum, input.active_days, input.period_days);
                let kept: Decimal = r
                    .lines
                    .iter()
                    .filter(|l| matches!(l.kind, LineKind::Usage | LineKind::Commitment | LineKind::Cap))
                    .map(|l| l.amount.0)
                    .sum();
                assert!(kept <= capped, "usage, true-up and cap never pass the maximum: {input:?}");
                assert!(r.lines.iter().all(|l| l.kind != LineKind::Cap || l.amount.0 < Decimal::ZERO), "{input:?}");
            }
            if is_graduated {
                let line = usage;
                let steps: Decimal = line.steps.iter().map(|s| s.amount.0).sum();
                let units: Decimal = line.steps.iter().filter(|s| s.kind != StepKind::Cap).map(|s| s.quantity.0).sum();
                assert_eq!(line.amount.0, c.round(steps), "graduated = Σ tiers: {input:?}");
                assert_eq!(units, quantity.max(Decimal::ZERO), "every unit in one tier: {input:?}");
                graduated += 1;
            }
        }
        assert!(rated > 800_000 && overflowed > 1_000 && graduated > 150_000, "{rated} {overflowed} {graduated}");
    }
}
