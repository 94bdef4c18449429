//! Price models: pure functions from a quantity (or, for a percentage, each
//! event's amount) to an amount with the breakdown that explains it. Nothing
//! here rounds: the invoice rounds each line once (docs/billing.md "Money").
//! A model is built from its fields by validation, so a priced model cannot
//! be malformed (tiers sorted, contiguous, last unbounded).

mod flat_fee;
mod graduated;
mod package;
mod per_unit;
mod percentage;
mod tiers;
mod volume;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::money::{Dec, Overflow};

pub use flat_fee::prorate;
pub use package::Package;
pub use per_unit::PerUnit;
pub use percentage::Percentage;
pub use tiers::{TierFields, Tiers};

/// A price model as written in a catalog or the plan editor: not yet
/// validated. Tagged by `model`; the plan editor's TypeScript is generated
/// from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "model", rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub enum PriceFields {
    PerUnit {
        unit_price: Dec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        included: Option<Dec>,
    },
    Graduated {
        tiers: Vec<TierFields>,
    },
    Volume {
        tiers: Vec<TierFields>,
    },
    Package {
        package_size: Dec,
        package_price: Dec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        free: Option<Dec>,
    },
    Percentage {
        /// Percent of each event's amount: "2.9" is 2.9%.
        percent: Dec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        fixed_fee: Option<Dec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        min_fee: Option<Dec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        max_fee: Option<Dec>,
    },
}

/// A validated price model; matched exhaustively wherever it is priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceModel {
    PerUnit(PerUnit),
    Graduated(Tiers),
    Volume(Tiers),
    Package(Package),
    Percentage(Percentage),
}

/// What a step of a price's arithmetic is. The PDF, the console and the CLI
/// decide how to show a step from this, never from its label (which is
/// words for a person and may change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Units inside one tier of a graduated price, or all units at the tier a
    /// volume price picked.
    Tier,
    /// Units a price includes at no charge (per unit's included, package's free).
    Included,
    /// Units at one unit price (per unit, every unit or beyond the included).
    Units,
    /// Whole packages at the package price.
    Package,
    /// A percentage of the events' amounts.
    Percentage,
    /// The fixed fee of each event (percentage price).
    EventFee,
    /// The per-event minimum or maximum fee applied (an adjustment).
    EventLimit,
    /// A fee for the whole period.
    FlatFee,
    /// A fee (or commitment) for part of a period, prorated by days.
    Proration,
    /// The true-up to the minimum commitment.
    Commitment,
    /// A discount taken off.
    Discount,
    /// What a spend cap took off: a charge held at its maximum, or the usage
    /// of a period above the plan's (or subscription's) maximum.
    Cap,
    /// A late-usage adjustment: the line as the period re-rates with the late
    /// events.
    Rerated,
    /// A late-usage adjustment: what earlier invoices of the period billed for
    /// the line, taken off.
    BilledBefore,
}

impl StepKind {
    /// The kind of a step stored without one: invoices finalized before
    /// steps carried their kind. Read from the labels those versions wrote,
    /// which never change now that they are frozen; used for nothing else.
    pub fn of_legacy_label(label: &str, flat_fee: Decimal) -> StepKind {
        let tier = label.starts_with("up to ")
            || label.starts_with("over ")
            || label == "every unit" && !flat_fee.is_zero()
            || label.starts_with("all units, ");
        match label {
            _ if tier => StepKind::Tier,
            "included" | "free" => StepKind::Included,
            "every unit" | "beyond the included" => StepKind::Units,
            "fixed fee per event" => StepKind::EventFee,
            "the whole period" => StepKind::FlatFee,
            _ if label.contains(" units in packages of ") => StepKind::Package,
            _ if label.contains("% of ") && label.ends_with(" events' amounts") => StepKind::Percentage,
            _ if label.starts_with("raised to the minimum fee") || label.starts_with("held to the maximum fee") => {
                StepKind::EventLimit
            }
            _ if label.contains(" of ") && label.ends_with(" days") => StepKind::Proration,
            _ if label.starts_with("minimum commitment ") => StepKind::Commitment,
            _ => StepKind::Discount,
        }
    }
}

/// One step of a price's arithmetic, shown under its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Step {
    /// What this step is.
    pub kind: StepKind,
    /// The step in words: "up to 10", "included", "3 units in packages of 10".
    pub label: String,
    pub quantity: Dec,
    pub unit_price: Dec,
    pub flat_fee: Dec,
    /// quantity × unit price + flat fee, unrounded.
    pub amount: Dec,
}

/// An amount and the steps that make it; `amount` is the sum of the steps' amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Priced {
    pub amount: Dec,
    pub steps: Vec<Step>,
}

impl Priced {
    fn from_steps(steps: Vec<Step>) -> Priced {
        let amount = steps.iter().map(|s| s.amount.0).sum::<Decimal>();
        Priced { amount: Dec(amount), steps }
    }
}

/// A step as stored, before its kind was: see [`StepKind::of_legacy_label`].
#[derive(Deserialize)]
struct StoredStep {
    kind: Option<StepKind>,
    label: String,
    quantity: Dec,
    unit_price: Dec,
    flat_fee: Dec,
    amount: Dec,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Step, D::Error> {
        let s = StoredStep::deserialize(d)?;
        let kind = s.kind.unwrap_or_else(|| StepKind::of_legacy_label(&s.label, s.flat_fee.0));
        Ok(Step {
            kind,
            label: s.label,
            quantity: s.quantity,
            unit_price: s.unit_price,
            flat_fee: s.flat_fee,
            amount: s.amount,
        })
    }
}

fn step(kind: StepKind, label: impl Into<String>, quantity: Decimal, unit_price: Decimal, flat_fee: Decimal) -> Step {
    Step {
        kind,
        label: label.into(),
        quantity: Dec(quantity),
        unit_price: Dec(unit_price),
        flat_fee: Dec(flat_fee),
        amount: Dec(quantity * unit_price + flat_fee),
    }
}

/// A quantity for pricing: negative usage (refunds) prices as nothing.
/// The sum, or none when it would overflow.
pub fn checked_sum(values: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    values.into_iter().try_fold(Decimal::ZERO, |sum, v| sum.checked_add(v))
}

fn billable(quantity: Decimal) -> Decimal {
    quantity.max(Decimal::ZERO)
}

/// A price, fee or size: not negative.
pub fn non_negative(field: &str, value: Decimal, problems: &mut Vec<Problem>) {
    if value.is_sign_negative() && !value.is_zero() {
        problems.push(Problem::new(field, "must not be negative"));
    }
}

/// A spend cap (`maximum`) is more than zero: a cap of nothing would bill nothing.
pub fn positive_maximum(field: &str, value: Decimal, problems: &mut Vec<Problem>) {
    if value <= Decimal::ZERO {
        problems.push(Problem::new(field, "a maximum must be more than 0 (leave it out for no cap)"));
    }
}

impl PriceFields {
    /// Validates the fields; problems are keyed by field name (`tiers[1].up_to`).
    pub fn validate(&self) -> Result<PriceModel, Vec<Problem>> {
        match self {
            PriceFields::PerUnit { unit_price, included } => {
                PerUnit::new(unit_price.0, included.map_or(Decimal::ZERO, |d| d.0)).map(PriceModel::PerUnit)
            }
            PriceFields::Graduated { tiers } => Tiers::new(tiers).map(PriceModel::Graduated),
            PriceFields::Volume { tiers } => Tiers::new(tiers).map(PriceModel::Volume),
            PriceFields::Package { package_size, package_price, free } => {
                Package::new(package_size.0, package_price.0, free.map_or(Decimal::ZERO, |d| d.0))
                    .map(PriceModel::Package)
            }
            PriceFields::Percentage { percent, fixed_fee, min_fee, max_fee } => Percentage::new(
                percent.0,
                fixed_fee.map_or(Decimal::ZERO, |d| d.0),
                min_fee.map(|d| d.0),
                max_fee.map(|d| d.0),
            )
            .map(PriceModel::Percentage),
        }
    }
}

impl PriceFields {
    /// Reads price fields from JSON (a subscription's override, the editor),
    /// naming the field of a type error. (serde buffers a tagged enum, so its
    /// own error carries no path: each known field is checked on its own.)
    pub fn from_json(value: serde_json::Value) -> Result<PriceFields, Problem> {
        let whole = serde_json::from_value::<PriceFields>(value.clone());
        let message = match whole {
            Ok(fields) => return Ok(fields),
            Err(e) => e.to_string(),
        };
        if let serde_json::Value::Object(map) = &value {
            for (key, v) in map {
                let problem = match key.as_str() {
                    "tiers" => serde_path_to_error::deserialize::<_, Vec<TierFields>>(v.clone())
                        .err()
                        .map(|e| (format!("tiers{}", e.path()).replace("tiers.", "tiers"), e.into_inner().to_string())),
                    "unit_price" | "included" | "package_size" | "package_price" | "free" | "percent" | "fixed_fee"
                    | "min_fee" | "max_fee" => {
                        serde_json::from_value::<Option<Dec>>(v.clone()).err().map(|e| (key.clone(), e.to_string()))
                    }
                    _ => None,
                };
                if let Some((path, message)) = problem {
                    return Err(Problem::new(path, message));
                }
            }
        }
        // A missing or unknown field is named only in the message.
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p)?.split('`').next().map(str::to_string));
        Err(Problem::new(named.unwrap_or_else(|| "model".to_string()), message))
    }
}

/// A quantity priced, with the amount an invoice line would show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Quote {
    pub quantity: Dec,
    /// Rounded once to the currency's minor units.
    pub amount: Dec,
    pub priced: Priced,
}

impl PriceModel {
    /// Prices a quantity. A percentage prices each event's amount instead:
    /// given only their sum, it treats it as one event.
    pub fn price(&self, quantity: Decimal) -> Priced {
        match self {
            PriceModel::PerUnit(m) => m.price(quantity),
            PriceModel::Graduated(t) => graduated::price(t, quantity),
            PriceModel::Volume(t) => volume::price(t, quantity),
            PriceModel::Package(m) => m.price(quantity),
            PriceModel::Percentage(m) => m.price(&[quantity]),
        }
    }

    /// At least the amount of any step or sum [`PriceModel::price`] computes
    /// for `quantity`, computed without overflowing; `Overflow` when it would.
    /// Under it (and at most [`crate::money::MAX_COMPUTED`]) pricing cannot overflow.
    pub fn bound(&self, quantity: Decimal) -> Result<Decimal, Overflow> {
        let q = billable(quantity);
        let bound = match self {
            PriceModel::PerUnit(m) => m.bound(q),
            PriceModel::Graduated(t) | PriceModel::Volume(t) => t.bound(q),
            PriceModel::Package(m) => m.bound(q),
            PriceModel::Percentage(m) => m.bound(&[q]),
        };
        bound.filter(|b| *b <= crate::money::MAX_COMPUTED).ok_or(Overflow)
    }

    /// [`PriceModel::bound`] for [`PriceModel::price_events`].
    pub fn bound_events(&self, amounts: &[Decimal]) -> Result<Decimal, Overflow> {
        match self {
            PriceModel::Percentage(m) => m.bound(amounts).filter(|b| *b <= crate::money::MAX_COMPUTED).ok_or(Overflow),
            _ => self.bound(checked_sum(amounts.iter().copied()).ok_or(Overflow)?),
        }
    }

    /// Prices the events' amounts one by one where the model cares (a
    /// percentage with per-event fees, minimum or maximum); otherwise their sum.
    pub fn price_events(&self, amounts: &[Decimal]) -> Priced {
        match self {
            PriceModel::Percentage(m) => m.price(amounts),
            PriceModel::PerUnit(_) | PriceModel::Graduated(_) | PriceModel::Volume(_) | PriceModel::Package(_) => {
                self.price(amounts.iter().sum())
            }
        }
    }
}

#[cfg(test)]
mod tests;
