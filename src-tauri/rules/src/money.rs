//! Money and quantities: exact decimals, ISO 4217 currencies, and the one rounding rule.

use std::fmt;
use std::str::FromStr;

use iso_currency::IntoEnumIterator;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ts_rs::TS;

/// A decimal that crosses every boundary as a string ("54.29", "0.000002"):
/// JSON, SQLite TEXT and TypeScript. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, TS)]
pub struct Dec(#[ts(type = "string")] pub Decimal);

impl Dec {
    pub const ZERO: Dec = Dec(Decimal::ZERO);
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Decimal> for Dec {
    fn from(d: Decimal) -> Self {
        Dec(d)
    }
}

impl FromStr for Dec {
    type Err = String;

    /// Plain decimal notation only: `-12.50`, `0.000002`. No exponent, no spaces,
    /// no thousands separators: a pipeline's typo must not become a price.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let plain = !s.is_empty()
            && s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && s.chars().any(|c| c.is_ascii_digit());
        if !plain {
            return Err(format!("\"{s}\" is not a decimal number (write it like \"12.50\")"));
        }
        Decimal::from_str_exact(s)
            .map(Dec)
            .map_err(|_| format!("\"{s}\" is not a decimal number (write it like \"12.50\")"))
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Dec {
    /// Only strings: a JSON number would have passed through a float on the way.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Dec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal written as a string, such as \"0.20\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dec, E> {
                Dec::from_str(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// An ISO 4217 currency that can be billed in: it has minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency(iso_currency::Currency);

/// An amount too large to compute: what a computation that would pass
/// [`MAX_COMPUTED`] (or `Decimal`'s own range) returns instead of panicking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the amounts are too large to compute (past 10^24)")
    }
}

/// The most a draft's lines, discounts and tax may come to: 10^24, so that
/// sums of tens of thousands of invoices (a register, a report) stay far
/// below `Decimal`'s limit of about 7.9e28.
pub const MAX_COMPUTED: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(0xA100_0000, 0x1BCE_CCED, 0xD3C2, false, 0);

/// The largest amount one entry may carry (a grant, an adjustment): a
/// trillion units of any currency. Far above any real bill, and far enough
/// below `Decimal`'s limit (about 7.9e28) that sums of millions of entries
/// never overflow.
pub const MAX_ENTRY_AMOUNT: rust_decimal::Decimal = rust_decimal::Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

impl Currency {
    /// Parses an upper-case ISO 4217 code such as `USD`.
    pub fn parse(code: &str) -> Result<Currency, String> {
        let currency = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("\"{code}\" is not an ISO 4217 currency code (e.g. USD, EUR, JPY)"))?;
        match currency.exponent() {
            Some(_) => Ok(Currency(currency)),
            None => Err(format!("{code} has no minor units and cannot be billed in")),
        }
    }

    pub fn code(&self) -> String {
        self.0.code().to_string()
    }

    pub fn name(&self) -> String {
        self.0.name().to_string()
    }

    /// Digits after the decimal point: USD 2, JPY 0, KWD 3.
    pub fn minor_units(&self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(0))
    }

    /// The one rounding rule: half away from zero, to the currency's minor units.
    /// Used for invoice line amounts and tax amounts, and nowhere else.
    /// The result always carries exactly the minor units (2.5 USD is 2.50).
    pub fn round(&self, amount: Decimal) -> Decimal {
        let mut rounded = amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(self.minor_units());
        rounded
    }

    /// Every billable currency, sorted by code.
    pub fn all() -> Vec<Currency> {
        let mut all: Vec<Currency> =
            iso_currency::Currency::iter().filter(|c| c.exponent().is_some()).map(Currency).collect();
        all.sort_by_key(|c| c.0.code());
        all
    }
}

/// What amounts of one currency come to: the UI shows totals of what an
/// operator picked or filtered, never adding money itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct CurrencyTotal {
    pub currency: String,
    /// How many amounts were added.
    pub count: u32,
    pub total: Dec,
}

/// One amount in a currency (an element of what [`totals_by_currency`] adds).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
pub struct Amount {
    pub currency: String,
    pub amount: Dec,
}

/// The totals of `amounts` per currency, in currency order; never mixed.
pub fn totals_by_currency(amounts: &[Amount]) -> Vec<CurrencyTotal> {
    let mut by: std::collections::BTreeMap<&str, (u32, Decimal)> = std::collections::BTreeMap::new();
    for a in amounts {
        let entry = by.entry(a.currency.as_str()).or_insert((0, Decimal::ZERO));
        entry.0 += 1;
        entry.1 += a.amount.0;
    }
    by.into_iter()
        .map(|(currency, (count, total))| CurrencyTotal { currency: currency.to_string(), count, total: Dec(total) })
        .collect()
}

/// How far `after` moved from `before`, in percent of `before`, rounded to one
/// decimal half away from zero (what the editor's "on real usage" shows as
/// "+12.5 %"); none when `before` is zero (no base to compare with).
pub fn change_percent(before: Decimal, after: Decimal) -> Option<Decimal> {
    if before.is_zero() {
        return None;
    }
    let ratio = (after - before).checked_mul(Decimal::ONE_HUNDRED)?.checked_div(before.abs())?;
    let mut percent = ratio.round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    percent.rescale(1); // always one decimal: "0.0", "12.0"
    Some(percent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_change_in_percent_is_rounded_to_one_decimal_and_needs_a_base() {
        for (before, after, expected) in [
            (dec!(354.76), dec!(293.86), Some(dec!(-17.2))), // −60.90 / 354.76 = −17.166… %
            (dec!(100.00), dec!(112.50), Some(dec!(12.5))),
            (dec!(3.00), dec!(3.0015), Some(dec!(0.1))), // 0.05 % rounds half away from zero
            (dec!(3.00), dec!(2.9985), Some(dec!(-0.1))),
            (dec!(80.00), dec!(80.00), Some(dec!(0.0))),
            (dec!(-50.00), dec!(-25.00), Some(dec!(50.0))), // a credit shrinking is a rise
            (dec!(0.00), dec!(10.00), None),
        ] {
            let got = change_percent(before, after);
            assert_eq!(got, expected, "{before} → {after}");
            assert!(got.is_none_or(|p| p.scale() == 1), "{got:?} keeps one decimal");
        }
    }

    fn check_round(code: &str, amount: Decimal, expected: Decimal) {
        let currency = Currency::parse(code).unwrap();
        let got = currency.round(amount);
        assert_eq!(got, expected, "{code} round({amount})");
        assert_eq!(got.scale(), currency.minor_units(), "{code} round({amount}) keeps minor units");
    }

    #[test]
    fn rounding_is_half_away_from_zero_to_minor_units() {
        for (code, amount, expected) in [
            ("USD", dec!(0.125), dec!(0.13)),
            ("USD", dec!(-0.125), dec!(-0.13)),
            ("USD", dec!(0.135), dec!(0.14)),
            ("USD", dec!(2.5), dec!(2.50)),
            ("USD", dec!(0.124999999999), dec!(0.12)),
            ("USD", dec!(246.912), dec!(246.91)), // 20% of 1,234.56 (docs/billing.md tax example)
            ("USD", dec!(54.290322580645), dec!(54.29)), // 99 × 17/31
            ("USD", dec!(22.690), dec!(22.69)),
            ("EUR", dec!(0.005), dec!(0.01)),
            ("JPY", dec!(0.5), dec!(1)),
            ("JPY", dec!(-0.5), dec!(-1)),
            ("JPY", dec!(1234.4999), dec!(1234)),
            ("KWD", dec!(0.0005), dec!(0.001)),
            ("KWD", dec!(1.2344), dec!(1.234)),
        ] {
            check_round(code, amount, expected);
        }
    }

    #[test]
    fn design_tax_example_holds() {
        let usd = Currency::parse("USD").unwrap();
        let subtotal = dec!(1234.56);
        let tax = usd.round(subtotal * dec!(0.20));
        assert_eq!(tax, dec!(246.91));
        assert_eq!(subtotal + tax, dec!(1481.47));
    }

    #[test]
    fn design_proration_example_holds() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.round(dec!(99) * dec!(17) / dec!(31)), dec!(54.29));
    }

    #[test]
    fn currency_minor_units_follow_iso_4217() {
        for (code, units) in [("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3)] {
            assert_eq!(Currency::parse(code).unwrap().minor_units(), units, "{code}");
        }
    }

    #[test]
    fn unknown_or_unbillable_currencies_are_refused() {
        for code in ["usd", "XXX1", "", "ABC", "XAU"] {
            assert!(Currency::parse(code).is_err(), "{code} should be refused");
        }
    }

    #[test]
    fn dec_parses_plain_decimals_only() {
        for (input, ok) in [
            ("0.000002", true),
            ("-12.50", true),
            ("100", true),
            ("0.000000000001", true),
            ("1e5", false),
            ("1,000", false),
            (" 1", false),
            ("", false),
            ("-", false),
            (".", false),
            ("1.2.3", false),
            ("NaN", false),
        ] {
            assert_eq!(Dec::from_str(input).is_ok(), ok, "{input:?}");
        }
        assert_eq!(Dec::from_str("0.20").unwrap().to_string(), "0.20", "scale is kept");
    }

    #[test]
    fn dec_json_is_a_string_and_numbers_are_refused() {
        let d: Dec = serde_json::from_str("\"0.000002\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"0.000002\"");
        let err = serde_json::from_str::<Dec>("0.2").unwrap_err().to_string();
        assert!(err.contains("decimal written as a string"), "{err}");
    }

    #[test]
    fn totals_are_per_currency_never_mixed_and_exact() {
        let a = |c: &str, v: &str| Amount { currency: c.into(), amount: Dec(v.parse().unwrap()) };
        let totals = totals_by_currency(&[
            a("USD", "0.10"),
            a("EUR", "5"),
            a("USD", "0.20"),
            a("USD", "-0.05"),
            a("JPY", "100"),
        ]);
        let shown: Vec<(String, u32, String)> =
            totals.iter().map(|t| (t.currency.clone(), t.count, t.total.to_string())).collect();
        assert_eq!(
            shown,
            [("EUR".into(), 1, "5".into()), ("JPY".into(), 1, "100".into()), ("USD".into(), 3, "0.25".into())]
        );
        assert!(totals_by_currency(&[]).is_empty());
    }
}
