//! A customer's statement of account (docs/billing.md "Payments, reminders
//! and sending"): for a date range, what it owed at the start, each invoice,
//! credit note and payment in the range with the balance after it, what it
//! owes at the end, the invoices still open then and their ages.
//!
//! The balance on a day is, over the customer's invoices issued by then (void
//! ones are left out: they ask for nothing), what each asks for after the
//! credit notes issued by then, less the payments that came in by then and
//! stand (reversed ones are left out, as in the receivables). So the opening
//! balance plus the lines is the closing balance, to the cent. A negative
//! balance is money the customer paid beyond what it owes.

use chrono::NaiveDate;
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;
use ts_rs::TS;

use crate::credit::CreditNote;
use crate::error::{Error, Result};
use crate::invoice::Invoice;
use crate::money::{Currency, Dec};
use meterdesk_rules::figures::{Age, Aging};

/// What a statement line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(rename = "StatementLineKind")]
pub enum LineKind {
    Invoice,
    CreditNote,
    Payment,
}

/// One document or payment in the range, with the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(rename = "StatementLine")]
pub struct Line {
    #[ts(type = "string")]
    pub date: NaiveDate,
    pub kind: LineKind,
    /// The invoice's or credit note's number, or the payment's invoice.
    pub document: String,
    pub description: String,
    /// What it adds to the balance (an invoice) …
    pub debit: Dec,
    /// … or takes off it (a credit note, a payment).
    pub credit: Dec,
    pub balance: Dec,
}

/// An invoice still asking for something at the end of the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct OpenItem {
    pub number: String,
    #[ts(type = "string")]
    pub issue_date: NaiveDate,
    #[ts(type = "string")]
    pub due_date: NaiveDate,
    pub owed: Dec,
    pub days_overdue: i64,
    pub age: Age,
}

/// The statement's part in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct CurrencyStatement {
    pub currency: String,
    pub opening_balance: Dec,
    pub lines: Vec<Line>,
    pub closing_balance: Dec,
    pub open_items: Vec<OpenItem>,
    /// What the open items owe by age: not due, 1–30, 31–60, 61–90, over 90 days.
    pub aging: Vec<Dec>,
    /// What the open items owe in all.
    pub total_owed: Dec,
}

/// A customer's statement of account from `from` to `to` (both included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Statement {
    pub customer: String,
    pub customer_name: String,
    pub address: Vec<String>,
    #[ts(type = "string")]
    pub from: NaiveDate,
    #[ts(type = "string")]
    pub to: NaiveDate,
    pub currencies: Vec<CurrencyStatement>,
}

/// An event that moves an invoice's balance.
struct Move {
    date: NaiveDate,
    kind: LineKind,
    document: String,
    description: String,
    /// Positive: owed more; negative: owed less.
    amount: Decimal,
}

/// The moves of one invoice: its issue, each credit note (by what it took
/// off what is owed) and each payment that stands.
fn moves(invoice: &Invoice, notes: &[&CreditNote]) -> Vec<Move> {
    let f = &invoice.frozen;
    let d = &f.draft;
    let number = d.number.clone().unwrap_or_default();
    let dues = d.dues();
    let mut out = vec![Move {
        date: f.issue_date,
        kind: LineKind::Invoice,
        document: number.clone(),
        description: format!("Invoice, {} to {}, due {}", d.first_day, d.last_day, f.due_date),
        amount: dues.owed_after(Decimal::ZERO),
    }];
    let mut credited = Decimal::ZERO;
    for note in notes {
        let before = dues.owed_after(credited);
        credited += note.total.0;
        out.push(Move {
            date: note.issue_date,
            kind: LineKind::CreditNote,
            document: note.number.clone(),
            description: format!("Credit note on {number}: {}", note.reason),
            amount: dues.owed_after(credited) - before,
        });
    }
    for p in invoice.payments.iter().filter(|p| p.reversed.is_none()) {
        out.push(Move {
            date: p.date,
            kind: LineKind::Payment,
            document: number.clone(),
            description: format!("Payment, {} ({})", p.method.words(), p.reference),
            amount: -p.amount.0,
        });
    }
    if let Some(paid) = &invoice.paid {
        // Marked paid in full before payments had amounts: what was owed then.
        let owed_then: Decimal = out.iter().filter(|m| m.date <= paid.date).map(|m| m.amount).sum();
        out.push(Move {
            date: paid.date,
            kind: LineKind::Payment,
            document: number,
            description: format!("Marked paid ({})", paid.reference),
            amount: -owed_then.max(Decimal::ZERO),
        });
    }
    out
}

/// The statement of `customer` from `from` to `to`.
pub fn build(conn: &Connection, customer: &str, from: NaiveDate, to: NaiveDate) -> Result<Statement> {
    if from > to {
        return Err(Error::invalid("from", format!("the statement starts on {from}, after it ends ({to})")));
    }
    let found =
        crate::customer::get(conn, customer)?.ok_or_else(|| Error::NotFound(format!("no customer \"{customer}\"")))?;
    let invoices: Vec<Invoice> =
        crate::invoice::of_customer(conn, customer)?.into_iter().filter(|i| i.void_reason.is_none()).collect();
    let notes = crate::credit::of_customer(conn, customer)?;
    let mut by_currency: std::collections::BTreeMap<String, Vec<(&Invoice, Vec<Move>)>> = Default::default();
    for invoice in &invoices {
        let number = invoice.frozen.draft.number.as_deref().unwrap_or_default();
        let mut own: Vec<&CreditNote> = notes.iter().filter(|n| n.invoice == number).collect();
        own.sort_by(|a, b| (a.issue_date, &a.number).cmp(&(b.issue_date, &b.number)));
        by_currency.entry(invoice.frozen.draft.currency.clone()).or_default().push((invoice, moves(invoice, &own)));
    }
    let mut currencies = Vec::new();
    for (code, items) in by_currency {
        let currency = Currency::parse(&code).map_err(Error::Internal)?;
        let money = |v: Decimal| Dec(currency.round(v));
        let opening: Decimal = items.iter().flat_map(|(_, m)| m).filter(|m| m.date < from).map(|m| m.amount).sum();
        let mut in_range: Vec<&Move> =
            items.iter().flat_map(|(_, m)| m).filter(|m| m.date >= from && m.date <= to).collect();
        in_range.sort_by(|a, b| (a.date, a.kind, &a.document).cmp(&(b.date, b.kind, &b.document)));
        let mut balance = opening;
        let mut lines = Vec::new();
        for m in in_range {
            balance += m.amount;
            let (debit, credit) =
                if m.amount >= Decimal::ZERO { (m.amount, Decimal::ZERO) } else { (Decimal::ZERO, -m.amount) };
            lines.push(Line {
                date: m.date,
                kind: m.kind,
                document: m.document.clone(),
                description: m.description.clone(),
                debit: money(debit),
                credit: money(credit),
                balance: money(balance),
            });
        }
        let mut aging = Aging::default();
        let mut open_items = Vec::new();
        for (invoice, moves) in &items {
            let owed: Decimal = moves.iter().filter(|m| m.date <= to).map(|m| m.amount).sum();
            let f = &invoice.frozen;
            if f.issue_date > to || owed <= Decimal::ZERO {
                continue;
            }
            aging.add(owed, f.due_date, to);
            open_items.push(OpenItem {
                number: f.draft.number.clone().unwrap_or_default(),
                issue_date: f.issue_date,
                due_date: f.due_date,
                owed: money(owed),
                days_overdue: (to - f.due_date).num_days().max(0),
                age: Age::of(f.due_date, to),
            });
        }
        open_items.sort_by(|a, b| (a.due_date, &a.number).cmp(&(b.due_date, &b.number)));
        if lines.is_empty() && open_items.is_empty() && opening.is_zero() && balance.is_zero() {
            continue;
        }
        currencies.push(CurrencyStatement {
            currency: code,
            opening_balance: money(opening),
            lines,
            closing_balance: money(balance),
            open_items,
            aging: Age::ALL.iter().map(|a| money(aging.get(*a))).collect(),
            total_owed: money(aging.total()),
        });
    }
    Ok(Statement {
        customer: customer.to_string(),
        customer_name: found.fields.name,
        address: found.fields.address,
        from,
        to,
        currencies,
    })
}

/// The key a statement is sent under: one message per customer and range.
pub fn key(statement: &Statement) -> String {
    format!("ST-{}-{}-{}", statement.customer, statement.from, statement.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::workspace::Workspace;
    use chrono::{TimeZone, Utc};

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Globex's October invoice (354.76 USD, issued 2026-11-02, due 2026-12-02),
    /// 100.00 paid on 11-10, a payment of 5.00 reversed, and a 10.00 credit note on 11-20.
    pub(crate) fn globex_with_history() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let at = |d: u32| Utc.with_ymd_and_hms(2026, 11, d, 15, 0, 0).unwrap();
        crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), at(2)).unwrap();
        let pay = |amount: &str, date: &str, reference: &str| crate::payment::PaymentFields {
            amount: amount.into(),
            date: date.into(),
            method: "bank_transfer".into(),
            reference: reference.into(),
        };
        ws.write(|tx| crate::invoice::pay(tx, "INV-2026-00001", &pay("100.00", "2026-11-10", "wire 1"), at(10)))
            .unwrap();
        let wrong = ws
            .write(|tx| crate::invoice::pay(tx, "INV-2026-00001", &pay("5.00", "2026-11-11", "typo"), at(11)))
            .unwrap();
        let id = wrong.payments.last().unwrap().id;
        ws.write(|tx| crate::invoice::reverse_payment(tx, "INV-2026-00001", id, "entered twice", at(11))).unwrap();
        let amount = crate::credit::Request::Amount(Decimal::new(1000, 2));
        ws.write(|tx| crate::credit::issue(tx, "INV-2026-00001", "Goodwill", &amount, at(20))).unwrap();
        ws
    }

    #[test]
    fn a_statement_runs_from_the_opening_balance_through_each_line_to_the_closing_one() {
        let ws = globex_with_history();
        let s = build(ws.conn(), "globex", day("2026-11-01"), day("2026-12-31")).unwrap();
        assert_eq!(s.customer_name, "Globex Corp");
        assert_eq!(s.currencies.len(), 1);
        let usd = &s.currencies[0];
        let lines: Vec<(String, LineKind, &str, String, String, String)> = usd
            .lines
            .iter()
            .map(|l| {
                (
                    l.date.to_string(),
                    l.kind,
                    l.document.as_str(),
                    l.debit.to_string(),
                    l.credit.to_string(),
                    l.balance.to_string(),
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                (
                    "2026-11-02".into(),
                    LineKind::Invoice,
                    "INV-2026-00001",
                    "354.76".into(),
                    "0.00".into(),
                    "354.76".into()
                ),
                (
                    "2026-11-10".into(),
                    LineKind::Payment,
                    "INV-2026-00001",
                    "0.00".into(),
                    "100.00".into(),
                    "254.76".into()
                ),
                (
                    "2026-11-20".into(),
                    LineKind::CreditNote,
                    "CN-2026-00001",
                    "0.00".into(),
                    "10.00".into(),
                    "244.76".into()
                ),
            ],
            "the reversed payment is left out"
        );
        assert_eq!(
            (usd.opening_balance.to_string(), usd.closing_balance.to_string()),
            ("0.00".into(), "244.76".into())
        );
        // On Dec 31 the invoice is 29 days past due: 1–30 days.
        assert_eq!(usd.open_items.len(), 1);
        assert_eq!((usd.open_items[0].owed.to_string(), usd.open_items[0].days_overdue), ("244.76".into(), 29));
        let aging: Vec<String> = usd.aging.iter().map(|a| a.to_string()).collect();
        assert_eq!(aging, ["0.00", "244.76", "0.00", "0.00", "0.00"]);
        assert_eq!(usd.total_owed.to_string(), "244.76");

        // A range starting after the invoice: it opens with what was owed the day before.
        let s = build(ws.conn(), "globex", day("2026-11-15"), day("2026-11-30")).unwrap();
        let usd = &s.currencies[0];
        assert_eq!(usd.opening_balance.to_string(), "254.76");
        assert_eq!(usd.lines.len(), 1);
        assert_eq!(usd.closing_balance.to_string(), "244.76");
        assert_eq!(usd.aging[0].to_string(), "244.76", "not due until Dec 2");
        // Before anything was issued: nothing; a reversed range, an unknown customer: refused.
        assert!(build(ws.conn(), "globex", day("2026-10-01"), day("2026-10-31")).unwrap().currencies.is_empty());
        assert_eq!(
            build(ws.conn(), "globex", day("2026-12-01"), day("2026-11-01")).unwrap_err().problems()[0].path,
            "from"
        );
        assert!(matches!(build(ws.conn(), "nobody", day("2026-11-01"), day("2026-11-30")), Err(Error::NotFound(_))));
    }

    #[test]
    fn the_statement_pdf_says_what_the_statement_says() {
        let ws = globex_with_history();
        let started = std::time::Instant::now();
        let (_, bytes) = crate::pdf::statement_document(
            ws.conn(),
            "globex",
            day("2026-11-01"),
            day("2026-12-31"),
            day("2026-12-31"),
        )
        .unwrap();
        eprintln!("statement rendered in {:?}", started.elapsed());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.pdf");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("pdftotext").args(["-layout"]).arg(&path).arg("-").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for needle in [
            "STATEMENT",
            "Globex Corp",
            "Account in USD",
            "Balance on 2026-11-01",
            "INV-2026-00001",
            "354.76",
            "Payment, bank transfer (wire 1)",
            "CN-2026-00001",
            "Credit note on",
            "Goodwill",
            "Balance on 2026-12-31",
            "244.76 USD",
            "Open items on 2026-12-31",
            "29 days overdue",
            "1–30 days",
            "Total owed",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(!text.contains("typo"), "a reversed payment is not listed");
        // The same statement renders to the same bytes.
        let (_, again) = crate::pdf::statement_document(
            ws.conn(),
            "globex",
            day("2026-11-01"),
            day("2026-12-31"),
            day("2026-12-31"),
        )
        .unwrap();
        assert_eq!(bytes, again);
        // Kept for a look: target/statement.png.
        let png = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/statement");
        std::process::Command::new("pdftoppm")
            .args(["-png", "-r", "70", "-singlefile"])
            .arg(&path)
            .arg(&png)
            .status()
            .unwrap();
    }
}
