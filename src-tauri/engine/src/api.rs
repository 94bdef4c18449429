//! The use cases the two faces share. The CLI's subcommands and the window's
//! commands parse their input, call one function here, and render what it
//! returns, so a finalize or an import behaves the same from either. What
//! must follow a change (the wallet rules evaluated after usage arrives or
//! invoices are finalized; the signals raised when the dashboard computes
//! them) follows it here, once.

use std::ops::ControlFlow;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::bill::Kind;
use crate::error::Result;
use crate::event_file::{CsvColumns, Format};
use crate::events::{self, ImportProgress};
use crate::import::ImportReport;
use crate::invoice::{self, Finalized, Invoice, Selection};
use crate::late;
use crate::period::Month;
use crate::projection::{self, Evaluation};
use crate::wallet;
use crate::workspace::Workspace;

/// A change that was made, and what its follow-up found.
#[derive(Debug)]
pub struct Followed<T> {
    pub done: T,
    /// What followed the change: the wallet rules' top-ups granted and the
    /// alerts raised (the dashboard's: its signals). An evaluation that failed
    /// leaves the change standing and says why here.
    pub wallets: std::result::Result<Evaluation, String>,
}

fn follow<T>(ws: &mut Workspace, done: T, now: DateTime<Utc>) -> Followed<T> {
    let wallets = projection::evaluate(ws, now).and_then(|mut evaluation| {
        // The usage and spend alert rules, against the same running periods.
        evaluation.alerts.extend(crate::alert_rules::evaluate(ws, now)?);
        Ok(evaluation)
    });
    Followed { done, wallets: wallets.map_err(|e| e.to_string()) }
}

/// Finalizes the chosen drafts of `month` (see [`invoice::finalize_chosen`]),
/// then evaluates the wallet rules.
pub fn finalize(
    ws: &mut Workspace,
    month: Month,
    kind: Kind,
    selection: Selection,
    now: DateTime<Utc>,
) -> Result<Followed<Finalized>> {
    let done = invoice::finalize_chosen(ws, month, kind, selection, now)?;
    Ok(follow(ws, done, now))
}

/// How the columns of a CSV event file are found.
#[derive(Debug, Clone)]
pub enum Columns<'a> {
    /// The standard names (`id`, `customer`, `type`, `timestamp`).
    Standard,
    /// A mapping saved in the workspace under this name.
    Saved(&'a str),
    /// Given with the import (the window's column picker).
    Given(&'a CsvColumns),
}

/// Imports an event file, reporting progress (which may cancel), then
/// evaluates the wallet rules.
pub fn import_events(
    ws: &mut Workspace,
    path: &Path,
    format: Option<Format>,
    columns: Columns,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(&ImportProgress) -> ControlFlow<()>,
) -> Result<Followed<ImportReport>> {
    let columns = match columns {
        Columns::Standard => CsvColumns::default(),
        Columns::Saved(name) => events::mapping(ws.conn(), name)?,
        Columns::Given(columns) => columns.clone(),
    };
    let report = events::import_file_with(ws, path, format, &columns, now, progress)?;
    Ok(follow(ws, report, now))
}

/// Replaces a customer's wallet rules, then evaluates the rules at once (a
/// line already crossed tops up or alerts now, not at the next import).
pub fn set_wallet_rules(
    ws: &mut Workspace,
    customer: &str,
    rules: &wallet::Rules,
    now: DateTime<Utc>,
) -> Result<Followed<wallet::Rules>> {
    let saved = ws.write(|tx| wallet::set_rules(tx, customer, rules, now))?;
    Ok(follow(ws, saved, now))
}

/// Issues the adjustment invoice of period invoice `number`'s late usage (see
/// [`late::adjust`]), then evaluates the wallet rules (its credits may burn).
pub fn adjust_late(ws: &mut Workspace, number: &str, now: DateTime<Utc>) -> Result<Followed<Invoice>> {
    let done = ws.write(|tx| late::adjust(tx, number, now))?;
    Ok(follow(ws, done, now))
}

/// The drafts around a plan change before it is made: subscription `id`
/// moved to `plan` on `on` (see [`crate::subscription::change`]), the
/// periods holding the last day on the old plan and the first on the new
/// one, prorated on both sides. Nothing is saved; a change that would be
/// refused is refused here the same way.
pub fn preview_plan_change(
    ws: &mut Workspace,
    id: &str,
    plan: &str,
    on: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Result<Vec<crate::bill::Draft>> {
    ws.rehearse(|tx| {
        let (ended, next) = crate::subscription::change(tx, id, plan, on, now)?;
        let tz = crate::settings::zone(tx)?;
        crate::rollup::refresh(tx, tz)?;
        let last_old = on.pred_opt().unwrap_or(on);
        let mut months: Vec<Month> = Vec::new();
        for (sub, day) in [(&ended, last_old), (&next, on)] {
            let fields = crate::plan::version(tx, &sub.fields.plan, sub.version())?;
            let (first, _) = sub.schedule(&fields)?.dates_containing(day)?;
            if !months.contains(&Month::of(first)) {
                months.push(Month::of(first));
            }
        }
        let both = [ended.clone(), next.clone()];
        let mut drafts = Vec::new();
        let mut usage = crate::rollup::Rollups::new(tx, tz)?;
        for month in months {
            drafts.extend(crate::bill::drafts(tx, &mut usage, &both, month)?);
        }
        drafts.retain(|d| {
            (d.subscription == ended.fields.id && d.first_day <= last_old && last_old < d.end_day)
                || (d.subscription == next.fields.id && d.first_day <= on && on < d.end_day)
        });
        Ok(drafts)
    })
}

/// The group values meter `meter` has seen (for one customer, or any): the
/// rollups brought up to date first, so an import a moment ago counts.
pub fn groups_seen(ws: &mut Workspace, meter: &str, customer: Option<&str>) -> Result<Vec<String>> {
    crate::meter::require(ws.conn(), meter)?;
    let tz = crate::settings::zone(ws.conn())?;
    ws.try_write(|tx| crate::rollup::refresh(tx, tz))?;
    crate::rollup::groups_seen(ws.conn(), meter, customer, 500)
}

/// The dashboard on `now`'s day (see [`crate::report::dashboard`]), then its
/// signals raised into the inbox, each once (a churn risk or power user for
/// the same period or silence is not raised again). A raise that failed
/// leaves the dashboard standing and says why.
pub fn dashboard(ws: &mut Workspace, now: DateTime<Utc>) -> Result<Followed<crate::report::Dashboard>> {
    let mut done = crate::report::dashboard(ws, now)?;
    let wallets = crate::report::raise_signals(ws, &done.signals, now)
        .inspect(|raised| done.open_alerts += raised.len() as u32)
        .map(|alerts| Evaluation { topups: Vec::new(), alerts })
        .map_err(|e| e.to_string());
    Ok(Followed { done, wallets })
}
