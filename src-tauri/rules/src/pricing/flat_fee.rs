//! A fixed fee per period, prorated by days for a partial period.

use rust_decimal::Decimal;

use super::Priced;
use super::{Step, StepKind};
use crate::money::Dec;

/// `amount` for `active_days` of a `period_days`-day period: amount × active ÷
/// period (multiplied first, so 99 × 17/31 is 54.2903…, rounded on the line).
pub fn prorate(amount: Decimal, active_days: u32, period_days: u32) -> Priced {
    let whole = active_days >= period_days || period_days == 0;
    let value = if whole { amount } else { amount * Decimal::from(active_days) / Decimal::from(period_days) };
    let label = if whole { "the whole period".to_string() } else { format!("{active_days} of {period_days} days") };
    let step = Step {
        kind: if whole { StepKind::FlatFee } else { StepKind::Proration },
        label,
        quantity: Dec(Decimal::from(active_days.min(period_days))),
        unit_price: Dec(amount),
        flat_fee: Dec(Decimal::ZERO),
        amount: Dec(value),
    };
    Priced { amount: Dec(value), steps: vec![step] }
}
