//! Per unit: each unit beyond the included ones at one price.

use rust_decimal::Decimal;

use super::{Priced, StepKind, billable, non_negative, step};
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerUnit {
    unit_price: Decimal,
    included: Decimal,
}

impl PerUnit {
    pub fn new(unit_price: Decimal, included: Decimal) -> Result<PerUnit, Vec<Problem>> {
        let mut problems = Vec::new();
        non_negative("unit_price", unit_price, &mut problems);
        non_negative("included", included, &mut problems);
        if problems.is_empty() { Ok(PerUnit { unit_price, included }) } else { Err(problems) }
    }

    /// See [`super::PriceModel::bound`].
    pub(super) fn bound(&self, quantity: Decimal) -> Option<Decimal> {
        quantity.checked_mul(self.unit_price)
    }

    pub fn price(&self, quantity: Decimal) -> Priced {
        let quantity = billable(quantity);
        let mut steps = Vec::new();
        if !self.included.is_zero() && !quantity.is_zero() {
            steps.push(step(StepKind::Included, "included", quantity.min(self.included), Decimal::ZERO, Decimal::ZERO));
        }
        let charged = (quantity - self.included).max(Decimal::ZERO);
        if !charged.is_zero() {
            let label =
                if self.included.is_zero() { "every unit".to_string() } else { "beyond the included".to_string() };
            steps.push(step(StepKind::Units, label, charged, self.unit_price, Decimal::ZERO));
        }
        Priced::from_steps(steps)
    }
}
