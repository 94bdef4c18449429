//! Alert evaluation speed (issue 17): 1,000,000 events imported into a
//! workspace of 1,000 customers, each watched by three rules (a usage rule,
//! a spend amount, a percent of its cap); the evaluation that follows an
//! import, against the import's own time (which, with rules to evaluate,
//! includes keeping the daily rollups). `ROUNDS` fresh workspaces, medians.
//! `cargo bench -p meterdesk-engine --bench alerts`.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use meterdesk_engine::event_file::Format;
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::{Workspace, alert_rules, catalog};

mod common;

const CUSTOMERS: u64 = 1000;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 1,000 customers on a capped plan charging three of the events' meters,
/// and three rules each (or none).
fn workspace(path: &Path, now: DateTime<Utc>, rules: bool) -> Workspace {
    let mut ws = Workspace::create(path).unwrap();
    let (customers, subscriptions) = common::customers_on_pro(CUSTOMERS, "2026-10-01");
    let meters = common::meters();
    let plans = serde_json::json!([{ "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
        "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "arrears" } ],
        "maximum": "400.00",
        "charges": [
            { "meter": "input_tokens", "model": "per_unit", "unit_price": "0.0005" },
            { "meter": "output_tokens", "model": "per_unit", "unit_price": "0.0015" },
            { "meter": "api_calls", "model": "per_unit", "unit_price": "0.01", "included": "100" } ] }]);
    let alerts: Vec<_> = (0..CUSTOMERS)
        .flat_map(|c| {
            let customer = format!("cus_{c:04}");
            [
                serde_json::json!({ "id": format!("tokens_{c}"), "kind": "usage", "meter": "input_tokens",
                                    "group": "gpt-4o", "threshold": "200000", "customer": customer }),
                serde_json::json!({ "id": format!("spend_{c}"), "kind": "spend", "threshold": "350.00", "customer": customer }),
                serde_json::json!({ "id": format!("cap80_{c}"), "kind": "spend", "percent_of_maximum": "80", "customer": customer }),
            ]
        })
        .filter(|_| rules)
        .collect();
    let text = serde_json::json!({ "workspace": { "timezone": "America/New_York" }, "customers": customers,
        "meters": meters, "plans": plans, "subscriptions": subscriptions, "alerts": alerts })
    .to_string();
    ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now)).unwrap();
    ws
}

fn main() {
    let n: u64 = std::env::var("METERDESK_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rounds: usize = std::env::var("METERDESK_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    common::write_october_events(&csv, n, CUSTOMERS);
    let now = Utc.with_ymd_and_hms(2026, 10, 31, 20, 0, 0).unwrap();
    println!(
        "events: {n} in October 2026, customers: {CUSTOMERS}, rules: {}, machine: {} cores",
        3 * CUSTOMERS,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (mut imports, mut evaluations, mut again) = (Vec::new(), Vec::new(), Vec::new());
    // Peak memory of the rounds: the high-water mark (Linux) reset after the file is written.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut raised = 0;
    for round in 0..rounds {
        let path = dir.path().join(format!("alerts{round}.meterdesk"));
        let mut ws = workspace(&path, now, true);
        let file = std::fs::File::open(&csv).unwrap();
        let start = Instant::now();
        let report = events::import(&mut ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        imports.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(report.accepted, n);
        let start = Instant::now();
        raised = alert_rules::evaluate(&mut ws, now).unwrap().len();
        evaluations.push(start.elapsed().as_secs_f64() * 1000.0);
        let start = Instant::now();
        assert!(alert_rules::evaluate(&mut ws, now).unwrap().is_empty(), "each alert once");
        again.push(start.elapsed().as_secs_f64() * 1000.0);
        drop(ws);
        let _ = std::fs::remove_file(&path);
    }
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    let (import, evaluation) = (median(imports.clone()), median(evaluations.clone()));
    println!("import of {n} events            {import:>9.1} ms  median of {rounds} ({})", list(&imports));
    println!(
        "evaluation after it                {evaluation:>9.1} ms  median of {rounds} ({}); {:.1} % of the import; {raised} alerts raised",
        list(&evaluations),
        evaluation / import * 100.0
    );
    println!(
        "evaluation again (nothing new)     {:>9.1} ms  median of {rounds} ({})",
        median(again.clone()),
        list(&again)
    );
    println!("peak memory (import and evaluation) {:>8.0} MB", peak_rss_mb());
    // Where the first evaluation's time goes: the daily rollups (kept by the import: nothing to do), then the rest.
    // The same import with no rules: the rollups are left to the next read, which folds them.
    let (mut plain, mut folds) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let path = dir.path().join(format!("plain{round}.meterdesk"));
        let mut ws = workspace(&path, now, false);
        let file = std::fs::File::open(&csv).unwrap();
        let start = Instant::now();
        events::import(&mut ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        plain.push(start.elapsed().as_secs_f64() * 1000.0);
        let tz = meterdesk_engine::settings::zone(ws.conn()).unwrap();
        let start = Instant::now();
        ws.write(|tx| meterdesk_engine::rollup::refresh(tx, tz)).unwrap();
        folds.push(start.elapsed().as_secs_f64() * 1000.0);
        drop(ws);
        let _ = std::fs::remove_file(&path);
    }
    println!(
        "without rules: import           {:>9.1} ms  median of {rounds} ({}); the next read's refresh {:.1} ms ({})",
        median(plain.clone()),
        list(&plain),
        median(folds.clone()),
        list(&folds)
    );
    let path = dir.path().join("parts.meterdesk");
    let mut ws = workspace(&path, now, true);
    let file = std::fs::File::open(&csv).unwrap();
    events::import(&mut ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let tz = meterdesk_engine::settings::zone(ws.conn()).unwrap();
    let start = Instant::now();
    ws.write(|tx| meterdesk_engine::rollup::refresh(tx, tz)).unwrap();
    println!("  of which: the rollups refreshed  {:>9.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    let start = Instant::now();
    alert_rules::evaluate(&mut ws, now).unwrap();
    println!("  of which: the rest               {:>9.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    let today = now.with_timezone(&tz).date_naive();
    let start = Instant::now();
    let drafts = meterdesk_engine::bill::running_drafts(&mut ws, today, |_, _| true).unwrap();
    println!("  (the {} running drafts alone    {:>9.1} ms)", drafts.len(), start.elapsed().as_secs_f64() * 1000.0);
}
