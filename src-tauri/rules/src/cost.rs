//! What usage costs the company and what it leaves (docs/billing.md "Costs
//! and margin"): cost rates per meter and optional group, effective from a
//! local day; a usage line's cost; revenue, margin and margin %; and the
//! exchange rates reports convert costs with (invoices never convert).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::money::{Currency, Dec, MAX_ENTRY_AMOUNT};

/// A cost rate as a catalog or form gives it: what the company pays per unit
/// a meter counts (for one group value, e.g. a model, or for all of them),
/// from a local day on, until a later rate of the same meter and group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct CostRateFields {
    pub meter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub currency: String,
    pub unit_cost: Dec,
    #[ts(type = "string")]
    pub from: NaiveDate,
}

/// A cost rate that cannot be wrong: its meter exists (and groups when a
/// group is named), its currency is ISO 4217, its unit cost is not negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRate {
    pub meter: String,
    pub group: Option<String>,
    pub currency: Currency,
    pub unit_cost: Decimal,
    pub from: NaiveDate,
}

/// The largest unit cost taken (a price per unit, so far below an amount's bound).
const MAX_UNIT_COST: Decimal = MAX_ENTRY_AMOUNT;

/// Checks every rate of a catalog or the Costs page at once: each against the
/// meters (code → whether it groups), and together (one rate per meter,
/// group and day; one currency per meter, since a line's days add up). Keys
/// the problems `costs[i].field`.
pub fn validate(rates: &[CostRateFields], meters: &BTreeMap<String, bool>) -> Result<Vec<CostRate>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut valid = Vec::new();
    for (i, r) in rates.iter().enumerate() {
        let at = |field: &str| format!("costs[{i}].{field}");
        let meter = r.meter.trim();
        let group = r.group.as_deref().map(str::trim).filter(|g| !g.is_empty());
        match meters.get(meter) {
            None => problems.push(Problem::new(at("meter"), format!("there is no meter \"{meter}\""))),
            Some(false) if group.is_some() => problems.push(Problem::new(
                at("group"),
                format!("meter \"{meter}\" does not group its events, so a rate cannot name a group"),
            )),
            Some(_) => {}
        }
        let currency =
            Currency::parse(r.currency.trim()).map_err(|why| problems.push(Problem::new(at("currency"), why)));
        let unit_cost = r.unit_cost.0;
        if unit_cost.is_sign_negative() && !unit_cost.is_zero() {
            problems.push(Problem::new(at("unit_cost"), "a unit cost cannot be negative"));
        } else if unit_cost > MAX_UNIT_COST {
            problems.push(Problem::new(at("unit_cost"), format!("a unit cost is at most {MAX_UNIT_COST}")));
        }
        if let Ok(currency) = currency {
            valid.push((
                i,
                CostRate {
                    meter: meter.to_string(),
                    group: group.map(str::to_string),
                    currency,
                    unit_cost: unit_cost.normalize(),
                    from: r.from,
                },
            ));
        }
    }
    let mut seen: BTreeMap<(&str, Option<&str>, NaiveDate), usize> = BTreeMap::new();
    let mut currency_of: BTreeMap<&str, (Currency, usize)> = BTreeMap::new();
    for (i, r) in &valid {
        let i = *i;
        if let Some(first) = seen.insert((&r.meter, r.group.as_deref(), r.from), i) {
            problems.push(Problem::new(
                format!("costs[{i}].from"),
                format!("costs[{first}] already sets the cost of {} from {}", subject(r), r.from),
            ));
        }
        match currency_of.get(r.meter.as_str()) {
            Some((currency, first)) if *currency != r.currency => problems.push(Problem::new(
                format!("costs[{i}].currency"),
                format!(
                    "costs[{first}] prices meter \"{}\" in {}; all of a meter's rates use one currency",
                    r.meter,
                    currency.code()
                ),
            )),
            Some(_) => {}
            None => {
                currency_of.insert(&r.meter, (r.currency, i));
            }
        }
    }
    if problems.is_empty() { Ok(valid.into_iter().map(|(_, r)| r).collect()) } else { Err(problems) }
}

/// "tokens (gpt-4o)" or "tokens".
fn subject(r: &CostRate) -> String {
    match &r.group {
        Some(g) => format!("{} ({g})", r.meter),
        None => r.meter.clone(),
    }
}

/// The rates of a workspace, found by meter, group and day.
#[derive(Debug, Clone, Default)]
pub struct CostRates {
    /// (meter, group) → rates, oldest first.
    by: BTreeMap<(String, Option<String>), Vec<CostRate>>,
}

impl CostRates {
    pub fn new(rates: Vec<CostRate>) -> CostRates {
        let mut by: BTreeMap<(String, Option<String>), Vec<CostRate>> = BTreeMap::new();
        for r in rates {
            by.entry((r.meter.clone(), r.group.clone())).or_default().push(r);
        }
        for list in by.values_mut() {
            list.sort_by_key(|r| r.from);
        }
        CostRates { by }
    }

    pub fn is_empty(&self) -> bool {
        self.by.is_empty()
    }

    /// The rate in force on `day` for a line of `meter` and `group`: the
    /// group's own rate, else the meter's rate for every group; none before
    /// the first one starts.
    pub fn in_force(&self, meter: &str, group: Option<&str>, day: NaiveDate) -> Option<&CostRate> {
        let latest = |group: Option<&str>| {
            self.by
                .get(&(meter.to_string(), group.map(str::to_string)))
                .and_then(|list| list.iter().rev().find(|r| r.from <= day))
        };
        group.and_then(|g| latest(Some(g))).or_else(|| latest(None))
    }

    /// Whether any rate prices `meter` (a line of it may have a cost).
    pub fn prices(&self, meter: &str) -> bool {
        self.by.keys().any(|(m, _)| m == meter)
    }

    /// The currencies costs are in (what a report may need to convert).
    pub fn currencies(&self) -> BTreeSet<String> {
        self.by.values().flatten().map(|r| r.currency.code()).collect()
    }
}

/// What a usage line counted, as its cost needs it: each local day's
/// quantity for a count or sum meter (they add up), else the whole period's
/// quantity, priced at the rate of the period's first day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted<'a> {
    Daily(&'a [(NaiveDate, Decimal)]),
    Whole { quantity: Decimal, first_day: NaiveDate },
}

/// A usage line's cost: its currency and amount, rounded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCost {
    pub currency: Currency,
    pub amount: Decimal,
}

/// The cost of a line of `meter` and `group` that counted `counted`: the sum
/// of each day's quantity × the rate in force that day (days before any rate
/// cost nothing), rounded once, half away from zero, to the rate currency's
/// minor units. None when no rate is in force on any day the line counts.
/// 1,250,000 tokens at 0.0000025 → 3.125 → 3.13.
pub fn line_cost(rates: &CostRates, meter: &str, group: Option<&str>, counted: Counted<'_>) -> Option<LineCost> {
    line_cost_by_group(rates, meter, &[(group, counted)])
}

/// The cost of a line that counts several groups of a meter (a charge on
/// every model): each group's days priced at that group's rates (the
/// meter's rate for every group where a group has none), summed, and
/// rounded once.
pub fn line_cost_by_group(rates: &CostRates, meter: &str, groups: &[(Option<&str>, Counted<'_>)]) -> Option<LineCost> {
    let mut currency = None;
    let mut sum = Decimal::ZERO;
    for (group, counted) in groups {
        let mut add = |day: NaiveDate, quantity: Decimal| {
            if let Some(rate) = rates.in_force(meter, *group, day) {
                currency = Some(rate.currency);
                // Both bounded (quantities by the aggregation, unit costs above): saturate, never panic.
                sum = sum.saturating_add(quantity.saturating_mul(rate.unit_cost));
            }
        };
        match counted {
            Counted::Daily(days) => days.iter().for_each(|(day, q)| add(*day, *q)),
            Counted::Whole { quantity, first_day } => add(*first_day, *quantity),
        }
    }
    currency.map(|c| LineCost { currency: c, amount: c.round(sum) })
}

/// Revenue, cost and what is left of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Margin {
    pub revenue: Dec,
    pub cost: Dec,
    pub margin: Dec,
    /// margin ÷ revenue in percent, one decimal, half away from zero; none
    /// when the revenue is zero.
    pub margin_percent: Option<Dec>,
}

/// The margin of `revenue` against `cost` (same currency): 6.00 against
/// 3.13 leaves 2.87, 47.8 %.
pub fn margin(revenue: Decimal, cost: Decimal) -> Margin {
    let left = revenue - cost;
    let margin_percent = (!revenue.is_zero())
        .then(|| left.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(revenue.abs()))
        .flatten()
        .map(|p| {
            let mut p = p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
            p.rescale(1);
            Dec(p)
        });
    Margin { revenue: Dec(revenue), cost: Dec(cost), margin: Dec(left), margin_percent }
}

/// Sets the margin of each line whose cost is in the invoice's `currency`
/// (a cost in another currency is left to reports, which convert it).
pub fn fill_margins(lines: &mut [crate::rating::Line], currency: &Currency) {
    let code = currency.code();
    for line in lines {
        let m = match (line.cost, &line.cost_currency) {
            (Some(cost), Some(c)) if *c == code => Some(margin(line.amount.0, cost.0)),
            _ => None,
        };
        line.margin = m.map(|m| m.margin);
        line.margin_percent = m.and_then(|m| m.margin_percent);
    }
}

/// The margin of an invoice or draft in its `currency`: revenue is its
/// subtotal, cost the sum of its lines' costs in that currency; none when no
/// line has such a cost.
pub fn invoice_margin(lines: &[crate::rating::Line], subtotal: Decimal, currency: &Currency) -> Option<Margin> {
    let code = currency.code();
    let costs: Vec<Decimal> = lines
        .iter()
        .filter(|l| l.cost_currency.as_deref() == Some(code.as_str()))
        .filter_map(|l| l.cost.map(|c| c.0))
        .collect();
    (!costs.is_empty()).then(|| margin(subtotal, costs.iter().sum()))
}

/// An exchange rate the user entered: 1 `from` = `rate` `to`, as of a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FxRate {
    pub from: String,
    pub to: String,
    pub rate: Dec,
    #[ts(type = "string")]
    pub as_of: NaiveDate,
}

/// Checks exchange rates: two ISO currencies that differ, a rate above
/// zero, one rate per pair and day. Keys the problems `fx_rates[i].field`.
pub fn validate_fx(rates: &[FxRate]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<(String, String, NaiveDate), usize> = BTreeMap::new();
    for (i, r) in rates.iter().enumerate() {
        let at = |field: &str| format!("fx_rates[{i}].{field}");
        for (field, code) in [("from", &r.from), ("to", &r.to)] {
            if let Err(why) = Currency::parse(code) {
                problems.push(Problem::new(at(field), why));
            }
        }
        if r.from == r.to {
            problems.push(Problem::new(at("to"), "a rate converts between two different currencies"));
        }
        if r.rate.0 <= Decimal::ZERO {
            problems.push(Problem::new(at("rate"), "a rate is above zero"));
        }
        if let Some(first) = seen.insert((r.from.clone(), r.to.clone(), r.as_of), i) {
            problems.push(Problem::new(
                at("as_of"),
                format!("fx_rates[{first}] already gives {} → {} as of {}", r.from, r.to, r.as_of),
            ));
        }
    }
    problems
}

/// An amount converted for a report, with the rate that did it (reports say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted<'a> {
    pub amount: Decimal,
    pub rate: &'a FxRate,
    /// Whether the rate was entered the other way (`to` → `from`) and divided by.
    pub inverse: bool,
}

/// `amount` in `from` converted to `to` with the newest rate as of `on` or
/// before (the pair as entered, else its inverse), rounded half away from
/// zero to `to`'s minor units; none without such a rate.
pub fn convert<'a>(
    amount: Decimal,
    from: &str,
    to: &Currency,
    rates: &'a [FxRate],
    on: NaiveDate,
) -> Option<Converted<'a>> {
    let to_code = to.code();
    let newest =
        |a: &str, b: &str| rates.iter().filter(|r| r.from == a && r.to == b && r.as_of <= on).max_by_key(|r| r.as_of);
    let (rate, inverse) = match (newest(from, &to_code), newest(&to_code, from)) {
        (Some(d), Some(i)) if i.as_of > d.as_of => (i, true),
        (Some(d), _) => (d, false),
        (None, Some(i)) => (i, true),
        (None, None) => return None,
    };
    let raw = if inverse { amount.checked_div(rate.rate.0)? } else { amount.checked_mul(rate.rate.0)? };
    Some(Converted { amount: to.round(raw), rate, inverse })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn fields(meter: &str, group: Option<&str>, currency: &str, unit_cost: Decimal, from: &str) -> CostRateFields {
        CostRateFields {
            meter: meter.into(),
            group: group.map(str::to_string),
            currency: currency.into(),
            unit_cost: Dec(unit_cost),
            from: day(from),
        }
    }

    fn meters() -> BTreeMap<String, bool> {
        BTreeMap::from([("tokens".to_string(), true), ("calls".to_string(), false)])
    }

    fn rates(list: &[CostRateFields]) -> CostRates {
        CostRates::new(validate(list, &meters()).unwrap())
    }

    #[test]
    fn a_line_cost_is_rounded_once_and_its_margin_has_one_decimal() {
        // docs/billing.md "Costs and margin": 1,250,000 tokens at 0.0000025, billed at 6.00.
        let r = rates(&[fields("tokens", Some("gpt-4o"), "USD", dec!(0.0000025), "2026-01-01")]);
        let cost = line_cost(
            &r,
            "tokens",
            Some("gpt-4o"),
            Counted::Whole { quantity: dec!(1250000), first_day: day("2026-10-01") },
        )
        .unwrap();
        assert_eq!(cost.amount.to_string(), "3.13");
        let m = margin(dec!(6.00), cost.amount);
        assert_eq!(
            (m.margin.to_string(), m.margin_percent.map(|p| p.to_string())),
            ("2.87".into(), Some("47.8".into()))
        );
        // Rounded once per line, not per day: 10 days of 125,000 tokens cost 0.3125 each.
        let days: Vec<(NaiveDate, Decimal)> =
            (1..=10).map(|d| (NaiveDate::from_ymd_opt(2026, 10, d).unwrap(), dec!(125000))).collect();
        assert_eq!(line_cost(&r, "tokens", Some("gpt-4o"), Counted::Daily(&days)).unwrap().amount, dec!(3.13));
    }

    #[test]
    fn a_rate_change_mid_month_prices_each_day_at_its_own_rate() {
        // A sum meter: 1,000,000 tokens a day in October 2026; the provider cut
        // its price from 0.000003 to 0.000002 on the 16th: 15 days × 3.00 + 16 × 2.00.
        let r = rates(&[
            fields("tokens", None, "USD", dec!(0.000003), "2026-01-01"),
            fields("tokens", None, "USD", dec!(0.000002), "2026-10-16"),
        ]);
        let october: Vec<(NaiveDate, Decimal)> =
            (1..=31).map(|d| (NaiveDate::from_ymd_opt(2026, 10, d).unwrap(), dec!(1000000))).collect();
        let cost = line_cost(&r, "tokens", Some("gpt-4o"), Counted::Daily(&october)).unwrap();
        assert_eq!(cost.amount, dec!(77.00));
        // A max meter is priced whole at the rate of the period's first day.
        let whole = Counted::Whole { quantity: dec!(1000000), first_day: day("2026-10-01") };
        assert_eq!(line_cost(&r, "tokens", None, whole).unwrap().amount, dec!(3.00));
    }

    #[test]
    fn a_group_rate_wins_over_the_meter_rate_and_days_before_any_rate_cost_nothing() {
        let r = rates(&[
            fields("tokens", None, "USD", dec!(0.000001), "2026-01-01"),
            fields("tokens", Some("gpt-4o"), "USD", dec!(0.00001), "2026-10-10"),
        ]);
        // (group, day) → unit cost in force
        for (group, d, expected) in [
            (Some("gpt-4o"), "2026-10-09", Some(dec!(0.000001))),
            (Some("gpt-4o"), "2026-10-10", Some(dec!(0.00001))),
            (Some("mini"), "2026-10-10", Some(dec!(0.000001))),
            (None, "2026-10-10", Some(dec!(0.000001))),
            (None, "2025-12-31", None),
        ] {
            assert_eq!(r.in_force("tokens", group, day(d)).map(|r| r.unit_cost), expected, "{group:?} {d}");
        }
        assert!(r.in_force("calls", None, day("2026-10-10")).is_none());
        let late = rates(&[fields("calls", None, "USD", dec!(0.01), "2026-10-16")]);
        let days = [(day("2026-10-15"), dec!(100)), (day("2026-10-16"), dec!(100))];
        assert_eq!(line_cost(&late, "calls", None, Counted::Daily(&days[..1])), None, "no rate yet: no cost");
        assert_eq!(line_cost(&late, "calls", None, Counted::Daily(&days)).unwrap().amount, dec!(1.00));
    }

    #[test]
    fn a_line_on_every_model_is_priced_model_by_model_and_rounded_once() {
        let r = rates(&[
            fields("tokens", None, "USD", dec!(0.000001), "2026-01-01"),
            fields("tokens", Some("o3"), "USD", dec!(0.000008), "2026-01-01"),
        ]);
        // 1,000,001 o3 tokens (8.000008) and 2,500,001 of another model (2.500001):
        // 10.500009 → 10.50, where rounding each would give 8.00 + 2.50 as well but
        // 0.4999995 + 0.4999995 shows the difference below.
        let o3 = [(day("2026-10-01"), dec!(1000001))];
        let mini = [(day("2026-10-01"), dec!(2500001))];
        let cost = line_cost_by_group(
            &r,
            "tokens",
            &[(Some("o3"), Counted::Daily(&o3)), (Some("mini"), Counted::Daily(&mini))],
        );
        assert_eq!(cost.unwrap().amount, dec!(10.50));
        let half = [(day("2026-10-01"), dec!(499999.5))];
        let two =
            line_cost_by_group(&r, "tokens", &[(Some("a"), Counted::Daily(&half)), (Some("b"), Counted::Daily(&half))]);
        assert_eq!(
            two.unwrap().amount,
            dec!(1.00),
            "0.4999995 twice is 0.999999 → 1.00, not 0.50 + 0.50 rounded apart"
        );
    }

    #[test]
    fn margin_percent_needs_revenue_and_may_be_negative() {
        // (revenue, cost) → (margin, margin %)
        for (revenue, cost, left, percent) in [
            (dec!(6.00), dec!(3.13), dec!(2.87), Some(dec!(47.8))),
            (dec!(100.00), dec!(112.30), dec!(-12.30), Some(dec!(-12.3))),
            (dec!(0.00), dec!(4.00), dec!(-4.00), None),
            (dec!(3.00), dec!(0.00), dec!(3.00), Some(dec!(100.0))),
            (dec!(-10.00), dec!(0.00), dec!(-10.00), Some(dec!(-100.0))), // a credited line
        ] {
            let m = margin(revenue, cost);
            assert_eq!((m.margin.0, m.margin_percent.map(|p| p.0)), (left, percent), "{revenue} {cost}");
        }
    }

    #[test]
    fn bad_rates_name_their_entry_and_field() {
        let list = [
            fields("tokens", Some("gpt-4o"), "USD", dec!(0.0000025), "2026-01-01"),
            fields("nope", None, "USD", dec!(1), "2026-01-01"),
            fields("calls", Some("x"), "USD", dec!(1), "2026-01-01"),
            fields("tokens", None, "usd", dec!(1), "2026-01-01"),
            fields("tokens", None, "USD", dec!(-1), "2026-01-01"),
            fields("tokens", Some("gpt-4o"), "USD", dec!(0.000003), "2026-01-01"),
            fields("tokens", Some("mini"), "EUR", dec!(0.000001), "2026-01-01"),
        ];
        let problems = validate(&list, &meters()).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "costs[1].meter",
                "costs[2].group",
                "costs[3].currency",
                "costs[4].unit_cost",
                "costs[5].from",
                "costs[6].currency"
            ],
            "{problems:?}"
        );
        assert!(problems[4].message.contains("costs[0] already sets the cost of tokens (gpt-4o) from 2026-01-01"));
        assert!(problems[5].message.contains("in USD"), "{}", problems[5].message);
    }

    #[test]
    fn a_cost_in_another_currency_converts_with_the_newest_rate_entered() {
        let fx = |from: &str, to: &str, rate: Decimal, as_of: &str| FxRate {
            from: from.into(),
            to: to.into(),
            rate: Dec(rate),
            as_of: day(as_of),
        };
        let rates = [
            fx("USD", "EUR", dec!(0.92), "2026-09-30"),
            fx("USD", "EUR", dec!(0.90), "2026-10-31"),
            fx("GBP", "EUR", dec!(1.15), "2026-10-31"),
        ];
        assert!(validate_fx(&rates).is_empty());
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        // A cost of USD 3.13 in an EUR report of October: 3.13 × 0.90 = 2.817 → 2.82.
        let c = convert(dec!(3.13), "USD", &eur, &rates, day("2026-10-31")).unwrap();
        assert_eq!((c.amount, c.rate.as_of, c.inverse), (dec!(2.82), day("2026-10-31"), false));
        // Before the October rate, September's: 3.13 × 0.92 = 2.8796 → 2.88.
        assert_eq!(convert(dec!(3.13), "USD", &eur, &rates, day("2026-10-30")).unwrap().amount, dec!(2.88));
        // The other way, divided: EUR 9.00 / 0.90 = USD 10.00.
        let back = convert(dec!(9.00), "EUR", &usd, &rates, day("2026-11-01")).unwrap();
        assert_eq!((back.amount, back.inverse), (dec!(10.00), true));
        // No rate on or before the day, or none for the pair: no conversion.
        assert!(convert(dec!(1), "USD", &eur, &rates, day("2026-09-29")).is_none());
        assert!(convert(dec!(1), "JPY", &eur, &rates, day("2026-11-01")).is_none());
        let bad = [
            fx("USD", "USD", dec!(1), "2026-01-01"),
            fx("USD", "EUR", dec!(0), "2026-01-01"),
            fx("usd", "EUR", dec!(1), "2026-01-02"),
        ];
        let paths: Vec<String> = validate_fx(&bad).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["fx_rates[0].to", "fx_rates[1].rate", "fx_rates[2].from"]);
    }
}
