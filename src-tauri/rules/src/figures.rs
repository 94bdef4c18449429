//! The business at a glance (docs/billing.md "Business figures"), per
//! currency and never mixed: a recurring fee as a month (MRR), net revenue
//! retention, receivables by age, and the two signals a finance lead acts on
//! (churn risk, power user) with their reason in words.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::money::Currency;
use crate::period::{Interval, Month};

/// A recurring amount of one period as a month's share (quarter ÷ 3, year
/// ÷ 12), unrounded: MRR adds these and rounds once.
pub fn monthly(amount: Decimal, interval: Interval) -> Decimal {
    amount / Decimal::from(interval.months())
}

/// Net revenue retention of a month, in percent with one decimal: the net of
/// the customers who had net revenue twelve months before, over that earlier
/// net. `customers` maps each customer to (net now, net twelve months before);
/// one who left counts 0 now, one who came since counts nowhere. None when no
/// customer had net revenue twelve months before.
pub fn nrr<K: Ord>(customers: &BTreeMap<K, (Decimal, Decimal)>) -> Option<Decimal> {
    let (now, before) = customers
        .values()
        .filter(|(_, before)| *before > Decimal::ZERO)
        .fold((Decimal::ZERO, Decimal::ZERO), |(n, b), (now, before)| (n + now, b + before));
    if before.is_zero() {
        return None;
    }
    let mut percent =
        (now * Decimal::ONE_HUNDRED / before).round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero);
    percent.rescale(1);
    Some(percent)
}

/// How long past its due date an amount still owed is, on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Age {
    /// On or before the due date.
    NotDue,
    D1To30,
    D31To60,
    D61To90,
    Over90,
}

impl Age {
    pub const ALL: [Age; 5] = [Age::NotDue, Age::D1To30, Age::D31To60, Age::D61To90, Age::Over90];

    /// The age of an amount due on `due` as of day `on`: the due day itself
    /// is not due yet, the day after is 1 day past.
    pub fn of(due: NaiveDate, on: NaiveDate) -> Age {
        match (on - due).num_days() {
            ..=0 => Age::NotDue,
            1..=30 => Age::D1To30,
            31..=60 => Age::D31To60,
            61..=90 => Age::D61To90,
            _ => Age::Over90,
        }
    }

    /// The words a column or card shows.
    pub fn label(self) -> &'static str {
        match self {
            Age::NotDue => "Not due",
            Age::D1To30 => "1–30 days",
            Age::D31To60 => "31–60 days",
            Age::D61To90 => "61–90 days",
            Age::Over90 => "Over 90 days",
        }
    }
}

/// What invoices of one currency still ask for, by age.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aging {
    pub by_age: [Decimal; 5],
}

impl Aging {
    /// Adds what an invoice due on `due` still owes on day `on` (nothing owed adds nothing).
    pub fn add(&mut self, owed: Decimal, due: NaiveDate, on: NaiveDate) {
        if owed > Decimal::ZERO {
            self.by_age[Age::of(due, on) as usize] += owed;
        }
    }

    pub fn get(&self, age: Age) -> Decimal {
        self.by_age[age as usize]
    }

    pub fn total(&self) -> Decimal {
        self.by_age.iter().sum()
    }

    /// Everything past its due date.
    pub fn overdue(&self) -> Decimal {
        self.total() - self.get(Age::NotDue)
    }
}

/// Why a customer is worth a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    ChurnRisk,
    PowerUser,
}

/// A signal and its reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub kind: SignalKind,
    pub reason: String,
}

/// Usage revenue in its last ended period below this share of the mean of
/// the three before is a churn risk.
pub const CHURN_SHARE_PERCENT: u32 = 70;
/// Subscribed and silent this many days is a churn risk.
pub const QUIET_DAYS: i64 = 14;
/// The margin floor when the workspace sets none: below it, a power user.
pub const DEFAULT_MARGIN_FLOOR_PERCENT: u32 = 20;

/// "October 2026".
fn month_words(m: Month) -> String {
    m.first_day().format("%B %Y").to_string()
}

/// A churn risk from falling usage revenue: `last` (usage revenue of the
/// period that started in `month`, the last ended) below 70 % of the mean of
/// `before` (the three periods before it). Needs three periods before and a
/// mean above zero.
pub fn falling_usage(currency: &Currency, month: Month, last: Decimal, before: &[Decimal; 3]) -> Option<Signal> {
    let mean = before.iter().sum::<Decimal>() / Decimal::from(3);
    if mean <= Decimal::ZERO || last * Decimal::ONE_HUNDRED >= mean * Decimal::from(CHURN_SHARE_PERCENT) {
        return None;
    }
    let share = (last * Decimal::ONE_HUNDRED / mean).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    Some(Signal {
        kind: SignalKind::ChurnRisk,
        reason: format!(
            "usage revenue {} in {}, {share} % of its 3-month mean {}",
            currency.round(last),
            month_words(month),
            currency.round(mean)
        ),
    })
}

/// A churn risk from silence: subscribed on `today` and no event since
/// `last_event` (a local day; none ever) for [`QUIET_DAYS`] days or more,
/// counting from `subscribed_since` when it sent nothing yet.
pub fn silent(last_event: Option<NaiveDate>, subscribed_since: NaiveDate, today: NaiveDate) -> Option<Signal> {
    let since = last_event.unwrap_or(subscribed_since);
    let days = (today - since).num_days();
    (days >= QUIET_DAYS).then(|| Signal {
        kind: SignalKind::ChurnRisk,
        reason: match last_event {
            Some(day) => format!("no event for {days} days (last on {day}) while subscribed"),
            None => format!("no event in the {days} days since its subscription started on {subscribed_since}"),
        },
    })
}

/// A power user: its margin in the period that started in `month` is
/// negative or its margin % (as shown, one decimal) below `floor_percent`.
pub fn thin_margin(
    currency: &Currency,
    month: Month,
    margin: &crate::cost::Margin,
    floor_percent: Decimal,
) -> Option<Signal> {
    let percent = margin.margin_percent?.0;
    let when = month_words(month);
    let reason = if margin.margin.0 < Decimal::ZERO {
        format!(
            "margin {} ({percent} %) in {when}: usage cost {} exceeds revenue {}",
            currency.round(margin.margin.0),
            currency.round(margin.cost.0),
            currency.round(margin.revenue.0)
        )
    } else if percent < floor_percent {
        format!("margin {percent} % in {when}, below the {} % floor", floor_percent.normalize())
    } else {
        return None;
    };
    Some(Signal { kind: SignalKind::PowerUser, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn month(s: &str) -> Month {
        Month::parse(s, "month").unwrap()
    }

    #[test]
    fn receivables_age_from_the_day_after_the_due_date() {
        let due = day("2026-10-31");
        // days past due → age
        for (days, age) in [
            (-5, Age::NotDue),
            (0, Age::NotDue),
            (1, Age::D1To30),
            (30, Age::D1To30),
            (31, Age::D31To60),
            (60, Age::D31To60),
            (61, Age::D61To90),
            (90, Age::D61To90),
            (91, Age::Over90),
            (400, Age::Over90),
        ] {
            assert_eq!(Age::of(due, due + chrono::Duration::days(days)), age, "{days} days");
        }
        let mut aging = Aging::default();
        aging.add(dec!(100.00), due, day("2026-11-30")); // 30 days
        aging.add(dec!(50.00), due, day("2026-12-01").pred_opt().unwrap()); // 30 days again
        aging.add(dec!(0.00), day("2026-01-01"), day("2026-11-30")); // paid: nothing
        aging.add(dec!(25.00), day("2026-12-15"), day("2026-11-30"));
        aging.add(dec!(7.50), day("2026-08-31"), day("2026-11-30")); // 91 days
        assert_eq!(aging.by_age, [dec!(25.00), dec!(150.00), dec!(0), dec!(0), dec!(7.50)]);
        assert_eq!((aging.total(), aging.overdue()), (dec!(182.50), dec!(157.50)));
    }

    #[test]
    fn recurring_fees_count_as_a_month() {
        for (amount, interval, expected) in [
            (dec!(49.00), Interval::Month, dec!(49.00)),
            (dec!(300.00), Interval::Quarter, dec!(100.00)),
            (dec!(1000.00), Interval::Year, "83.333333333333333333333333333".parse::<Decimal>().unwrap()),
        ] {
            assert_eq!(monthly(amount, interval), expected, "{interval:?}");
        }
        let usd = Currency::parse("USD").unwrap();
        // MRR rounds once: three yearly 1,000.00 fees are 250.00 a month, not 3 × 83.33.
        assert_eq!(usd.round((0..3).map(|_| monthly(dec!(1000.00), Interval::Year)).sum()), dec!(250.00));
    }

    #[test]
    fn net_revenue_retention_follows_the_customers_of_a_year_before() {
        // A 13-month fixture: net revenue by customer from 2025-10 to 2026-10.
        // "steady" pays 100 every month; "grows" starts at 100 and adds 10 a
        // month; "churned" pays 50 until 2026-03 and then nothing; "new"
        // arrives in 2026-06 (not in the base of 2026-10, whatever it pays).
        let months: Vec<Month> = std::iter::successors(Some(month("2025-10")), |m| m.next().ok()).take(13).collect();
        let mut net: BTreeMap<(&str, Month), Decimal> = BTreeMap::new();
        for (i, m) in months.iter().enumerate() {
            net.insert(("steady", *m), dec!(100));
            net.insert(("grows", *m), dec!(100) + Decimal::from(10 * i as i64));
            net.insert(("churned", *m), if *m <= month("2026-03") { dec!(50) } else { dec!(0) });
            if *m >= month("2026-06") {
                net.insert(("new", *m), dec!(500));
            }
        }
        let nrr_of = |m: Month| {
            let year_before = std::iter::successors(Some(m), |x| x.previous().ok()).nth(12).unwrap();
            let customers: BTreeMap<&str, (Decimal, Decimal)> = ["steady", "grows", "churned", "new"]
                .into_iter()
                .map(|c| {
                    let get = |m| net.get(&(c, m)).copied().unwrap_or_default();
                    (c, (get(m), get(year_before)))
                })
                .collect();
            nrr(&customers)
        };
        // 2026-10 against 2025-10: (100 + 220 + 0) / (100 + 100 + 50) = 128.0 %.
        assert_eq!(nrr_of(month("2026-10")), Some(dec!(128.0)));
        // 2026-09 has no month twelve before it in the fixture: no NRR.
        assert_eq!(nrr_of(month("2026-09")), None);
        // Everyone of the base left: 0.0 %; two thirds kept: 66.7 %.
        let gone = BTreeMap::from([("a", (dec!(0), dec!(80)))]);
        assert_eq!(nrr(&gone), Some(dec!(0.0)));
        let kept = BTreeMap::from([("a", (dec!(200), dec!(200))), ("b", (dec!(0), dec!(100)))]);
        assert_eq!(nrr(&kept), Some(dec!(66.7)));
    }

    #[test]
    fn falling_usage_below_seventy_percent_of_the_mean_is_a_churn_risk() {
        let usd = Currency::parse("USD").unwrap();
        let october = month("2026-10");
        // The example: 412.00 against a mean of 710.33 (58 %).
        let signal = falling_usage(&usd, october, dec!(412.00), &[dec!(700.00), dec!(731.00), dec!(700.00)]).unwrap();
        assert_eq!(signal.kind, SignalKind::ChurnRisk);
        assert_eq!(signal.reason, "usage revenue 412.00 in October 2026, 58 % of its 3-month mean 710.33");
        // (last, three before) → risk?
        for (last, before, risk) in [
            (dec!(69.99), [dec!(100), dec!(100), dec!(100)], true),
            (dec!(70.00), [dec!(100), dec!(100), dec!(100)], false), // exactly 70 %: not below
            (dec!(0), [dec!(0), dec!(0), dec!(0)], false),           // nothing before: no base
            (dec!(0), [dec!(0), dec!(0), dec!(30)], true),
        ] {
            assert_eq!(falling_usage(&usd, october, last, &before).is_some(), risk, "{last} {before:?}");
        }
    }

    #[test]
    fn silence_of_fourteen_days_while_subscribed_is_a_churn_risk() {
        let today = day("2026-11-30");
        // (last event, subscribed since) → reason
        for (last, since, reason) in [
            (Some("2026-11-17"), "2026-01-01", None),
            (Some("2026-11-16"), "2026-01-01", Some("no event for 14 days (last on 2026-11-16) while subscribed")),
            (None, "2026-11-20", None),
            (None, "2026-11-01", Some("no event in the 29 days since its subscription started on 2026-11-01")),
        ] {
            let signal = silent(last.map(day), day(since), today);
            assert_eq!(signal.map(|s| s.reason), reason.map(str::to_string), "{last:?} {since}");
        }
    }

    #[test]
    fn a_margin_below_the_floor_or_negative_makes_a_power_user() {
        let usd = Currency::parse("USD").unwrap();
        let october = month("2026-10");
        let floor = Decimal::from(DEFAULT_MARGIN_FLOOR_PERCENT);
        let of =
            |revenue, cost| thin_margin(&usd, october, &crate::cost::margin(revenue, cost), floor).map(|s| s.reason);
        assert_eq!(of(dec!(6.00), dec!(3.13)), None, "47.8 % is healthy");
        assert_eq!(of(dec!(100.00), dec!(80.00)), None, "exactly 20 % is not below");
        // The margin % compared is the one shown (one decimal): 19.99 % shows 20.0 %.
        assert_eq!(of(dec!(100.00), dec!(80.01)), None);
        assert_eq!(
            of(dec!(100.00), dec!(80.06)).as_deref(),
            Some("margin 19.9 % in October 2026, below the 20 % floor")
        );
        assert_eq!(
            of(dec!(100.00), dec!(85.00)).as_deref(),
            Some("margin 15.0 % in October 2026, below the 20 % floor")
        );
        assert_eq!(
            of(dec!(100.00), dec!(112.30)).as_deref(),
            Some("margin -12.30 (-12.3 %) in October 2026: usage cost 112.30 exceeds revenue 100.00")
        );
        assert_eq!(of(dec!(0.00), dec!(5.00)), None, "no revenue, no margin %");
    }
}
