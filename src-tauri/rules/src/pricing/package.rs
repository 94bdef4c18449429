//! Packages: the units beyond the free ones, in whole packages rounded up.

use rust_decimal::Decimal;

use super::{Priced, StepKind, billable, non_negative, step};
use crate::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    size: Decimal,
    price: Decimal,
    free: Decimal,
}

impl Package {
    pub fn new(size: Decimal, price: Decimal, free: Decimal) -> Result<Package, Vec<Problem>> {
        let mut problems = Vec::new();
        if size <= Decimal::ZERO {
            problems.push(Problem::new("package_size", "must be above zero"));
        }
        non_negative("package_price", price, &mut problems);
        non_negative("free", free, &mut problems);
        if problems.is_empty() { Ok(Package { size, price, free }) } else { Err(problems) }
    }

    /// See [`super::PriceModel::bound`]: whole packages of the quantity, and one more.
    pub(super) fn bound(&self, quantity: Decimal) -> Option<Decimal> {
        quantity.checked_div(self.size)?.checked_add(Decimal::ONE)?.checked_mul(self.price)
    }

    pub fn price(&self, quantity: Decimal) -> Priced {
        let quantity = billable(quantity);
        let mut steps = Vec::new();
        if !self.free.is_zero() && !quantity.is_zero() {
            steps.push(step(StepKind::Included, "free", quantity.min(self.free), Decimal::ZERO, Decimal::ZERO));
        }
        let charged = (quantity - self.free).max(Decimal::ZERO);
        if !charged.is_zero() {
            let packages = (charged / self.size).ceil();
            let label = format!("{} units in packages of {}", charged.normalize(), self.size.normalize());
            steps.push(step(StepKind::Package, label, packages, self.price, Decimal::ZERO));
        }
        Priced::from_steps(steps)
    }
}
