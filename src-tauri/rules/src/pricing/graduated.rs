//! Graduated tiers: each tier prices the units that fall in it, plus its flat
//! fee when any unit does.

use rust_decimal::Decimal;

use super::{Priced, StepKind, Tiers, billable, step};

pub fn price(tiers: &Tiers, quantity: Decimal) -> Priced {
    let quantity = billable(quantity);
    let mut steps = Vec::new();
    for tier in tiers.tiers() {
        if quantity <= tier.from {
            break;
        }
        let units = tier.up_to.map_or(quantity, |to| quantity.min(to)) - tier.from;
        steps.push(step(StepKind::Tier, tier.label(), units, tier.unit_price, tier.flat_fee));
    }
    Priced::from_steps(steps)
}
