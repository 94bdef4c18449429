//! The price models (the `meterdesk-rules` crate's `pricing`) and the quote the
//! plan editor asks for, with the engine's errors.

use rust_decimal::Decimal;

pub use meterdesk_rules::pricing::*;

use crate::error::{Error, Result};
use crate::money::{Currency, Dec};

/// Prices each quantity with a price as the editor sends it (JSON): for the
/// calculator and the curve of a charge. Problems keyed by field.
pub fn quote(price: serde_json::Value, currency: &Currency, quantities: &[Decimal]) -> Result<Vec<Quote>> {
    let fields = PriceFields::from_json(price).map_err(|p| Error::Invalid(vec![p]))?;
    let model = fields.validate().map_err(Error::Invalid)?;
    quantities
        .iter()
        .map(|q| {
            model.bound(*q).map_err(|why| Error::Overflow(format!("a quantity of {q}: {why}")))?;
            let priced = model.price(*q);
            Ok(Quote { quantity: Dec(*q), amount: Dec(currency.round(priced.amount.0)), priced })
        })
        .collect()
}
