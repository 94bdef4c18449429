//! The company's payment details, printed on every invoice: who to pay (the
//! payee) and where, an IBAN (with its BIC) or an account and routing number,
//! and a note; the reference to quote is always the invoice's number
//! (docs/billing.md "Payment details").

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Problem;
use crate::money::{Currency, Dec};

/// Where customers pay. Field problems are keyed `payment.<field>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PaymentDetails {
    /// The account holder's name, as the bank knows it.
    pub payee: String,
    /// An International Bank Account Number; stored without spaces, in capitals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub iban: Option<String>,
    /// The bank's BIC (SWIFT code), 8 or 11 characters; only with an IBAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bic: Option<String>,
    /// A domestic account number (with `routing_number`), instead of an IBAN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub account_number: Option<String>,
    /// A US ABA routing number: 9 digits with their check digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub routing_number: Option<String>,
    /// Anything else the customer needs to pay (a bank's name, a card link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

fn compact(v: Option<String>) -> Option<String> {
    v.map(|s| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
}

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl PaymentDetails {
    /// Trims the text; an IBAN, BIC and numbers lose their spaces (and
    /// hyphens, for numbers) and read in capitals.
    pub fn normalized(self) -> PaymentDetails {
        let digits = |v: Option<String>| compact(v).map(|s| s.replace('-', ""));
        PaymentDetails {
            payee: self.payee.trim().to_string(),
            iban: compact(self.iban),
            bic: compact(self.bic),
            account_number: digits(self.account_number),
            routing_number: digits(self.routing_number),
            note: trimmed(self.note),
        }
    }

    /// Every problem, keyed `payment.<field>` (run on normalized details).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let at = |f: &str| format!("payment.{f}");
        if self.payee.is_empty() {
            out.push(Problem::new(at("payee"), "say who the customer pays (the account holder's name)"));
        } else if self.payee.chars().count() > 140 {
            out.push(Problem::new(at("payee"), "at most 140 characters"));
        }
        match (&self.iban, &self.account_number, &self.routing_number) {
            (None, None, None) => out.push(Problem::new(
                at("iban"),
                "give an IBAN, or an account number with its routing number, for customers to pay into",
            )),
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => out.push(Problem::new(
                at("account_number"),
                "an IBAN or an account and routing number, not both: invoices print one account",
            )),
            (None, Some(_), None) => {
                out.push(Problem::new(at("routing_number"), "an account number needs its routing number"))
            }
            (None, None, Some(_)) => {
                out.push(Problem::new(at("account_number"), "a routing number needs its account number"))
            }
            _ => {}
        }
        if let Some(iban) = &self.iban
            && let Some(why) = iban_problem(iban)
        {
            out.push(Problem::new(at("iban"), why));
        }
        if let Some(bic) = &self.bic {
            if self.iban.is_none() {
                out.push(Problem::new(at("bic"), "a BIC goes with an IBAN"));
            } else if let Some(why) = bic_problem(bic) {
                out.push(Problem::new(at("bic"), why));
            }
        }
        if let Some(n) = &self.account_number
            && (!(4..=17).contains(&n.len()) || !n.bytes().all(|b| b.is_ascii_digit()))
        {
            out.push(Problem::new(at("account_number"), format!("\"{n}\" is not an account number: 4 to 17 digits")));
        }
        if let Some(r) = &self.routing_number
            && let Some(why) = routing_problem(r)
        {
            out.push(Problem::new(at("routing_number"), why));
        }
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 200) {
            out.push(Problem::new(at("note"), "at most 200 characters"));
        }
        out
    }

    /// The IBAN as printed: groups of four ("DE89 3704 0044 0532 0130 00").
    pub fn iban_grouped(&self) -> Option<String> {
        self.iban.as_ref().map(|i| {
            i.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
        })
    }

    /// The lines an invoice prints, for the invoice `number`.
    pub fn lines(&self, number: &str) -> Vec<String> {
        let mut out = vec![format!("Payee: {}", self.payee)];
        if let Some(iban) = self.iban_grouped() {
            out.push(format!("IBAN: {iban}"));
        }
        if let Some(bic) = &self.bic {
            out.push(format!("BIC: {bic}"));
        }
        if let (Some(account), Some(routing)) = (&self.account_number, &self.routing_number) {
            out.push(format!("Account number: {account}, routing number: {routing}"));
        }
        out.push(format!("Reference: {number}"));
        if let Some(note) = &self.note {
            out.push(note.clone());
        }
        out
    }

    /// The text of a SEPA credit-transfer QR code (EPC069-12, version 002,
    /// UTF-8) asking for `amount` in `currency` with the invoice `number` as
    /// the remittance text; none when the code does not apply: not EUR, no
    /// IBAN, or an amount outside 0.01 … 999,999,999.99
    /// (docs/billing.md "Payments, reminders and sending").
    pub fn sepa_qr(&self, amount: Decimal, currency: &str, number: &str) -> Option<String> {
        let iban = self.iban.as_ref()?;
        let amount = amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let in_range = amount >= Decimal::new(1, 2) && amount <= Decimal::new(99_999_999_999, 2);
        if currency != "EUR" || !in_range {
            return None;
        }
        // The standard allows 70 characters of name and 140 of remittance text.
        let name: String = self.payee.chars().filter(|c| !c.is_control()).take(70).collect();
        let remittance: String = number.chars().take(140).collect();
        let fields = [
            "BCD",
            "002",
            "1",
            "SCT",
            self.bic.as_deref().unwrap_or(""),
            &name,
            iban,
            &format!("EUR{amount:.2}"),
            "",
            "",
            &remittance,
        ];
        Some(fields.join("\n"))
    }
}

/// Why `iban` (compact, capitals) is not an IBAN: length, characters or its
/// check digits (ISO 13616: the number moved and read as digits is 1 mod 97).
pub fn iban_problem(iban: &str) -> Option<String> {
    let bytes = iban.as_bytes();
    let shape = (15..=34).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit)
        && bytes.iter().all(u8::is_ascii_alphanumeric);
    if !shape {
        return Some(format!(
            "\"{iban}\" is not an IBAN: a country code, two check digits and up to 30 letters or digits (e.g. DE89 3704 0044 0532 0130 00)"
        ));
    }
    let mut remainder: u32 = 0;
    for &b in bytes[4..].iter().chain(&bytes[..4]) {
        let value = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    (remainder != 1).then(|| format!("\"{iban}\" has wrong check digits: a character is mistyped"))
}

/// Why `bic` is not a BIC: 4 letters (bank), 2 (country), 2 letters or digits
/// (place), and optionally 3 more (branch).
pub fn bic_problem(bic: &str) -> Option<String> {
    let b = bic.as_bytes();
    let ok = (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..].iter().all(u8::is_ascii_alphanumeric);
    (!ok).then(|| format!("\"{bic}\" is not a BIC: 8 or 11 letters and digits (e.g. COBADEFFXXX)"))
}

/// Why `routing` is not an ABA routing number: 9 digits whose weighted sum
/// (3, 7, 1, repeated) is a multiple of 10.
pub fn routing_problem(routing: &str) -> Option<String> {
    let digits: Vec<u32> = routing.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 9 || routing.len() != 9 {
        return Some(format!("\"{routing}\" is not a routing number: 9 digits"));
    }
    let sum: u32 = digits.iter().zip([3, 7, 1].iter().cycle()).map(|(d, w)| d * w).sum();
    (!sum.is_multiple_of(10)).then(|| format!("\"{routing}\" has a wrong check digit: a digit is mistyped"))
}

/// How a payment came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    BankTransfer,
    Card,
    Cash,
    Other,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::BankTransfer, Method::Card, Method::Cash, Method::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::BankTransfer => "bank_transfer",
            Method::Card => "card",
            Method::Cash => "cash",
            Method::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == text.trim())
    }

    /// As a sentence says it ("by bank transfer").
    pub fn words(self) -> &'static str {
        match self {
            Method::BankTransfer => "bank transfer",
            Method::Card => "card",
            Method::Cash => "cash",
            Method::Other => "other means",
        }
    }
}

/// A payment of an invoice as it is typed (a form, the command line),
/// checked by [`PaymentFields::validate`] against what the invoice still asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PaymentFields {
    /// In the invoice's currency.
    pub amount: String,
    /// The day the money came in, YYYY-MM-DD.
    pub date: String,
    /// `bank_transfer`, `card`, `cash` or `other`.
    pub method: String,
    /// The bank transfer's reference, a receipt or card slip number.
    pub reference: String,
}

/// A payment that can be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPayment {
    pub amount: Decimal,
    pub date: NaiveDate,
    pub method: Method,
    pub reference: String,
}

/// A payment as recorded, with its reversal's reason once reversed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct PaymentRecord {
    pub id: i64,
    pub amount: Dec,
    #[ts(type = "string")]
    pub date: NaiveDate,
    pub method: Method,
    pub reference: String,
    /// Why it was reversed; none while it stands.
    pub reversed: Option<String>,
}

/// What the payments that stand (not reversed) came to.
pub fn standing_total(payments: &[PaymentRecord]) -> Decimal {
    payments.iter().filter(|p| p.reversed.is_none()).map(|p| p.amount.0).sum()
}

impl PaymentFields {
    /// Checks a payment of an invoice in `currency`, issued on `issued`, that
    /// still asks for `owed` (docs/billing.md "Payments, reminders and sending"):
    /// above zero, in the currency's minor units, at most what is owed, not
    /// before the issue date, a known method and a reference. Every wrong
    /// field is named.
    pub fn validate(
        &self,
        currency: &Currency,
        owed: Decimal,
        issued: NaiveDate,
    ) -> Result<ValidPayment, Vec<Problem>> {
        let mut problems = Vec::new();
        let code = currency.code();
        let amount = match self.amount.trim().parse::<Dec>() {
            Err(_) => {
                problems
                    .push(Problem::new("amount", format!("\"{}\" is not an amount (e.g. 500.00)", self.amount.trim())));
                None
            }
            Ok(Dec(a)) if a <= Decimal::ZERO => {
                problems.push(Problem::new("amount", "a payment is more than zero"));
                None
            }
            Ok(Dec(a)) if a.normalize().scale() > currency.minor_units() => {
                problems.push(Problem::new(
                    "amount",
                    format!("{a} has more decimals than {code} has ({})", currency.minor_units()),
                ));
                None
            }
            Ok(Dec(_)) if owed <= Decimal::ZERO => {
                problems.push(Problem::new("amount", "nothing is owed on this invoice"));
                None
            }
            Ok(Dec(a)) if a > owed => {
                problems.push(Problem::new(
                    "amount",
                    format!("{} {code} is more than the {} {code} still owed", currency.round(a), currency.round(owed)),
                ));
                None
            }
            Ok(Dec(a)) => Some(currency.round(a)),
        };
        let date = match NaiveDate::parse_from_str(self.date.trim(), "%Y-%m-%d") {
            Err(_) => {
                problems.push(Problem::new("date", format!("\"{}\" is not a date (YYYY-MM-DD)", self.date.trim())));
                None
            }
            Ok(d) if d < issued => {
                problems.push(Problem::new("date", format!("the payment cannot come before the issue date {issued}")));
                None
            }
            Ok(d) => Some(d),
        };
        let method = Method::parse(&self.method);
        if method.is_none() {
            problems.push(Problem::new(
                "method",
                format!("\"{}\" is not a payment method: bank_transfer, card, cash or other", self.method.trim()),
            ));
        }
        let reference = self.reference.trim();
        if reference.is_empty() {
            problems.push(Problem::new("reference", "say the payment's reference (the transfer's, a receipt number)"));
        } else if reference.chars().count() > 140 {
            problems.push(Problem::new("reference", "a reference is at most 140 characters"));
        }
        match (amount, date, method, problems.is_empty()) {
            (Some(amount), Some(date), Some(method), true) => {
                Ok(ValidPayment { amount, date, method, reference: reference.to_string() })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(iban: Option<&str>, bic: Option<&str>, account: Option<&str>, routing: Option<&str>) -> PaymentDetails {
        PaymentDetails {
            payee: " Acme AI Inc. ".into(),
            iban: iban.map(str::to_string),
            bic: bic.map(str::to_string),
            account_number: account.map(str::to_string),
            routing_number: routing.map(str::to_string),
            note: None,
        }
        .normalized()
    }

    #[test]
    fn a_sepa_qr_code_asks_for_the_amount_owed_in_euros_on_an_iban_only() {
        let bank = details(Some("DE89 3704 0044 0532 0130 00"), Some("cobadeffxxx"), None, None);
        let no_bic = details(Some("DE89370400440532013000"), None, None, None);
        let us = details(None, None, Some("12345678"), Some("021000021"));
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let text = |lines: &[&str]| lines.join("\n");
        let head = ["BCD", "002", "1", "SCT"];
        for (who, amount, currency, want) in [
            (
                &bank,
                "1481.47",
                "EUR",
                Some(
                    [&head[..], &["COBADEFFXXX", "Acme AI Inc.", "DE89370400440532013000", "EUR1481.47", "", ""]]
                        .concat(),
                ),
            ),
            // Without a BIC its line stays, empty; whole amounts keep two decimals; half a cent rounds up.
            (
                &no_bic,
                "100",
                "EUR",
                Some([&head[..], &["", "Acme AI Inc.", "DE89370400440532013000", "EUR100.00", "", ""]].concat()),
            ),
            (
                &no_bic,
                "0.005",
                "EUR",
                Some([&head[..], &["", "Acme AI Inc.", "DE89370400440532013000", "EUR0.01", "", ""]].concat()),
            ),
            (
                &no_bic,
                "999999999.99",
                "EUR",
                Some([&head[..], &["", "Acme AI Inc.", "DE89370400440532013000", "EUR999999999.99", "", ""]].concat()),
            ),
            // Nothing owed, too much for the standard, another currency, or no IBAN: no code.
            (&bank, "0", "EUR", None),
            (&bank, "0.004", "EUR", None),
            (&bank, "1000000000", "EUR", None),
            (&bank, "1481.47", "USD", None),
            (&us, "1481.47", "EUR", None),
        ] {
            let got = who.sepa_qr(d(amount), currency, "INV-2026-00001");
            let want = want.map(|mut lines| {
                lines.push("INV-2026-00001");
                text(&lines)
            });
            assert_eq!(got, want, "{amount} {currency}");
        }
        // A long payee is cut to the standard's 70 characters.
        let long = PaymentDetails { payee: "A".repeat(90), ..bank.clone() };
        let qr = long.sepa_qr(d("5"), "EUR", "INV-1").unwrap();
        assert_eq!(qr.lines().nth(5).unwrap().len(), 70);
        assert!(qr.len() <= 331, "the standard's limit: {} bytes", qr.len());
    }

    #[test]
    fn ibans_bics_and_routing_numbers_are_checked_by_their_check_digits() {
        for (iban, problem) in [
            ("DE89 3704 0044 0532 0130 00", None),
            ("de89370400440532013000", None),
            ("GB82 WEST 1234 5698 7654 32", None),
            ("FR14 2004 1010 0505 0001 3M02 606", None),
            ("DE89 3704 0044 0532 0130 01", Some("wrong check digits")),
            ("GB82 WEST 1234 5698 7654 23", Some("wrong check digits")),
            ("DE89", Some("is not an IBAN")),
            ("1234 5678 9012 3456", Some("is not an IBAN")),
            ("DE89 3704 0044 0532 0130 0!", Some("is not an IBAN")),
        ] {
            let d = details(Some(iban), None, None, None);
            let said = d.problems().into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>();
            match problem {
                None => assert!(said.is_empty(), "{iban}: {said:?}"),
                Some(why) => assert!(
                    said.len() == 1 && said[0].starts_with("payment.iban: ") && said[0].contains(why),
                    "{iban}: {said:?}"
                ),
            }
        }
        assert_eq!(bic_problem("COBADEFFXXX"), None);
        assert_eq!(bic_problem("DEUTDEFF"), None);
        assert!(bic_problem("DEUTDEF").is_some() && bic_problem("1EUTDEFF").is_some());
        // 021000021 (3·0+7·2+1·1+3·0+7·0+1·0+3·0+7·2+1·1 = 30) is valid; 021000022 is not.
        assert_eq!(routing_problem("021000021"), None);
        assert_eq!(routing_problem("011000015"), None);
        assert!(routing_problem("021000022").unwrap().contains("check digit"));
        assert!(routing_problem("02100002").unwrap().contains("9 digits"));
    }

    #[test]
    fn one_account_to_pay_into_and_a_payee_are_required() {
        let paths = |d: PaymentDetails| d.problems().into_iter().map(|p| p.path).collect::<Vec<_>>();
        assert_eq!(paths(details(None, None, None, None)), ["payment.iban"]);
        assert_eq!(paths(details(None, None, Some("123456789"), Some("021000021"))), Vec::<String>::new());
        assert_eq!(paths(details(None, None, Some("123456789"), None)), ["payment.routing_number"]);
        assert_eq!(paths(details(None, None, None, Some("021000021"))), ["payment.account_number"]);
        assert_eq!(
            paths(details(Some("DE89370400440532013000"), None, Some("123456789"), Some("021000021"))),
            ["payment.account_number"]
        );
        assert_eq!(paths(details(None, Some("DEUTDEFF"), Some("123456789"), Some("021000021"))), ["payment.bic"]);
        assert_eq!(paths(details(None, None, Some("12-34"), Some("021000021"))), Vec::<String>::new(), "hyphens go");
        assert_eq!(paths(details(None, None, Some("12ab"), Some("021000021"))), ["payment.account_number"]);
        let mut nobody = details(Some("DE89370400440532013000"), None, None, None);
        nobody.payee = String::new();
        assert_eq!(paths(nobody), ["payment.payee"]);
    }

    #[test]
    fn an_invoice_prints_the_account_and_its_number_as_the_reference() {
        let d = details(Some("de89 3704 0044 0532 0130 00"), Some("cobadeffxxx"), None, None);
        assert_eq!(
            d.lines("INV-2026-00001"),
            [
                "Payee: Acme AI Inc.",
                "IBAN: DE89 3704 0044 0532 0130 00",
                "BIC: COBADEFFXXX",
                "Reference: INV-2026-00001"
            ]
        );
        let us = details(None, None, Some("000123456789"), Some("021000021"));
        assert_eq!(us.lines("INV-2026-00002")[1], "Account number: 000123456789, routing number: 021000021");
    }

    #[test]
    fn a_payment_is_checked_field_by_field_against_what_is_owed() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let issued = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let owed: Decimal = "1481.47".parse().unwrap();
        let pay = |amount: &str, date: &str, method: &str, reference: &str| PaymentFields {
            amount: amount.into(),
            date: date.into(),
            method: method.into(),
            reference: reference.into(),
        };
        // (fields, currency, owed) → the problems' (path, message), or the payment.
        let good = pay("500.00", "2026-11-05", "bank_transfer", " wire 42 ");
        assert_eq!(
            good.validate(&usd, owed, issued).unwrap(),
            ValidPayment {
                amount: "500.00".parse().unwrap(),
                date: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
                method: Method::BankTransfer,
                reference: "wire 42".into()
            }
        );
        // All of what is owed, on the issue date, is a payment too.
        assert!(pay("1481.47", "2026-11-01", "card", "slip 7").validate(&usd, owed, issued).is_ok());
        // (fields, currency, owed) → the problems as (path, message).
        type Case<'a> = (PaymentFields, &'a Currency, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (pay("0", "2026-11-05", "cash", "r"), &usd, "1481.47", &[("amount", "a payment is more than zero")]),
            (pay("-5", "2026-11-05", "cash", "r"), &usd, "1481.47", &[("amount", "a payment is more than zero")]),
            (
                pay("12,50", "2026-11-05", "cash", "r"),
                &usd,
                "1481.47",
                &[("amount", "\"12,50\" is not an amount (e.g. 500.00)")],
            ),
            (
                pay("10.005", "2026-11-05", "cash", "r"),
                &usd,
                "1481.47",
                &[("amount", "10.005 has more decimals than USD has (2)")],
            ),
            (
                pay("10.5", "2026-11-05", "cash", "r"),
                &jpy,
                "1000",
                &[("amount", "10.5 has more decimals than JPY has (0)")],
            ),
            (
                pay("1481.48", "2026-11-05", "cash", "r"),
                &usd,
                "1481.47",
                &[("amount", "1481.48 USD is more than the 1481.47 USD still owed")],
            ),
            (pay("1.00", "2026-11-05", "cash", "r"), &usd, "0", &[("amount", "nothing is owed on this invoice")]),
            (
                pay("1.00", "2026-10-31", "cash", "r"),
                &usd,
                "1481.47",
                &[("date", "the payment cannot come before the issue date 2026-11-01")],
            ),
            (
                pay("1.00", "05/11/2026", "cash", "r"),
                &usd,
                "1481.47",
                &[("date", "\"05/11/2026\" is not a date (YYYY-MM-DD)")],
            ),
            (
                pay("1.00", "2026-11-05", "cheque", "r"),
                &usd,
                "1481.47",
                &[("method", "\"cheque\" is not a payment method: bank_transfer, card, cash or other")],
            ),
            (
                pay("1.00", "2026-11-05", "cash", "  "),
                &usd,
                "1481.47",
                &[("reference", "say the payment's reference (the transfer's, a receipt number)")],
            ),
            (
                pay("", "", "", ""),
                &usd,
                "1481.47",
                &[
                    ("amount", "\"\" is not an amount (e.g. 500.00)"),
                    ("date", "\"\" is not a date (YYYY-MM-DD)"),
                    ("method", "\"\" is not a payment method: bank_transfer, card, cash or other"),
                    ("reference", "say the payment's reference (the transfer's, a receipt number)"),
                ],
            ),
        ];
        for (fields, currency, owed, want) in cases {
            let got = fields.validate(currency, owed.parse().unwrap(), issued).unwrap_err();
            let got: Vec<(&str, &str)> = got.iter().map(|p| (p.path.as_str(), p.message.as_str())).collect();
            assert_eq!(&got, want, "{fields:?}");
        }
    }

    #[test]
    fn only_payments_that_stand_count() {
        let record = |id, amount: &str, reversed: Option<&str>| PaymentRecord {
            id,
            amount: amount.parse().unwrap(),
            date: NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(),
            method: Method::BankTransfer,
            reference: "r".into(),
            reversed: reversed.map(str::to_string),
        };
        // DESIGN's example: 1,481.47 paid 500.00 then 981.47; the second reversed.
        let payments = [record(1, "500.00", None), record(2, "981.47", Some("the bank returned it"))];
        assert_eq!(standing_total(&payments), "500.00".parse::<Decimal>().unwrap());
        assert_eq!(standing_total(&payments[..1]) + "981.47".parse::<Decimal>().unwrap(), "1481.47".parse().unwrap());
    }
}
