//! Usage and spend alert rules as defined (docs/billing.md "Alerts"): a
//! meter (optionally one group) passing a quantity in the running period, or
//! a draft passing an amount or a percent of its cap or commitment; for one
//! customer, a plan's subscribers, or everyone. `AlertRuleFields` (a catalog
//! entry) → `validate` → stored.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::money::Dec;
use crate::text::code_problem;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A meter's quantity in the running period.
    Usage,
    /// The running period's draft: its total, or its usage against the cap or commitment.
    Spend,
}

/// An alert rule as written in a catalog: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleFields {
    pub id: String,
    pub kind: RuleKind,
    /// Usage: the meter, and optionally one of its groups (none: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub meter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub group: Option<String>,
    /// Usage: a quantity; spend: an amount of the draft's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub threshold: Option<Dec>,
    /// Spend: a percent of the period's (prorated) maximum its usage lines reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub percent_of_maximum: Option<Dec>,
    /// Spend: a percent of the period's (prorated) minimum commitment its usage lines reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub percent_of_commitment: Option<Dec>,
    /// Whom it watches: one customer, a plan's subscribers, or (neither) everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub plan: Option<String>,
}

/// What a rule compares, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A meter's quantity passes this.
    Quantity(Decimal),
    /// The draft's total passes this amount.
    Total(Decimal),
    /// The usage lines reach this percent of the prorated maximum.
    PercentOfMaximum(Decimal),
    /// The usage lines reach this percent of the prorated commitment.
    PercentOfCommitment(Decimal),
}

impl Measure {
    /// The threshold as written, for the alert's record and its once-key.
    pub fn threshold(&self) -> Decimal {
        match *self {
            Measure::Quantity(t)
            | Measure::Total(t)
            | Measure::PercentOfMaximum(t)
            | Measure::PercentOfCommitment(t) => t,
        }
    }
}

/// What rules are validated against.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    /// Meter code → whether it is grouped.
    pub meters: HashMap<String, bool>,
    pub customers: HashSet<String>,
    pub plans: HashSet<String>,
}

impl AlertRuleFields {
    /// Validates the rule; problems are keyed by field.
    pub fn validate(&self, ctx: &RuleContext) -> Result<(AlertRuleFields, Measure), Vec<Problem>> {
        let mut problems = Vec::new();
        let id = self.id.trim();
        if let Some(p) = code_problem("the rule id", id, "tokens_80") {
            problems.push(Problem::new("id", p.message));
        }
        let positive = |field: &str, v: Decimal, problems: &mut Vec<Problem>| {
            if v <= Decimal::ZERO {
                problems.push(Problem::new(field, "must be more than 0"));
            }
        };
        let measure = match self.kind {
            RuleKind::Usage => {
                match self.meter.as_deref().map(str::trim) {
                    None | Some("") => problems.push(Problem::new("meter", "a usage rule names the meter it watches")),
                    Some(m) => match ctx.meters.get(m) {
                        None => problems.push(Problem::new("meter", format!("no meter with code \"{m}\""))),
                        Some(false) if self.group.is_some() => {
                            problems.push(Problem::new("group", format!("meter \"{m}\" is not grouped")))
                        }
                        Some(_) => {}
                    },
                }
                for (field, given) in [
                    ("percent_of_maximum", &self.percent_of_maximum),
                    ("percent_of_commitment", &self.percent_of_commitment),
                ] {
                    if given.is_some() {
                        problems.push(Problem::new(field, "a usage rule takes a quantity (threshold), not a percent"));
                    }
                }
                match self.threshold {
                    None => {
                        problems.push(Problem::new("threshold", "say the quantity that raises the alert"));
                        None
                    }
                    Some(t) => {
                        positive("threshold", t.0, &mut problems);
                        Some(Measure::Quantity(t.0))
                    }
                }
            }
            RuleKind::Spend => {
                for (field, given) in [("meter", self.meter.is_some()), ("group", self.group.is_some())] {
                    if given {
                        problems.push(Problem::new(field, "a spend rule watches the whole draft, not a meter"));
                    }
                }
                let given = [
                    ("threshold", self.threshold.map(|t| Measure::Total(t.0))),
                    ("percent_of_maximum", self.percent_of_maximum.map(|t| Measure::PercentOfMaximum(t.0))),
                    ("percent_of_commitment", self.percent_of_commitment.map(|t| Measure::PercentOfCommitment(t.0))),
                ];
                let set: Vec<_> = given.iter().filter_map(|(f, m)| m.map(|m| (*f, m))).collect();
                match set.as_slice() {
                    [(field, m)] => {
                        positive(field, m.threshold(), &mut problems);
                        Some(*m)
                    }
                    [] => {
                        problems.push(Problem::new(
                            "threshold",
                            "give an amount (threshold), a percent_of_maximum or a percent_of_commitment",
                        ));
                        None
                    }
                    [_, (field, _), ..] => {
                        problems.push(Problem::new(
                            *field,
                            "give one of threshold, percent_of_maximum, percent_of_commitment",
                        ));
                        None
                    }
                }
            }
        };
        match (&self.customer, &self.plan) {
            (Some(_), Some(_)) => {
                problems.push(Problem::new("plan", "a rule targets one customer or a plan, not both"))
            }
            (Some(c), None) if !ctx.customers.contains(c.trim()) => {
                problems.push(Problem::new("customer", format!("no customer with id \"{}\"", c.trim())))
            }
            (None, Some(p)) if !ctx.plans.contains(p.trim()) => {
                problems.push(Problem::new("plan", format!("no plan with code \"{}\"", p.trim())))
            }
            _ => {}
        }
        match measure {
            Some(m) if problems.is_empty() => {
                let mut fields = self.clone();
                fields.id = id.to_string();
                fields.meter = fields.meter.map(|m| m.trim().to_string());
                fields.customer = fields.customer.map(|c| c.trim().to_string());
                fields.plan = fields.plan.map(|p| p.trim().to_string());
                Ok((fields, m))
            }
            _ => Err(problems),
        }
    }

    /// What a stored (so validated) rule compares; none if it gives no threshold.
    pub fn measure(&self) -> Option<Measure> {
        match self.kind {
            RuleKind::Usage => self.threshold.map(|t| Measure::Quantity(t.0)),
            RuleKind::Spend => match (self.threshold, self.percent_of_maximum, self.percent_of_commitment) {
                (Some(t), None, None) => Some(Measure::Total(t.0)),
                (None, Some(p), None) => Some(Measure::PercentOfMaximum(p.0)),
                (None, None, Some(p)) => Some(Measure::PercentOfCommitment(p.0)),
                _ => None,
            },
        }
    }

    /// Whether the rule watches a subscription of `customer` on `plan`.
    pub fn targets(&self, customer: &str, plan: &str) -> bool {
        match (&self.customer, &self.plan) {
            (Some(c), _) => c == customer,
            (None, Some(p)) => p == plan,
            (None, None) => true,
        }
    }
}

/// Whether `value` passes the measure's threshold: a quantity or total at or
/// above it; usage at or above the percent of a limit (never without one).
pub fn passes(measure: Measure, value: Decimal, limit: Option<Decimal>) -> bool {
    match measure {
        Measure::Quantity(t) | Measure::Total(t) => value >= t,
        Measure::PercentOfMaximum(p) | Measure::PercentOfCommitment(p) => match limit {
            Some(l) if l > Decimal::ZERO => value * Decimal::ONE_HUNDRED >= p * l,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> RuleContext {
        RuleContext {
            meters: HashMap::from([("tokens".into(), true), ("calls".into(), false)]),
            customers: HashSet::from(["globex".into()]),
            plans: HashSet::from(["pro".into()]),
        }
    }

    fn check(rule: serde_json::Value) -> Result<Measure, Vec<String>> {
        let fields: AlertRuleFields = serde_json::from_value(rule).unwrap();
        fields.validate(&ctx()).map(|(_, m)| m).map_err(|ps| ps.into_iter().map(|p| p.path).collect())
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn rules_are_checked_field_by_field() {
        let cases: Vec<(serde_json::Value, Result<Measure, Vec<&str>>)> = vec![
            (
                json!({"id": "a1", "kind": "usage", "meter": "tokens", "group": "gpt-4o", "threshold": "1000000", "customer": "globex"}),
                Ok(Measure::Quantity(d("1000000"))),
            ),
            (
                json!({"id": "s80", "kind": "spend", "percent_of_maximum": "80", "plan": "pro"}),
                Ok(Measure::PercentOfMaximum(d("80"))),
            ),
            (json!({"id": "s1", "kind": "spend", "threshold": "1000.00"}), Ok(Measure::Total(d("1000.00")))),
            (
                json!({"id": "c50", "kind": "spend", "percent_of_commitment": "50"}),
                Ok(Measure::PercentOfCommitment(d("50"))),
            ),
            (json!({"id": "A 1", "kind": "usage", "threshold": "0"}), Err(vec!["id", "meter", "threshold"])),
            (
                json!({"id": "a2", "kind": "usage", "meter": "calls", "group": "eu", "threshold": "5"}),
                Err(vec!["group"]),
            ),
            (
                json!({"id": "a3", "kind": "usage", "meter": "nope", "percent_of_maximum": "80"}),
                Err(vec!["meter", "percent_of_maximum", "threshold"]),
            ),
            (json!({"id": "s2", "kind": "spend", "meter": "tokens"}), Err(vec!["meter", "threshold"])),
            (
                json!({"id": "s3", "kind": "spend", "threshold": "5", "percent_of_maximum": "80"}),
                Err(vec!["percent_of_maximum"]),
            ),
            (json!({"id": "s4", "kind": "spend", "threshold": "5", "customer": "nobody"}), Err(vec!["customer"])),
            (
                json!({"id": "s5", "kind": "spend", "threshold": "5", "customer": "globex", "plan": "pro"}),
                Err(vec!["plan"]),
            ),
            (json!({"id": "s6", "kind": "spend", "threshold": "5", "plan": "gold"}), Err(vec!["plan"])),
        ];
        for (rule, expected) in cases {
            let expected = expected.map_err(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            if let Ok(m) = &expected {
                let fields: AlertRuleFields = serde_json::from_value(rule.clone()).unwrap();
                assert_eq!(fields.measure(), Some(*m), "a stored rule reads back what it was validated as: {rule}");
            }
            assert_eq!(check(rule.clone()), expected, "{rule}");
        }
    }

    #[test]
    fn a_threshold_is_passed_at_or_above_it_and_a_percent_needs_a_limit() {
        let cases = [
            (Measure::Quantity(d("1000")), "999.99", None, false),
            (Measure::Quantity(d("1000")), "1000", None, true),
            (Measure::Total(d("500.00")), "500.01", None, true),
            (Measure::PercentOfMaximum(d("80")), "799.99", Some("1000.00"), false),
            (Measure::PercentOfMaximum(d("80")), "800.00", Some("1000.00"), true),
            (Measure::PercentOfMaximum(d("100")), "548.39", Some("548.39"), true),
            (Measure::PercentOfCommitment(d("50")), "250", None, false),
            (Measure::PercentOfCommitment(d("50")), "250", Some("0"), false),
        ];
        for (m, value, limit, expected) in cases {
            assert_eq!(passes(m, d(value), limit.map(d)), expected, "{m:?} {value} {limit:?}");
        }
    }

    #[test]
    fn a_rule_targets_one_customer_a_plan_s_subscribers_or_everyone() {
        let rule = |customer: Option<&str>, plan: Option<&str>| AlertRuleFields {
            id: "r".into(),
            kind: RuleKind::Spend,
            meter: None,
            group: None,
            threshold: Some(Dec(d("1"))),
            percent_of_maximum: None,
            percent_of_commitment: None,
            customer: customer.map(String::from),
            plan: plan.map(String::from),
        };
        assert!(rule(Some("globex"), None).targets("globex", "pro"));
        assert!(!rule(Some("globex"), None).targets("initech", "pro"));
        assert!(rule(None, Some("pro")).targets("initech", "pro"));
        assert!(!rule(None, Some("pro")).targets("initech", "payg"));
        assert!(rule(None, None).targets("anyone", "any"));
    }
}
