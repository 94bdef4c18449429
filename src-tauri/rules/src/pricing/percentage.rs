//! A percentage of each event's amount (a payment, a transaction), with an
//! optional fixed fee per event and a minimum and maximum fee per event.

use rust_decimal::Decimal;

use super::{Priced, Step, StepKind, billable, non_negative, step};
use crate::Problem;
use crate::money::Dec;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Percentage {
    percent: Decimal,
    fixed_fee: Decimal,
    min_fee: Option<Decimal>,
    max_fee: Option<Decimal>,
}

impl Percentage {
    pub fn new(
        percent: Decimal,
        fixed_fee: Decimal,
        min_fee: Option<Decimal>,
        max_fee: Option<Decimal>,
    ) -> Result<Percentage, Vec<Problem>> {
        let mut problems = Vec::new();
        if percent.is_sign_negative() || percent > Decimal::ONE_HUNDRED {
            problems.push(Problem::new("percent", "must be from 0 to 100"));
        }
        non_negative("fixed_fee", fixed_fee, &mut problems);
        for (field, fee) in [("min_fee", min_fee), ("max_fee", max_fee)] {
            if let Some(fee) = fee {
                non_negative(field, fee, &mut problems);
            }
        }
        if let (Some(min), Some(max)) = (min_fee, max_fee)
            && min > max
        {
            problems.push(Problem::new("max_fee", "must not be below the minimum fee"));
        }
        if problems.is_empty() { Ok(Percentage { percent, fixed_fee, min_fee, max_fee }) } else { Err(problems) }
    }

    /// See [`super::PriceModel::bound`]: the amounts' share, and every event's
    /// fixed and minimum fee.
    pub(super) fn bound(&self, amounts: &[Decimal]) -> Option<Decimal> {
        let total = super::checked_sum(amounts.iter().map(|a| a.abs()))?;
        let per_event = self.fixed_fee.checked_add(self.min_fee.unwrap_or_default())?;
        let n = Decimal::from(amounts.len() as u64);
        total.checked_mul(self.percent)?.checked_add(n.checked_mul(per_event)?)?.checked_add(total)
    }

    /// Each event's fee is its amount × percent + the fixed fee, held between
    /// the minimum and maximum; the steps show the sum, the fixed fees and
    /// what the minimum added and the maximum took off.
    pub fn price(&self, amounts: &[Decimal]) -> Priced {
        let rate = self.percent / Decimal::ONE_HUNDRED;
        let (mut total, mut raised, mut capped) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let (mut raised_n, mut capped_n) = (0u64, 0u64);
        for &amount in amounts {
            let fee = billable(amount) * rate + self.fixed_fee;
            let held = self.max_fee.map_or(fee, |max| fee.min(max));
            let held = self.min_fee.map_or(held, |min| held.max(min));
            if held > fee {
                raised += held - fee;
                raised_n += 1;
            } else if held < fee {
                capped += fee - held;
                capped_n += 1;
            }
            total += billable(amount);
        }
        if amounts.is_empty() {
            return Priced::from_steps(Vec::new());
        }
        let n = Decimal::from(amounts.len() as u64);
        let mut steps = vec![step(
            StepKind::Percentage,
            format!("{}% of {} events' amounts", self.percent.normalize(), n),
            total,
            rate,
            Decimal::ZERO,
        )];
        if !self.fixed_fee.is_zero() {
            steps.push(step(StepKind::EventFee, "fixed fee per event", n, self.fixed_fee, Decimal::ZERO));
        }
        let adjustment = |label: String, count: u64, amount: Decimal| Step {
            kind: StepKind::EventLimit,
            label,
            quantity: Dec(Decimal::from(count)),
            unit_price: Dec(Decimal::ZERO),
            flat_fee: Dec(amount),
            amount: Dec(amount),
        };
        if raised_n > 0 {
            steps.push(adjustment(format!("raised to the minimum fee on {raised_n} events"), raised_n, raised));
        }
        if capped_n > 0 {
            steps.push(adjustment(format!("held to the maximum fee on {capped_n} events"), capped_n, -capped));
        }
        Priced::from_steps(steps)
    }
}
