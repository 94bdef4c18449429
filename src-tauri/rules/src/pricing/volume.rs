//! Volume tiers: the tier the whole quantity falls in prices all of it, plus
//! its flat fee.

use rust_decimal::Decimal;

use super::{Priced, StepKind, Tiers, billable, step};

pub fn price(tiers: &Tiers, quantity: Decimal) -> Priced {
    let quantity = billable(quantity);
    if quantity.is_zero() {
        return Priced::from_steps(Vec::new());
    }
    let tier = tiers.tier_of(quantity);
    Priced::from_steps(vec![step(
        StepKind::Tier,
        format!("all units, {}", tier.label()),
        quantity,
        tier.unit_price,
        tier.flat_fee,
    )])
}
