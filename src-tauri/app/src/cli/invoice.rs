//! Invoices: drafts, finalizing, the register, voids, payments, credit
//! notes, the accounting export and PDFs.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use meterdesk_engine::period::Month;
use meterdesk_engine::{Error, Workspace, api, bill, credit, invoice, late, pdf, register, settings};
use serde_json::json;

use super::{Outcome, report_evaluation};

#[derive(Debug, Subcommand)]
pub enum InvoiceAction {
    /// The draft invoice of a customer's subscription period that starts in
    /// month YYYY-MM (computed now, never stored). Without --customer: every
    /// customer's drafts, as a list.
    Preview {
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        /// Which subscription, when two periods start in the month (a plan change).
        #[arg(long)]
        subscription: Option<String>,
        /// The fee-only invoice of the periods' advance fees (billed at their start).
        #[arg(long)]
        advance: bool,
    },
    /// Finalize the drafts of the periods starting in month YYYY-MM (every
    /// customer's, or one's): numbered, frozen, never changed. Each invoice is
    /// its own transaction; a failure is reported and the others go on.
    Finalize {
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        #[arg(long)]
        customer: Option<String>,
        /// Finalize the fee-only invoices of the periods' advance fees; the
        /// periods' invoices then leave those fees out.
        #[arg(long)]
        advance: bool,
        /// Also finalize periods that have not ended yet (usage may still come;
        /// later events become late usage).
        #[arg(long)]
        include_open: bool,
    },
    /// Re-check the hash chain of every finalized invoice; report the first break.
    Verify,
    /// Invoices whose period received late events, with what they would add
    /// (the period re-rated with them, less what was billed).
    Late,
    /// Issue the adjustment invoice of NUMBER's late usage (numbered in the
    /// main series, naming NUMBER; each late event is billed once).
    Adjust { number: String },
    /// Void a finalized invoice (its number stays used); not once paid.
    Void {
        number: String,
        #[arg(long)]
        reason: String,
    },
    /// Record a payment of a finalized invoice: part or all of what is still
    /// owed, never more. Several payments may settle one invoice.
    Pay {
        number: String,
        /// In the invoice's currency (e.g. 500.00).
        #[arg(long)]
        amount: String,
        /// The day the money came in (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// bank_transfer, card, cash or other.
        #[arg(long)]
        method: String,
        /// The transfer's reference, a receipt or card slip number.
        #[arg(long)]
        reference: String,
    },
    /// Take back a payment recorded in error, with the reason: it stays
    /// listed as reversed, and what it paid is owed again.
    PaymentReverse {
        number: String,
        /// The payment's number, as `invoice show` lists it.
        #[arg(long)]
        payment: i64,
        #[arg(long)]
        reason: String,
    },
    /// Record the payment of everything a finalized invoice still asks for.
    Paid {
        number: String,
        /// The payment's date (YYYY-MM-DD).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// The bank or processor reference.
        #[arg(long)]
        reference: String,
    },
    /// E-mail the invoice or credit note NUMBER with its PDF to the
    /// customer's billing addresses (or --to, repeatable), through the
    /// outbox: sent, or kept queued with the server's error. Once only.
    Send {
        number: String,
        #[arg(long, value_name = "ADDR")]
        to: Vec<String>,
    },
    /// One finalized invoice.
    Show { number: String },
    /// Every finalized invoice, newest first: its standing (open, overdue,
    /// paid, credited, void) and what is still owed.
    List,
    /// Issue a credit note (series CN) against a finalized invoice: --full for
    /// all that is left, --line N=NET (repeatable) for line amounts, or
    /// --amount GROSS (tax included); never more than what is left.
    Credit {
        number: String,
        #[arg(long)]
        reason: String,
        #[arg(long, conflicts_with_all = ["line", "amount"])]
        full: bool,
        #[arg(long, value_name = "N=NET")]
        line: Vec<String>,
        #[arg(long, conflicts_with = "line")]
        amount: Option<meterdesk_engine::Dec>,
        /// Where what the customer paid beyond what is then owed goes:
        /// `customer` (a refund owed to them, the default) or `wallet`.
        #[arg(long, default_value = "customer")]
        refund_to: String,
    },
    /// The invoices issued from --from to --to (dates, both included) as CSV
    /// for an accounting import: a row per line with net, tax and gross.
    Export {
        #[arg(long)]
        from: chrono::NaiveDate,
        #[arg(long)]
        to: chrono::NaiveDate,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the PDF of a finalized invoice or a credit note.
    Pdf {
        number: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// a4 or letter (default: the workspace's paper setting).
        #[arg(long)]
        paper: Option<String>,
    },
}

pub(super) fn run(action: InvoiceAction, workspace: &Path, now: DateTime<Utc>) -> Result<Outcome, Error> {
    match action {
        InvoiceAction::Preview { customer: Some(customer), period, subscription, advance } => {
            let mut ws = Workspace::open(workspace)?;
            let mut drafts =
                bill::preview(&mut ws, Month::parse(&period, "period")?, Some(&customer), bill::Kind::of(advance))?;
            if let Some(id) = &subscription {
                drafts.retain(|d| &d.subscription == id);
            }
            let names = || drafts.iter().map(|d| format!("\"{}\"", d.subscription)).collect::<Vec<_>>().join(", ");
            match drafts.len() {
                0 => Err(Error::NotFound(match subscription {
                    Some(id) => format!("subscription \"{id}\" of \"{customer}\" has no period starting in {period}"),
                    None => format!("customer \"{customer}\" has no subscription period starting in {period}"),
                })),
                1 => {
                    let draft = drafts.pop().unwrap_or_else(|| unreachable!());
                    let human = draft_text(&draft);
                    Outcome::ok(draft, human)
                }
                _ => Err(Error::invalid(
                    "--subscription",
                    format!(
                        "customer \"{customer}\" has {} subscription periods starting in {period} ({}): choose one with --subscription",
                        drafts.len(),
                        names()
                    ),
                )),
            }
        }
        InvoiceAction::Preview { customer: None, period, subscription, advance } => {
            let mut ws = Workspace::open(workspace)?;
            let mut drafts = bill::preview(&mut ws, Month::parse(&period, "period")?, None, bill::Kind::of(advance))?;
            if let Some(id) = &subscription {
                drafts.retain(|d| &d.subscription == id);
            }
            let width = |f: fn(&bill::Draft) -> usize| drafts.iter().map(f).max().unwrap_or(0);
            let (wc, ws) = (width(|d| d.customer.len()), width(|d| d.subscription.len()));
            let human = drafts
                .iter()
                .map(|d| {
                    format!("{:<wc$}  {:<ws$}  {} {:>14}", d.customer, d.subscription, d.currency, d.total.to_string())
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(drafts, human)
        }
        InvoiceAction::Finalize { period, customer, advance, include_open } => {
            let mut ws = Workspace::open(workspace)?;
            let open = if include_open { invoice::Open::Include } else { invoice::Open::Refuse };
            let month = Month::parse(&period, "period")?;
            let selection = invoice::Selection::Every { customer: customer.as_deref(), open };
            let followed = api::finalize(&mut ws, month, bill::Kind::of(advance), selection, now)?;
            report_evaluation(&followed.wallets);
            let done = followed.done;
            let mut human: Vec<String> = done
                .invoices
                .iter()
                .map(|i| {
                    let d = &i.frozen.draft;
                    format!("{}  {}  {} {}", d.number.as_deref().unwrap_or("?"), d.customer, d.total, d.currency)
                })
                .collect();
            for f in &done.failures {
                eprintln!("not finalized: {} ({}): {}", f.customer, f.subscription, f.message);
            }
            if done.invoices.is_empty() && done.failures.is_empty() {
                human.push(format!("no subscription period starts in {period}"));
            }
            Ok(Outcome { success: done.failures.is_empty(), ..Outcome::ok(&done.invoices, human.join("\n"))? })
        }
        InvoiceAction::Verify => {
            let ws = Workspace::open(workspace)?;
            let checked = invoice::verify(ws.conn())?;
            let human = match &checked.first_break {
                None => format!("{} invoices checked: the chain is intact", checked.invoices),
                Some(b) => format!("the chain breaks at {b}"),
            };
            Ok(Outcome { success: checked.first_break.is_none(), ..Outcome::ok(&checked, human)? })
        }
        InvoiceAction::Late => {
            let mut ws = Workspace::open(workspace)?;
            let waiting = late::list(&mut ws)?;
            let human = if waiting.is_empty() {
                "no late usage waits: every event is billed or in a period not invoiced yet".to_string()
            } else {
                waiting
                    .iter()
                    .map(|l| {
                        let what = format!(
                            "{}  {} ({})  {} to {}: {}",
                            l.invoice,
                            l.customer_name,
                            l.customer,
                            l.first_day,
                            l.last_day,
                            meterdesk_engine::text::count(l.late_events, "late event", "late events")
                        );
                        match &l.problem {
                            None => format!(
                                "{what}, adds {} {} (subtotal {}, tax {})",
                                l.adds.total, l.currency, l.adds.subtotal, l.adds.tax
                            ),
                            Some(p) => format!("{what}; not billable: {p}"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Outcome::ok(&waiting, human)
        }
        InvoiceAction::Adjust { number } => {
            let mut ws = Workspace::open(workspace)?;
            let followed = api::adjust_late(&mut ws, &number, now)?;
            report_evaluation(&followed.wallets);
            let adj = followed.done;
            let d = &adj.frozen.draft;
            let human = format!(
                "{} adjusts {number} for late usage: {} {}\n{}",
                d.number.as_deref().unwrap_or("?"),
                d.total,
                d.currency,
                draft_text(d)
            );
            Outcome::ok(&adj, human)
        }
        InvoiceAction::Void { number, reason } => {
            let mut ws = Workspace::open(workspace)?;
            let voided = ws.write(|tx| invoice::void(tx, &number, &reason, now))?;
            Outcome::ok(&voided, format!("voided {number}: {reason}"))
        }
        InvoiceAction::Pay { number, amount, date, method, reference } => {
            let mut ws = Workspace::open(workspace)?;
            let fields = meterdesk_engine::payment::PaymentFields { amount, date, method, reference };
            let paid = ws.write(|tx| invoice::pay(tx, &number, &fields, now))?;
            let s = register::settlement(ws.conn(), paid, settings::today(ws.conn(), now)?)?;
            let p = s.invoice.payments.last();
            let currency = s.invoice.frozen.draft.currency.clone();
            let human = format!(
                "{number}: payment #{} of {} {currency} by {} ({}); paid {} {currency}, {} {currency} still owed ({})",
                p.map_or(0, |p| p.id),
                p.map_or(String::new(), |p| p.amount.to_string()),
                p.map_or("", |p| p.method.words()),
                p.map_or("", |p| p.reference.as_str()),
                s.paid_amount,
                s.outstanding,
                s.standing.as_str().replace('_', " ")
            );
            Outcome::ok(&s, human)
        }
        InvoiceAction::PaymentReverse { number, payment, reason } => {
            let mut ws = Workspace::open(workspace)?;
            let reversed = ws.write(|tx| invoice::reverse_payment(tx, &number, payment, &reason, now))?;
            let s = register::settlement(ws.conn(), reversed, settings::today(ws.conn(), now)?)?;
            let currency = s.invoice.frozen.draft.currency.clone();
            let human = format!(
                "{number}: payment #{payment} reversed ({reason}); paid {} {currency}, {} {currency} still owed ({})",
                s.paid_amount,
                s.outstanding,
                s.standing.as_str().replace('_', " ")
            );
            Outcome::ok(&s, human)
        }
        InvoiceAction::Send { number, to } => {
            let mut ws = Workspace::open(workspace)?;
            let mut transport = crate::mail::transport(&meterdesk_engine::mailing::mail_settings(ws.conn())?)?;
            let to = (!to.is_empty()).then(|| to.iter().flat_map(|t| meterdesk_engine::mail::addresses(t)).collect());
            let report = meterdesk_engine::mailing::send_document(&mut ws, &number, to, &mut transport, now)?;
            let sent = report.status == meterdesk_engine::outbox::Status::Sent;
            let human = match &report.error {
                None => format!("{number} sent to {} ({})", report.to.join(", "), report.message_id),
                Some(error) => format!(
                    "{number} is queued in the outbox, not sent: {error}\n(`meterdesk outbox retry` sends it again)"
                ),
            };
            Ok(Outcome { success: sent, ..Outcome::ok(&report, human)? })
        }
        InvoiceAction::Paid { number, date, reference } => {
            let mut ws = Workspace::open(workspace)?;
            let paid = ws.write(|tx| invoice::mark_paid(tx, &number, date, &reference, now))?;
            Outcome::ok(&paid, format!("{number} paid on {date} ({reference})"))
        }
        InvoiceAction::List => {
            let ws = Workspace::open(workspace)?;
            let entries = register::entries(ws.conn(), settings::today(ws.conn(), now)?)?;
            let human = entries
                .iter()
                .map(|e| {
                    format!(
                        "{:<16} {:<28} {}  {:<8} {:>14} {}  owed {}",
                        e.number,
                        e.customer,
                        e.first_day,
                        e.standing.as_str(),
                        e.total.to_string(),
                        e.currency,
                        e.outstanding
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            Outcome::ok(&entries, human)
        }
        InvoiceAction::Show { number } => {
            let ws = Workspace::open(workspace)?;
            let found = invoice::get(ws.conn(), &number)?
                .ok_or_else(|| Error::NotFound(format!("no finalized invoice {number}")))?;
            let mut human = format!(
                "{number} ({}), issued {}, due {}\n",
                format!("{:?}", found.frozen.draft.status).to_lowercase(),
                found.frozen.issue_date,
                found.frozen.due_date
            );
            human.push_str(&draft_text(&found.frozen.draft));
            for p in &found.payments {
                human.push_str(&format!(
                    "\npayment #{}: {} {} on {} by {} ({}){}",
                    p.id,
                    p.amount,
                    found.frozen.draft.currency,
                    p.date,
                    p.method.words(),
                    p.reference,
                    p.reversed.as_ref().map(|r| format!(", reversed: {r}")).unwrap_or_default()
                ));
            }
            human.push_str("\nhistory:");
            for t in register::trail(ws.conn(), &number)? {
                human.push_str(&format!("\n  {}  {}", t.at.format("%Y-%m-%d %H:%M UTC"), t.sentence));
            }
            Outcome::ok(&found, human)
        }
        InvoiceAction::Credit { number, reason, full, line, amount, refund_to } => {
            let refund_to = credit::RefundTo::parse(&refund_to).ok_or_else(|| {
                Error::invalid("--refund-to", format!("\"{refund_to}\" is not where a refund goes: customer or wallet"))
            })?;
            let request = match (full, line.is_empty(), amount) {
                (true, _, _) => credit::Request::Full,
                (false, true, Some(a)) => credit::Request::Amount(a.0),
                (false, false, None) => {
                    let mut lines = Vec::new();
                    for (i, text) in line.iter().enumerate() {
                        let parsed = text.split_once('=').and_then(|(n, v)| {
                            Some((n.trim().parse::<usize>().ok()?, v.trim().parse::<meterdesk_engine::Dec>().ok()?.0))
                        });
                        let bad = || {
                            Error::invalid(format!("--line[{i}]"), format!("\"{text}\" is not N=NET, such as 3=12.50"))
                        };
                        lines.push(parsed.ok_or_else(bad)?);
                    }
                    credit::Request::Lines(lines)
                }
                _ => {
                    return Err(Error::invalid("--full", "say what to credit: --full, --line N=NET or --amount GROSS"));
                }
            };
            let mut ws = Workspace::open(workspace)?;
            let note = ws.write(|tx| credit::issue_with(tx, &number, &reason, &request, refund_to, now))?;
            let mut human = format!("{}: {} {} credited on {number}", note.number, note.total, note.currency);
            if !note.credits_returned.0.is_zero() {
                human += &format!(", {} {} of it returned to prepaid credit", note.credits_returned, note.currency);
            }
            if let Some(r) = &note.refund {
                let to = match r.to {
                    credit::RefundTo::Customer => "to refund to the customer",
                    credit::RefundTo::Wallet => "added to the wallet",
                };
                human += &format!(", {} {} overpaid {to}", r.amount, note.currency);
            }
            Outcome::ok(&note, human)
        }
        InvoiceAction::Export { from, to, out } => {
            let ws = Workspace::open(workspace)?;
            let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", out.display()));
            let mut file = std::io::BufWriter::new(std::fs::File::create(&out).map_err(io)?);
            let n = register::accounting_csv(ws.conn(), from, to, settings::today(ws.conn(), now)?, &mut file)?;
            std::io::Write::flush(&mut file).map_err(io)?;
            Outcome::ok(
                json!({ "path": out.display().to_string(), "invoices": n.invoices, "credit_notes": n.credit_notes,
                        "voids": n.voids, "payments": n.payments, "payment_reversals": n.payment_reversals }),
                format!(
                    "wrote {} invoices, {} credit notes, {} voids, {} payments and {} payment reversals to {}",
                    n.invoices,
                    n.credit_notes,
                    n.voids,
                    n.payments,
                    n.payment_reversals,
                    out.display()
                ),
            )
        }
        InvoiceAction::Pdf { number, out, paper } => {
            let paper = paper.map(|p| pdf::Paper::parse(&p).map_err(|m| Error::invalid("--paper", m))).transpose()?;
            let ws = Workspace::open(workspace)?;
            let bytes = pdf::document(ws.conn(), &number, paper)?;
            std::fs::write(&out, bytes).map_err(|e| Error::Io(format!("cannot write {}: {e}", out.display())))?;
            Outcome::ok(json!({ "path": out.display().to_string() }), format!("wrote {}", out.display()))
        }
    }
}

/// A draft as a person reads it: one row per line, then the totals.
fn draft_text(d: &bill::Draft) -> String {
    let mut out = format!(
        "Draft invoice for {} ({} on plan {} v{})\nPeriod {} to {}, {} of {} days active, {}\n",
        d.customer,
        d.subscription,
        d.plan,
        d.plan_version,
        d.first_day,
        d.last_day,
        d.active_days,
        d.period_days,
        d.currency
    );
    for l in &d.lines {
        out.push_str(&format!("  {:<40} {:>16} {:>14}\n", l.description, l.quantity.to_string(), l.amount.to_string()));
    }
    let tax = match d.tax_rate {
        Some(r) => format!("Tax {}%", r.0.saturating_mul(100.into()).normalize()),
        None => "Tax (exempt)".to_string(),
    };
    for (label, amount) in [
        ("Subtotal", d.subtotal),
        (tax.as_str(), d.tax),
        ("Total", d.total),
        ("Credits applied", d.credits_applied),
        ("Amount due", d.amount_due),
    ] {
        out.push_str(&format!("  {label:<57} {:>14}\n", amount.to_string()));
    }
    if let Some(a) = &d.allowance {
        out.push_str(&format!("  {}\n", a.in_words(&d.currency)));
    }
    if d.unbilled_events > 0 {
        out.push_str(&format!(
            "  Not billed: {} event{} of {} in this period fall{} outside every subscription\n",
            d.unbilled_events,
            if d.unbilled_events == 1 { "" } else { "s" },
            d.customer,
            if d.unbilled_events == 1 { "s" } else { "" },
        ));
    }
    out.trim_end().to_string()
}
