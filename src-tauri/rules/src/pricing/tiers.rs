//! Tiers, validated once: sorted, contiguous from zero, the last unbounded.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::non_negative;
use crate::Problem;
use crate::money::Dec;

/// A tier as written: units up to `up_to` (inclusive; null for the last), a
/// unit price, and a flat fee charged when any unit falls in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TierFields {
    pub up_to: Option<Dec>,
    pub unit_price: Dec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub flat_fee: Option<Dec>,
}

/// One validated tier: the units above `from` up to `up_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub from: Decimal,
    pub up_to: Option<Decimal>,
    pub unit_price: Decimal,
    pub flat_fee: Decimal,
}

impl Tier {
    /// "up to 10", "over 10 up to 20", "over 20".
    pub fn label(&self) -> String {
        match (self.from.is_zero(), self.up_to) {
            (true, Some(to)) => format!("up to {}", to.normalize()),
            (false, Some(to)) => format!("over {} up to {}", self.from.normalize(), to.normalize()),
            (_, None) if self.from.is_zero() => "every unit".to_string(),
            (_, None) => format!("over {}", self.from.normalize()),
        }
    }
}

impl Tiers {
    /// See [`super::PriceModel::bound`]: the quantity at the highest unit
    /// price, every flat fee, and the quantity itself (the tiers' units).
    pub(super) fn bound(&self, quantity: Decimal) -> Option<Decimal> {
        let price = self.0.iter().map(|t| t.unit_price).max().unwrap_or_default();
        let fees = super::checked_sum(self.0.iter().map(|t| t.flat_fee))?;
        let top = self.0.iter().filter_map(|t| t.up_to).max().unwrap_or_default();
        quantity.max(top).checked_mul(price)?.checked_add(fees)?.checked_add(quantity.max(top))
    }
}

/// Tiers that cannot be wrong: at least one, bounds strictly rising from above
/// zero, every tier bounded but the last, no negative price or fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tiers(Vec<Tier>);

impl Tiers {
    pub fn new(fields: &[TierFields]) -> Result<Tiers, Vec<Problem>> {
        let mut problems = Vec::new();
        if fields.is_empty() {
            problems.push(Problem::new("tiers", "at least one tier is needed"));
        }
        let mut tiers = Vec::with_capacity(fields.len());
        let mut from = Decimal::ZERO;
        for (i, t) in fields.iter().enumerate() {
            let at = |f: &str| format!("tiers[{i}].{f}");
            let last = i + 1 == fields.len();
            match (t.up_to, last) {
                (Some(_), true) => problems.push(Problem::new(at("up_to"), "the last tier has no upper bound (null)")),
                (None, false) => problems.push(Problem::new(at("up_to"), "only the last tier may be unbounded")),
                (Some(up_to), false) if up_to.0 <= from => problems.push(Problem::new(
                    at("up_to"),
                    format!("must be above {} (the previous bound)", from.normalize()),
                )),
                _ => {}
            }
            non_negative(&at("unit_price"), t.unit_price.0, &mut problems);
            let flat_fee = t.flat_fee.map_or(Decimal::ZERO, |d| d.0);
            non_negative(&at("flat_fee"), flat_fee, &mut problems);
            let up_to = t.up_to.map(|d| d.0);
            tiers.push(Tier { from, up_to, unit_price: t.unit_price.0, flat_fee });
            if let Some(up_to) = up_to {
                from = from.max(up_to);
            }
        }
        if problems.is_empty() { Ok(Tiers(tiers)) } else { Err(problems) }
    }

    pub fn tiers(&self) -> &[Tier] {
        &self.0
    }

    /// The tier a quantity falls in (a quantity of 0 falls in the first).
    pub fn tier_of(&self, quantity: Decimal) -> &Tier {
        self.0.iter().find(|t| t.up_to.is_none_or(|to| quantity <= to)).expect("the last tier is unbounded")
    }
}
