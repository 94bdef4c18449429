//! Subscriptions as defined: a customer on one version of a plan, from a
//! start date to an optional end date (local dates, the end excluded),
//! billed in periods on an anchor day, with price overrides and discounts.
//! One customer's subscriptions never overlap, so an event belongs to at most
//! one of them (ARCHITECTURE.md "Plan changes").

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::Problem;
use crate::money::Dec;
use crate::plan::{ChargeFields, PlanFields};
use crate::pricing::{PriceFields, non_negative, positive_maximum};
use crate::text::{MAX_TEXT_CHARS, code_problem, required_text_problem};

/// A price override: replaces the price of the plan's charge on `meter` (and
/// `group`) for this subscription only. With a `model`, the price fields are
/// the whole new price; without, they replace the charge's fields of the same
/// name (`{"meter": "api_calls", "unit_price": "0.0008"}` keeps `included`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OverrideFields {
    pub meter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub group: Option<String>,
    /// The price fields it replaces (unit_price, tiers, …), as written. (Not
    /// in the TypeScript binding: the console shows overrides in words.)
    #[serde(flatten)]
    #[ts(skip)]
    pub price: Map<String, Value>,
}

/// A discount: a percent or a fixed amount, off one charge (`meter`) or the
/// whole invoice, for every period or the first `periods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DiscountFields {
    pub name: String,
    /// "10" is 10%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub percent: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub amount: Option<Dec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub meter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub periods: Option<u32>,
}

/// A subscription as written in a catalog: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionFields {
    pub id: String,
    pub customer: String,
    pub plan: String,
    /// A stored version of the plan; absent: the latest for a new subscription,
    /// and the one it already has for an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub plan_version: Option<i64>,
    #[ts(type = "string")]
    pub start: NaiveDate,
    /// The first day it is no longer active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "string")]
    pub end: Option<NaiveDate>,
    /// 1–31; absent: the start's day of month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub anchor_day: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<OverrideFields>>", optional)]
    pub overrides: Vec<OverrideFields>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<DiscountFields>>", optional)]
    pub discounts: Vec<DiscountFields>,
    /// This subscription's spend cap, instead of the plan's (docs/billing.md "Spend caps").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub maximum: Option<Dec>,
}

impl SubscriptionFields {
    /// The spend cap it is billed under: its own, else its plan's.
    pub fn maximum_under(&self, plan: &PlanFields) -> Option<Dec> {
        self.maximum.or(plan.maximum)
    }
}

/// What a subscription is validated against: the customers, plans and
/// subscriptions there will be once the catalog is applied.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Customer id → its currency.
    pub customers: HashMap<String, String>,
    /// Plan code → its latest definition.
    pub latest: HashMap<String, PlanFields>,
    /// (plan code, version) → a stored definition.
    pub versions: HashMap<(String, i64), PlanFields>,
    /// Stored subscriptions by id (their fields, `plan_version` and
    /// `anchor_day` set).
    pub existing: HashMap<String, SubscriptionFields>,
}

/// A subscription that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubscription {
    /// Trimmed, with `anchor_day` filled in; `plan_version` as given.
    pub fields: SubscriptionFields,
}

/// The plan's charges with a subscription's overrides applied. Problems are
/// keyed `overrides[i].…`.
pub fn effective_charges(
    plan: &PlanFields,
    overrides: &[OverrideFields],
) -> std::result::Result<Vec<ChargeFields>, Vec<Problem>> {
    let mut charges = plan.charges.clone();
    let mut problems = Vec::new();
    let mut overridden = vec![false; charges.len()];
    for (i, o) in overrides.iter().enumerate() {
        let at = |f: &str| format!("overrides[{i}].{f}");
        let Some(k) = charges.iter().position(|c| c.meter == o.meter && c.group == o.group) else {
            let which = match &o.group {
                Some(g) => format!("meter \"{}\" group \"{g}\"", o.meter),
                None => format!("meter \"{}\"", o.meter),
            };
            problems.push(Problem::new(at("meter"), format!("plan \"{}\" has no charge on {which}", plan.code)));
            continue;
        };
        if std::mem::replace(&mut overridden[k], true) {
            problems.push(Problem::new(at("meter"), "this charge is overridden twice"));
            continue;
        }
        if o.price.is_empty() {
            problems.push(Problem::new(at("meter"), "an override needs a price field (unit_price, tiers, …)"));
            continue;
        }
        let mut merged = if o.price.contains_key("model") {
            Map::new()
        } else {
            match serde_json::to_value(&charges[k].price) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            }
        };
        merged.extend(o.price.clone());
        let price = match PriceFields::from_json(Value::Object(merged)) {
            Ok(p) => p,
            Err(p) => {
                problems.push(Problem::new(at(&p.path), p.message));
                continue;
            }
        };
        match price.validate() {
            Ok(_) => charges[k].price = price,
            Err(ps) => problems.extend(ps.into_iter().map(|p| Problem::new(at(&p.path), p.message))),
        }
    }
    if problems.is_empty() { Ok(charges) } else { Err(problems) }
}

impl SubscriptionFields {
    /// Validates the subscription against `ctx`; problems are keyed by field path.
    pub fn validate(&self, ctx: &Context) -> std::result::Result<ValidSubscription, Vec<Problem>> {
        let mut problems = Vec::new();
        let id = self.id.trim();
        if let Some(p) = code_problem("the subscription id", id, "sub_globex") {
            problems.push(Problem::new("id", p.message));
        }
        let existing = ctx.existing.get(id);
        let customer_currency = ctx.customers.get(self.customer.trim());
        if customer_currency.is_none() {
            problems.push(Problem::new("customer", format!("no customer with id \"{}\"", self.customer.trim())));
        }
        if let Some(e) = existing
            && e.customer != self.customer.trim()
        {
            problems.push(Problem::new(
                "customer",
                format!(
                    "subscription \"{id}\" belongs to \"{}\"; a subscription cannot move to another customer",
                    e.customer
                ),
            ));
        }
        let plan_code = self.plan.trim();
        // The definition the subscription will be billed on.
        let plan: Option<&PlanFields> = match (self.plan_version, existing) {
            (Some(v), _) => {
                let found = ctx.versions.get(&(plan_code.to_string(), v));
                if found.is_none() {
                    let message = if ctx.latest.contains_key(plan_code) {
                        format!("plan \"{plan_code}\" has no stored version {v}")
                    } else {
                        format!("no plan with code \"{plan_code}\"")
                    };
                    problems.push(Problem::new("plan_version", message));
                }
                found
            }
            (None, Some(e)) if e.plan == plan_code => {
                ctx.versions.get(&(plan_code.to_string(), e.plan_version.unwrap_or(1)))
            }
            _ => {
                let found = ctx.latest.get(plan_code);
                if found.is_none() {
                    problems.push(Problem::new("plan", format!("no plan with code \"{plan_code}\"")));
                }
                found
            }
        };
        if let (Some(plan), Some(currency)) = (plan, customer_currency)
            && &plan.currency != currency
        {
            problems.push(Problem::new(
                "plan",
                format!(
                    "plan \"{plan_code}\" bills in {}, but customer \"{}\" is billed in {currency}",
                    plan.currency,
                    self.customer.trim()
                ),
            ));
        }
        if let Some(end) = self.end
            && end <= self.start
        {
            problems.push(Problem::new("end", format!("must come after the start ({})", self.start)));
        }
        let anchor_day = self.anchor_day.unwrap_or_else(|| self.start.day());
        if !(1..=31).contains(&anchor_day) {
            problems.push(Problem::new("anchor_day", "must be from 1 to 31"));
        }
        if let Some(plan) = plan
            && let Err(ps) = effective_charges(plan, &self.overrides)
        {
            problems.extend(ps);
        }
        if let Some(m) = self.maximum {
            positive_maximum("maximum", m.0, &mut problems);
            if let Some(c) = plan.and_then(|p| p.minimum_commitment)
                && c.0 > m.0
            {
                problems.push(Problem::new(
                    "maximum",
                    format!(
                        "the maximum {m} is below plan \"{plan_code}\"'s minimum commitment {c}: the commitment could never be billed"
                    ),
                ));
            }
        }
        for (i, d) in self.discounts.iter().enumerate() {
            let at = |f: &str| format!("discounts[{i}].{f}");
            problems.extend(required_text_problem(&at("name"), "the discount's name", &d.name, MAX_TEXT_CHARS));
            match (d.percent, d.amount) {
                (Some(p), None) => {
                    if p.0 <= rust_decimal::Decimal::ZERO || p.0 > rust_decimal::Decimal::ONE_HUNDRED {
                        problems.push(Problem::new(at("percent"), "must be more than 0 and at most 100"));
                    }
                }
                (None, Some(a)) => non_negative(&at("amount"), a.0, &mut problems),
                (Some(_), Some(_)) => {
                    problems.push(Problem::new(at("amount"), "give either a percent or an amount, not both"))
                }
                (None, None) => problems.push(Problem::new(at("percent"), "give a percent or an amount")),
            }
            if let (Some(meter), Some(plan)) = (&d.meter, plan)
                && !plan.charges.iter().any(|c| &c.meter == meter)
            {
                problems.push(Problem::new(
                    at("meter"),
                    format!("plan \"{plan_code}\" has no charge on meter \"{meter}\""),
                ));
            }
            if d.periods == Some(0) {
                problems.push(Problem::new(at("periods"), "must be at least 1 (omit it for every period)"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut fields = self.clone();
        fields.id = id.to_string();
        fields.customer = self.customer.trim().to_string();
        fields.plan = plan_code.to_string();
        fields.anchor_day = Some(anchor_day);
        Ok(ValidSubscription { fields })
    }
}

/// The problems of subscriptions of one customer that overlap, keyed by the
/// index of the later one in `catalog` (or of any stored one it overlaps).
pub fn overlap_problems(
    catalog: &[(usize, SubscriptionFields)],
    stored: &[SubscriptionFields],
) -> Vec<(usize, Problem)> {
    // Each catalog entry replaces the stored subscription with its id.
    let mut by_customer: HashMap<&str, Vec<(Option<usize>, &SubscriptionFields)>> = HashMap::new();
    for s in stored {
        if !catalog.iter().any(|(_, c)| c.id == s.id) {
            by_customer.entry(&s.customer).or_default().push((None, s));
        }
    }
    for (i, c) in catalog {
        by_customer.entry(&c.customer).or_default().push((Some(*i), c));
    }
    let mut problems = Vec::new();
    for list in by_customer.values_mut() {
        list.sort_by_key(|(i, s)| (s.start, *i));
        for pair in list.windows(2) {
            let ((ia, a), (ib, b)) = (pair[0], pair[1]);
            if a.end.is_none_or(|end| end > b.start) {
                let (at, other) = match (ia, ib) {
                    (_, Some(ib)) => (ib, a),
                    (Some(ia), None) => (ia, b),
                    (None, None) => continue,
                };
                problems.push((
                    at,
                    Problem::new(
                        "start",
                        format!(
                            "overlaps subscription \"{}\" of the same customer ({} to {}); end one before the next starts",
                            other.id,
                            other.start,
                            other.end.map_or("open".to_string(), |e| e.to_string())
                        ),
                    ),
                ));
            }
        }
    }
    problems.sort_by_key(|(i, _)| *i);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(id: &str, start: &str, end: Option<&str>) -> SubscriptionFields {
        serde_json::from_value(json!({ "id": id, "customer": "globex", "plan": "pro", "start": start, "end": end }))
            .unwrap()
    }

    fn context() -> Context {
        let plan: PlanFields = serde_json::from_value(json!({ "code": "pro", "name": "Pro", "currency": "USD",
            "interval": "month", "charges": [ { "meter": "calls", "model": "per_unit", "unit_price": "0.001" } ] }))
        .unwrap();
        Context {
            customers: HashMap::from([("globex".to_string(), "USD".to_string())]),
            latest: HashMap::from([("pro".to_string(), plan.clone())]),
            versions: HashMap::from([(("pro".to_string(), 1), plan)]),
            existing: HashMap::new(),
        }
    }

    #[test]
    fn a_plan_change_ends_one_subscription_where_the_next_starts_and_overlaps_are_named() {
        // A change on Oct 15: the first ends on the 15th (excluded), the next starts on it.
        let before = sub("sub_a", "2026-10-01", Some("2026-10-15"));
        let after = sub("sub_b", "2026-10-15", None);
        assert!(overlap_problems(&[(0, before.clone()), (1, after.clone())], &[]).is_empty());
        // One day too early: the catalog entry that starts inside the other is named.
        let early = sub("sub_b", "2026-10-14", None);
        let found = overlap_problems(&[(0, before.clone()), (1, early)], &[]);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, found[0].1.path.as_str()), (1, "start"));
        assert!(found[0].1.message.contains("overlaps subscription \"sub_a\""), "{}", found[0].1.message);
        // A stored open subscription and a new one: the new one is named.
        let found = overlap_problems(&[(3, sub("sub_c", "2026-11-01", None))], &[sub("sub_old", "2026-01-01", None)]);
        assert_eq!(found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_subscription_is_checked_against_its_customer_and_plan() {
        let ctx = context();
        let valid = sub("sub_a", "2026-10-15", None).validate(&ctx).unwrap();
        assert_eq!(valid.fields.anchor_day, Some(15), "the anchor defaults to the start's day");
        let mut bad = sub("Sub A", "2026-10-15", None);
        bad.customer = "nobody".into();
        bad.plan_version = Some(7);
        let paths: Vec<String> = bad.validate(&ctx).unwrap_err().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["id", "customer", "plan_version"]);
    }

    #[test]
    fn a_subscription_s_maximum_is_positive_and_not_below_the_plan_s_commitment() {
        let mut ctx = context();
        for plan in ctx.latest.values_mut().chain(ctx.versions.values_mut()) {
            plan.minimum_commitment = Some(Dec(rust_decimal::Decimal::new(50000, 2)));
            plan.maximum = Some(Dec(rust_decimal::Decimal::new(100000, 2)));
        }
        let with = |maximum: &str| {
            let mut s = sub("sub_a", "2026-10-15", None);
            s.maximum = Some(maximum.parse().unwrap());
            s.validate(&ctx).map(|v| v.fields.maximum_under(&ctx.latest["pro"]).unwrap().to_string())
        };
        assert_eq!(with("750.00").unwrap(), "750.00", "the subscription's own cap wins over the plan's");
        assert_eq!(sub("sub_a", "2026-10-15", None).maximum_under(&ctx.latest["pro"]).unwrap().to_string(), "1000.00");
        let problem = with("400.00").unwrap_err();
        assert_eq!(problem[0].path, "maximum");
        assert!(
            problem[0].message.contains("below plan \"pro\"'s minimum commitment 500.00"),
            "{}",
            problem[0].message
        );
        assert_eq!(with("0").unwrap_err()[0].path, "maximum");
    }
}
