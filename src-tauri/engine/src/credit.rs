//! Credit notes: corrections of a finalized invoice, in their own series
//! (`CN-2026-00001`), for the whole of what is left, for amounts of some lines,
//! or for an amount tax included — never more than what is left to credit, on
//! the invoice or on a line. Frozen like invoices (the database refuses
//! UPDATE and DELETE).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Problem, Result};
use crate::invoice;
use crate::money::{Currency, Dec};
use crate::settings;
use crate::stored::time_text;

/// The credit note series.
pub const SERIES: &str = "CN";

/// What to credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Everything left to credit on the invoice.
    Full,
    /// Net amounts of some lines (1-based line numbers); tax at the invoice's rate.
    Lines(Vec<(usize, Decimal)>),
    /// An amount tax included, not tied to a line.
    Amount(Decimal),
}

/// One credited amount: of an invoice line, or (line none) of the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CreditLine {
    pub line: Option<usize>,
    pub description: String,
    pub net: Dec,
    pub tax: Dec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct CreditNote {
    pub number: String,
    pub invoice: String,
    pub customer: String,
    pub currency: String,
    #[ts(type = "string")]
    pub issue_date: NaiveDate,
    pub reason: String,
    pub lines: Vec<CreditLine>,
    pub subtotal: Dec,
    pub tax: Dec,
    pub total: Dec,
    /// The part of `total` given back to the customer's prepaid credit (see
    /// `settle::Dues::returned_by`); the rest lowers what is owed.
    #[serde(default)]
    pub credits_returned: Dec,
    /// What the customer had paid that is no longer owed after this note:
    /// refunded to them, or added to their wallet (none when nothing was overpaid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub refund: Option<Refund>,
}

/// Money the customer paid that a credit note left not owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Refund {
    pub amount: Dec,
    pub to: RefundTo,
}

/// Where an overpayment goes: back to the customer (a refund owed to them),
/// or into their prepaid wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefundTo {
    #[default]
    Customer,
    Wallet,
}

impl RefundTo {
    pub fn parse(text: &str) -> Option<RefundTo> {
        match text.trim() {
            "customer" => Some(RefundTo::Customer),
            "wallet" => Some(RefundTo::Wallet),
            _ => None,
        }
    }
}

/// The credit notes that `sql` selects (their `content`, one column) with `args`.
pub(crate) fn select(conn: &Connection, sql: &str, args: impl rusqlite::Params) -> Result<Vec<CreditNote>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.iter()
        .map(|text| {
            serde_json::from_str(text).map_err(|e| Error::Internal(format!("a stored credit note is unreadable: {e}")))
        })
        .collect()
}

/// The credit notes of an invoice, oldest first.
pub fn of_invoice(conn: &Connection, invoice_number: &str) -> Result<Vec<CreditNote>> {
    select(
        conn,
        "SELECT c.content FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE i.number = ?1 ORDER BY c.id",
        [invoice_number],
    )
}

/// The credit notes of one customer's invoices (its external id), newest first.
pub fn of_customer(conn: &Connection, customer: &str) -> Result<Vec<CreditNote>> {
    select(
        conn,
        "SELECT c.content FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id
         JOIN customers k ON k.id = i.customer_id WHERE k.external_id = ?1 ORDER BY c.id DESC",
        [customer],
    )
}

/// Every credit note, newest first.
pub fn all(conn: &Connection) -> Result<Vec<CreditNote>> {
    select(conn, "SELECT content FROM credit_notes ORDER BY id DESC", [])
}

/// One credit note by number.
pub fn get(conn: &Connection, number: &str) -> Result<Option<CreditNote>> {
    let text: Option<String> =
        conn.query_row("SELECT content FROM credit_notes WHERE number = ?1", [number], |r| r.get(0)).optional()?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| Error::Internal(format!("a stored credit note is unreadable: {e}")))
    })
    .transpose()
}

/// Issues a credit note against a finalized (not void) invoice, in the
/// caller's transaction; what it leaves overpaid is refunded to the customer
/// (see [`issue_with`]).
pub fn issue(
    conn: &Transaction,
    invoice_number: &str,
    reason: &str,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<CreditNote> {
    issue_with(conn, invoice_number, reason, request, RefundTo::Customer, now)
}

/// [`issue`], what the credit note leaves overpaid (the payments that stand
/// less what is still owed after it, docs/billing.md "Payments, reminders and
/// sending") going to `refund_to`: a refund owed to the customer, or a paid
/// grant in their wallet.
pub fn issue_with(
    conn: &Transaction,
    invoice_number: &str,
    reason: &str,
    request: &Request,
    refund_to: RefundTo,
    now: DateTime<Utc>,
) -> Result<CreditNote> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why the invoice is credited"));
    }
    let (invoice_id,): (i64,) = conn
        .query_row("SELECT id FROM invoices WHERE number = ?1", [invoice_number], |r| Ok((r.get(0)?,)))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no finalized invoice {invoice_number}")))?;
    let inv = invoice::get(conn, invoice_number)?
        .ok_or_else(|| Error::NotFound(format!("no finalized invoice {invoice_number}")))?;
    if inv.void_reason.is_some() {
        return Err(Error::Conflict(format!("{invoice_number} is void: there is nothing to credit")));
    }
    let d = &inv.frozen.draft;
    let currency = Currency::parse(&d.currency).map_err(Error::Internal)?;
    let earlier = of_invoice(conn, invoice_number)?;
    let credited_total: Decimal = earlier.iter().map(|c| c.total.0).sum();
    let credited_tax: Decimal = earlier.iter().map(|c| c.tax.0).sum();
    let credited_on = |line: usize| -> Decimal {
        earlier.iter().flat_map(|c| &c.lines).filter(|l| l.line == Some(line)).map(|l| l.net.0).sum()
    };
    let left_total = d.total.0 - credited_total;
    let left_tax = d.tax.0 - credited_tax;
    let rate = d.tax_rate.map_or(Decimal::ZERO, |r| r.0);
    let lines: Vec<CreditLine> = match request {
        Request::Full => {
            if left_total <= Decimal::ZERO {
                return Err(Error::Conflict(format!("{invoice_number} is already credited in full")));
            }
            // What is left of each line, and the tax left on the invoice on the first line that has any.
            let mut out = Vec::new();
            let mut tax_left = left_tax;
            for (i, l) in d.lines.iter().enumerate() {
                let net = l.amount.0 - credited_on(i + 1);
                if net.is_zero() {
                    continue;
                }
                out.push(CreditLine {
                    line: Some(i + 1),
                    description: l.description.clone(),
                    net: Dec(net),
                    tax: Dec(Decimal::ZERO),
                });
            }
            let nets: Vec<Decimal> = out.iter().map(|l| l.net.0).collect();
            for (l, share) in
                out.iter_mut().zip(meterdesk_rules::settle::tax_shares(&nets, tax_left, currency.minor_units()))
            {
                l.tax = Dec(share);
                tax_left -= share;
            }
            debug_assert!(tax_left.is_zero());
            // Amounts credited earlier without a line (their tax is already off `tax_left`).
            let amount_only: Decimal =
                earlier.iter().flat_map(|c| &c.lines).filter(|l| l.line.is_none()).map(|l| l.net.0).sum();
            if !amount_only.is_zero() {
                out.push(CreditLine {
                    line: None,
                    description: "Less amounts credited before".into(),
                    net: Dec(-amount_only),
                    tax: Dec(currency.round(Decimal::ZERO)),
                });
            }
            out
        }
        Request::Lines(wanted) => {
            let mut problems = Vec::new();
            let mut out = Vec::new();
            for (k, (line, net)) in wanted.iter().enumerate() {
                let at = format!("lines[{k}]");
                let Some(l) = line.checked_sub(1).and_then(|i| d.lines.get(i)) else {
                    problems.push(Problem::new(
                        at,
                        format!("{invoice_number} has no line {line} (it has {})", d.lines.len()),
                    ));
                    continue;
                };
                let left = l.amount.0 - credited_on(*line);
                if *net <= Decimal::ZERO {
                    problems.push(Problem::new(at, "the amount to credit must be more than zero"));
                } else if currency.round(*net) != *net {
                    problems.push(Problem::new(
                        at,
                        format!("at most {} decimals in {}", currency.minor_units(), d.currency),
                    ));
                } else if *net > left {
                    problems.push(Problem::new(
                        at,
                        format!(
                            "line {line} ({}) has {} left to credit, not {net}",
                            l.description,
                            currency.round(left.max(Decimal::ZERO))
                        ),
                    ));
                } else {
                    out.push(CreditLine {
                        line: Some(*line),
                        description: l.description.clone(),
                        net: Dec(*net),
                        tax: Dec(currency.round(*net * rate)),
                    });
                }
            }
            if !problems.is_empty() {
                return Err(Error::Invalid(problems));
            }
            out
        }
        Request::Amount(gross) => {
            if *gross <= Decimal::ZERO || currency.round(*gross) != *gross {
                return Err(Error::invalid(
                    "amount",
                    format!("a positive amount with at most {} decimals", currency.minor_units()),
                ));
            }
            let net = currency.round(*gross / (Decimal::ONE + rate));
            vec![CreditLine { line: None, description: reason.to_string(), net: Dec(net), tax: Dec(*gross - net) }]
        }
    };
    if lines.is_empty() {
        return Err(Error::invalid("lines", "name at least one line to credit"));
    }
    let subtotal: Decimal = lines.iter().map(|l| l.net.0).sum();
    let tax: Decimal = lines.iter().map(|l| l.tax.0).sum();
    let total = subtotal + tax;
    if total > left_total || tax > left_tax {
        return Err(Error::invalid(
            "amount",
            format!(
                "{invoice_number} has {} {} left to credit, not {}",
                currency.round(left_total),
                d.currency,
                currency.round(total)
            ),
        ));
    }
    let company = settings::get(conn)?;
    let tz = settings::parse_timezone(&company.timezone).map_err(Error::Internal)?;
    let issue_date = now.with_timezone(&tz).date_naive();
    let year = issue_date.year();
    let (seq, number) = invoice::next_number(conn, SERIES, year)?;
    let to_return = d.dues().returned_by(credited_total + total) - d.dues().returned_by(credited_total);
    let mut returned = Decimal::ZERO;
    if to_return > Decimal::ZERO {
        returned = crate::wallet::return_credits(conn, invoice_id, invoice_number, &number, to_return, now)?;
        if returned != to_return {
            return Err(Error::Internal(format!(
                "{invoice_number} holds {returned} of wallet credit, not the {to_return} its credit note returns"
            )));
        }
    }
    // What was paid beyond what is owed, before and after this note: the difference is refunded.
    let paid = match (inv.paid.is_some(), inv.payments.is_empty()) {
        // Marked paid before payments had amounts: it paid what was owed then.
        (true, true) => d.dues().owed_after(credited_total).max(Decimal::ZERO),
        _ => crate::payment::standing_total(&inv.payments),
    };
    let over = |credited: Decimal| (paid - d.dues().owed_after(credited).max(Decimal::ZERO)).max(Decimal::ZERO);
    let overpaid = currency.round(over(credited_total + total) - over(credited_total));
    let refund = (overpaid > Decimal::ZERO).then_some(Refund { amount: Dec(overpaid), to: refund_to });
    if let Some(Refund { amount, to: RefundTo::Wallet }) = &refund {
        let grant = crate::wallet::GrantFields {
            id: format!("refund-{number}"),
            amount: *amount,
            kind: crate::wallet::GrantKind::Paid,
            expires: None,
            priority: 0,
            rollover: None,
            reference: Some(number.clone()),
            note: format!("Overpaid on {invoice_number}, credited by {number}"),
        };
        crate::wallet::grant(conn, &d.customer, &grant, crate::wallet::Origin::Manual, now).map_err(|e| {
            Error::Conflict(format!("the {amount} {} overpaid could not go to the wallet: {e}", d.currency))
        })?;
    }
    let note = CreditNote {
        refund,
        number,
        invoice: invoice_number.to_string(),
        customer: d.customer.clone(),
        currency: d.currency.clone(),
        issue_date,
        reason: reason.to_string(),
        lines,
        subtotal: Dec(currency.round(subtotal)),
        tax: Dec(currency.round(tax)),
        total: Dec(currency.round(total)),
        credits_returned: Dec(currency.round(returned)),
    };
    let content = serde_json::to_string(&note)
        .map_err(|e| Error::Internal(format!("a credit note could not be written: {e}")))?;
    conn.execute(
        "INSERT INTO credit_notes (number, series, year, seq, invoice_id, issue_date, currency, total, content, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![note.number, SERIES, year, seq, invoice_id, issue_date.to_string(), note.currency, note.total.to_string(), content, time_text(now)],
    )?;
    let detail = serde_json::json!({
        "invoice": invoice_number, "total": note.total, "credits_returned": note.credits_returned, "reason": reason,
        "refund": note.refund.as_ref().map(|r| r.amount), "refund_to": note.refund.as_ref().map(|r| r.to),
    });
    conn.execute(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, 'credit', ?2, ?3, (SELECT name FROM temp.session_actor))",
        params![time_text(now), note.number, detail.to_string()],
    )?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bill::tests::{CATALOG, apply, october};
    use crate::workspace::Workspace;
    use chrono::TimeZone;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// Globex's October invoice: 54.29 fee, 7.40 tokens, 0.40 calls, 25.00
    /// storage, 180.00 seats, 61.39 true-up, −32.85 discount; tax 59.13; 354.76.
    fn invoiced() -> Workspace {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        october(&mut ws);
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
        invoice::finalize_month(&mut ws, crate::month("2026-10"), None, now).unwrap();
        ws
    }

    fn credit(ws: &mut Workspace, request: Request) -> Result<CreditNote> {
        let now = Utc.with_ymd_and_hms(2026, 11, 10, 15, 0, 0).unwrap();
        ws.write(|tx| issue(tx, "INV-2026-00001", "Disputed usage", &request, now))
    }

    #[test]
    fn credits_never_exceed_what_is_left() {
        let mut ws = invoiced();
        // Seats, partly: 50.00 net + 20% tax.
        let first = credit(&mut ws, Request::Lines(vec![(5, d("50.00"))])).unwrap();
        assert_eq!(first.number, "CN-2026-00001");
        assert_eq!(
            (first.subtotal.to_string(), first.tax.to_string(), first.total.to_string()),
            ("50.00".into(), "10.00".into(), "60.00".into())
        );
        // More than the line has left, a line that is not there, zero, and too many decimals: each named.
        let err = credit(&mut ws, Request::Lines(vec![(5, d("130.01")), (9, d("1")), (2, d("0")), (3, d("0.001"))]))
            .unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["lines[0]", "lines[1]", "lines[2]", "lines[3]"]);
        assert!(err.problems()[0].message.contains("has 130.00 left to credit"), "{err}");
        // An amount tax included: 24.00 is 20.00 net + 4.00 tax.
        let second = credit(&mut ws, Request::Amount(d("24.00"))).unwrap();
        assert_eq!((second.subtotal.to_string(), second.tax.to_string()), ("20.00".into(), "4.00".into()));
        // The rest, in full: 354.76 − 60.00 − 24.00 = 270.76, and the tax left 59.13 − 14.00 = 45.13.
        let rest = credit(&mut ws, Request::Full).unwrap();
        assert_eq!((rest.total.to_string(), rest.tax.to_string()), ("270.76".into(), "45.13".into()));
        assert_eq!(rest.number, "CN-2026-00003");
        let all = of_invoice(ws.conn(), "INV-2026-00001").unwrap();
        assert_eq!(all.iter().map(|c| c.total.0).sum::<Decimal>(), d("354.76"), "credited exactly the invoice");
        assert!(matches!(credit(&mut ws, Request::Full), Err(Error::Conflict(_))));
        assert_eq!(credit(&mut ws, Request::Amount(d("0.01"))).unwrap_err().problems()[0].path, "amount");
        let now = Utc.with_ymd_and_hms(2026, 11, 11, 15, 0, 0).unwrap();
        assert!(
            matches!(ws.write(|tx| invoice::void(tx, "INV-2026-00001", "late", now)), Err(Error::Conflict(_))),
            "credited: not voided"
        );
        // Frozen like invoices.
        let err = ws.conn().execute("UPDATE credit_notes SET total = '0'", []).unwrap_err();
        assert!(err.to_string().contains("cannot be changed"));
    }

    #[test]
    fn a_void_invoice_cannot_be_credited_and_a_reason_is_required() {
        let mut ws = invoiced();
        let now = Utc.with_ymd_and_hms(2026, 11, 10, 15, 0, 0).unwrap();
        assert_eq!(
            ws.write(|tx| issue(tx, "INV-2026-00001", " ", &Request::Full, now)).unwrap_err().problems()[0].path,
            "reason"
        );
        ws.write(|tx| invoice::void(tx, "INV-2026-00001", "Wrong entity", now)).unwrap();
        assert!(matches!(credit(&mut ws, Request::Full), Err(Error::Conflict(_))));
        assert!(matches!(
            ws.write(|tx| issue(tx, "INV-2026-09999", "x", &Request::Full, now)),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn a_credit_note_on_a_paid_invoice_refunds_what_was_overpaid_to_the_customer_or_the_wallet() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(
            &mut ws,
            r#"{ "workspace": { "timezone": "UTC" },
                 "customers": [ { "id": "acme", "name": "Acme", "tax_rate": "0.20" },
                                { "id": "bolt", "name": "Bolt", "tax_rate": "0.20" } ],
                 "plans": [ { "code": "flat", "name": "Flat", "currency": "USD", "interval": "month",
                              "fees": [ { "name": "Platform", "amount": "1234.56", "timing": "arrears" } ] } ],
                 "subscriptions": [ { "id": "s1", "customer": "acme", "plan": "flat", "start": "2026-10-01", "anchor_day": 1 },
                                    { "id": "s2", "customer": "bolt", "plan": "flat", "start": "2026-10-01", "anchor_day": 1 } ] }"#,
        );
        let now = |day: u32| Utc.with_ymd_and_hms(2026, 11, day, 15, 0, 0).unwrap();
        invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("acme"), now(2)).unwrap();
        invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("bolt"), now(2)).unwrap();
        let pay = |amount: &str| crate::payment::PaymentFields {
            amount: amount.into(),
            date: "2026-11-05".into(),
            method: "bank_transfer".into(),
            reference: "wire".into(),
        };
        // 1,481.47 owed, 500.00 paid: a credit of 1,200.00 leaves 281.47 owed, 218.53 overpaid.
        ws.write(|tx| invoice::pay(tx, "INV-2026-00001", &pay("500.00"), now(5))).unwrap();
        let note =
            ws.write(|tx| issue(tx, "INV-2026-00001", "Downgrade", &Request::Amount(d("1200.00")), now(6))).unwrap();
        assert_eq!(note.refund, Some(Refund { amount: Dec(d("218.53")), to: RefundTo::Customer }));
        let inv = invoice::get(ws.conn(), "INV-2026-00001").unwrap().unwrap();
        let e = crate::register::entry(&inv, "Acme", note.total.0, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        assert_eq!((e.standing, e.outstanding.to_string()), (crate::register::Standing::Paid, "0.00".into()));
        // Credited again: all of it is overpaid now, refunded in full.
        let more =
            ws.write(|tx| issue(tx, "INV-2026-00001", "Goodwill", &Request::Amount(d("100.00")), now(7))).unwrap();
        assert_eq!(more.refund.map(|r| r.amount.to_string()), Some("100.00".into()));
        // Paid in full, credited 481.47 into the wallet: a paid grant there.
        ws.write(|tx| invoice::pay(tx, "INV-2026-00002", &pay("1481.47"), now(5))).unwrap();
        let into_wallet = ws
            .write(|tx| {
                issue_with(
                    tx,
                    "INV-2026-00002",
                    "Annual discount",
                    &Request::Amount(d("481.47")),
                    RefundTo::Wallet,
                    now(8),
                )
            })
            .unwrap();
        assert_eq!(into_wallet.refund, Some(Refund { amount: Dec(d("481.47")), to: RefundTo::Wallet }));
        let wallet = crate::wallet::wallet(ws.conn(), "bolt").unwrap();
        assert_eq!(wallet.balance.to_string(), "481.47");
        let trail = crate::register::trail(ws.conn(), "INV-2026-00002").unwrap();
        assert!(
            trail.iter().any(|t| t.sentence.ends_with(", 481.47 overpaid added to the wallet: Annual discount.")),
            "{trail:?}"
        );
        // Overpaid already, every further credit is refunded whole.
        let again = ws.write(|tx| issue(tx, "INV-2026-00001", "x", &Request::Amount(d("1.00")), now(9)));
        assert_eq!(again.unwrap().refund.map(|r| r.amount.to_string()), Some("1.00".into()));
        // The 500.00 paid was refunded 319.53 in all: it can no longer be reversed
        // (the money it brought was sent back), and nothing changes.
        let err = ws
            .write(|tx| invoice::reverse_payment(tx, "INV-2026-00001", 1, "bounced", now(10)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("credit notes refunded 319.53 USD of the money paid, and 0.00 USD would stand"), "{err}");
        let inv = invoice::get(ws.conn(), "INV-2026-00001").unwrap().unwrap();
        assert_eq!(inv.payments[0].reversed, None);
        // Nothing is owed on INV-2026-00002 any more: a further payment is refused.
        let extra = ws.write(|tx| invoice::pay(tx, "INV-2026-00002", &pay("1.00"), now(10)));
        assert!(extra.is_err(), "nothing is owed on INV-2026-00002 to pay");
    }
}
