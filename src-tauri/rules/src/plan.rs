//! Plans as defined: a currency, an interval, fixed fees with their timing,
//! charges (a meter, optionally one of its groups, and a price) and an
//! optional minimum commitment. `PlanFields` (a catalog entry or the plan
//! editor) → `validate` (against the meters it may charge) → `ValidPlan`.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::money::{Currency, Dec};
use crate::period::Interval;
use crate::pricing::{PriceFields, PriceModel, non_negative, positive_maximum};
use crate::text::{MAX_TEXT_CHARS, code_problem, required_text_problem};

/// When a fixed fee may be billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// With the period's invoice, or alone at the period's start.
    Advance,
    /// Only with the period's invoice.
    Arrears,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct FeeFields {
    pub name: String,
    pub amount: Dec,
    pub timing: Timing,
}

/// A charge: a meter (one of its groups, or all), priced by a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ChargeFields {
    pub meter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub group: Option<String>,
    #[serde(flatten)]
    pub price: PriceFields,
    /// The most the charge may come to in a period (docs/billing.md "Spend caps").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub maximum: Option<Dec>,
}

/// Read by hand so that a bad price names its field: serde's flattened,
/// tagged enum would only name the charge. An error reads "field: reason"
/// (the catalog turns the field into its JSON path).
impl<'de> Deserialize<'de> for ChargeFields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let text = |v: serde_json::Value, field: &str| match v {
            serde_json::Value::String(s) => Ok(s),
            other => Err(D::Error::custom(format!("{field}: expected a string, found {other}"))),
        };
        let meter = text(map.remove("meter").ok_or_else(|| D::Error::missing_field("meter"))?, "meter")?;
        let group = match map.remove("group") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(text(v, "group")?),
        };
        let maximum = match map.remove("maximum") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(serde_json::from_value::<Dec>(v).map_err(|e| D::Error::custom(format!("maximum: {e}")))?),
        };
        let price = PriceFields::from_json(serde_json::Value::Object(map))
            .map_err(|p| D::Error::custom(format!("{}: {}", p.path, p.message)))?;
        Ok(ChargeFields { meter, group, price, maximum })
    }
}

/// A plan as written in a catalog or the plan editor: not yet validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PlanFields {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub interval: Interval,
    #[serde(default)]
    pub fees: Vec<FeeFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub minimum_commitment: Option<Dec>,
    #[serde(default)]
    pub charges: Vec<ChargeFields>,
    /// The spend cap: the most the usage lines (with the true-up) may come to
    /// in a period, prorated like the commitment (docs/billing.md "Spend caps").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub maximum: Option<Dec>,
}

/// A validated charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCharge {
    pub meter: String,
    pub group: Option<String>,
    pub model: PriceModel,
    pub maximum: Option<rust_decimal::Decimal>,
}

/// A plan that passed validation; `fields` is what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPlan {
    pub fields: PlanFields,
    pub currency: Currency,
    pub charges: Vec<ValidCharge>,
}

impl PlanFields {
    /// Validates the plan against the meters it may charge (code → whether it
    /// is grouped); problems are keyed by field path (`charges[1].tiers[0].up_to`).
    pub fn validate(&self, meters: &HashMap<String, bool>) -> std::result::Result<ValidPlan, Vec<Problem>> {
        let mut problems = Vec::new();
        let code = self.code.trim();
        problems.extend(code_problem("the plan code", code, "pro"));
        problems.extend(required_text_problem("name", "the plan name", &self.name, MAX_TEXT_CHARS));
        let currency = Currency::parse(self.currency.trim());
        if let Err(message) = &currency {
            problems.push(Problem::new("currency", message.clone()));
        }
        for (i, fee) in self.fees.iter().enumerate() {
            problems.extend(required_text_problem(
                &format!("fees[{i}].name"),
                "the fee's name",
                &fee.name,
                MAX_TEXT_CHARS,
            ));
            non_negative(&format!("fees[{i}].amount"), fee.amount.0, &mut problems);
        }
        if let Some(c) = self.minimum_commitment {
            non_negative("minimum_commitment", c.0, &mut problems);
        }
        if let Some(m) = self.maximum {
            positive_maximum("maximum", m.0, &mut problems);
            if let Some(c) = self.minimum_commitment
                && c.0 > m.0
            {
                problems.push(Problem::new(
                    "maximum",
                    format!(
                        "the maximum {m} is below the minimum commitment {c}: the commitment could never be billed"
                    ),
                ));
            }
        }
        let mut charges = Vec::with_capacity(self.charges.len());
        let mut seen: HashSet<(&str, Option<&str>)> = HashSet::new();
        for (i, charge) in self.charges.iter().enumerate() {
            let at = |f: &str| format!("charges[{i}].{f}");
            match meters.get(charge.meter.as_str()) {
                None => problems.push(Problem::new(at("meter"), format!("no meter with code \"{}\"", charge.meter))),
                Some(false) if charge.group.is_some() => {
                    problems.push(Problem::new(at("group"), format!("meter \"{}\" is not grouped", charge.meter)))
                }
                Some(_) => {}
            }
            if !seen.insert((charge.meter.as_str(), charge.group.as_deref())) {
                problems.push(Problem::new(at("meter"), "this meter (and group) is charged twice"));
            }
            if let Some(m) = charge.maximum {
                positive_maximum(&at("maximum"), m.0, &mut problems);
            }
            match charge.price.validate() {
                Ok(model) => charges.push(ValidCharge {
                    meter: charge.meter.clone(),
                    group: charge.group.clone(),
                    model,
                    maximum: charge.maximum.map(|m| m.0),
                }),
                Err(ps) => problems.extend(ps.into_iter().map(|p| Problem::new(at(&p.path), p.message))),
            }
        }
        match currency {
            Ok(currency) if problems.is_empty() => {
                let mut fields = self.clone();
                fields.code = code.to_string();
                fields.currency = currency.code();
                Ok(ValidPlan { fields, currency, charges })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(plan: serde_json::Value) -> Vec<String> {
        let meters = HashMap::from([("tokens".to_string(), true), ("calls".to_string(), false)]);
        let fields: PlanFields = serde_json::from_value(plan).unwrap();
        match fields.validate(&meters) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| p.path).collect(),
        }
    }

    #[test]
    fn a_plan_names_every_problem_by_its_path() {
        let good = json!({ "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
            "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
            "minimum_commitment": "500.00", "maximum": "2000.00",
            "charges": [ { "meter": "tokens", "group": "gpt-4o", "model": "graduated", "maximum": "1000.00",
                           "tiers": [ { "up_to": "1000000", "unit_price": "0.000005" }, { "up_to": null, "unit_price": "0.000004" } ] },
                         { "meter": "calls", "model": "per_unit", "unit_price": "0.001", "included": "10000" } ] });
        assert_eq!(paths(good), Vec::<String>::new());
        let bad = json!({ "code": "Pro Plan", "name": " ", "currency": "DOLLAR", "interval": "month",
            "fees": [ { "name": "", "amount": "-1", "timing": "arrears" } ],
            "minimum_commitment": "-5", "maximum": "0",
            "charges": [ { "meter": "nope", "model": "per_unit", "unit_price": "1", "maximum": "-1" },
                         { "meter": "calls", "group": "eu", "model": "per_unit", "unit_price": "1" },
                         { "meter": "tokens", "model": "per_unit", "unit_price": "1" },
                         { "meter": "tokens", "model": "volume", "tiers": [] } ] });
        assert_eq!(
            paths(bad),
            [
                "code",
                "name",
                "currency",
                "fees[0].name",
                "fees[0].amount",
                "minimum_commitment",
                "maximum",
                "charges[0].meter",
                "charges[0].maximum",
                "charges[1].group",
                "charges[3].meter",
                "charges[3].tiers",
            ]
        );
        let below = json!({ "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
            "minimum_commitment": "500.00", "maximum": "400.00" });
        assert_eq!(paths(below), ["maximum"]);
    }
}
