//! Business figures speed (issue 16): the dashboard and each report on the
//! demo as a first start has it (fourteen months of invoices, three months
//! of events and this month's), `ROUNDS` times each, medians printed.
//! `cargo bench -p meterdesk-engine --bench reports`.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use meterdesk_engine::period::Month;
use meterdesk_engine::{Workspace, demo, report};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..rounds {
        let start = Instant::now();
        last = Some(f());
        seconds.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    (median(seconds), last.expect("at least one round"))
}

fn main() {
    let rounds: usize = std::env::var("METERDESK_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.meterdesk");
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap();
    let start = Instant::now();
    let mut ws = Workspace::create(&path).unwrap();
    demo::build_with_history(&mut ws, now).unwrap();
    let today = ws.summary(now).unwrap().today;
    let events = demo::import_usage_through(&mut ws, now, Some(today)).unwrap().accepted;
    let invoices = meterdesk_engine::invoice::all(ws.conn()).unwrap().len();
    println!(
        "demo with history: {invoices} invoices, {events} events, built in {:.2} s; machine: {} cores",
        start.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // The demo builds its rollups with its usage: the first dashboard reads them too.
    let (first, _) = time(1, || report::dashboard(&mut ws, now).unwrap());
    println!("dashboard, first                  {first:>9.1} ms");
    let (ms, d) = time(rounds, || report::dashboard(&mut ws, now).unwrap());
    println!(
        "dashboard                         {ms:>9.1} ms  median of {rounds} ({} revenue rows, {} margins, {} signals)",
        d.revenue.len(),
        d.margins.len(),
        d.signals.len()
    );
    let m = |t: &str| Month::parse(t, "month").unwrap();
    let (ms, _) = time(rounds, || report::revenue(&mut ws, m("2025-12"), m("2026-11")).unwrap());
    println!("report revenue, 12 months         {ms:>9.1} ms");
    let (ms, _) = time(rounds, || report::margin(&mut ws, m("2026-10"), None).unwrap());
    println!("report margin, one month          {ms:>9.1} ms");
    let (ms, _) = time(rounds, || report::receivables(ws.conn(), today).unwrap());
    println!("report receivables                {ms:>9.1} ms");
    let (ms, _) = time(rounds, || report::signals(&mut ws, now).unwrap());
    println!("report signals                    {ms:>9.1} ms");
    use meterdesk_engine::bill::{self, Kind};
    let (ms, drafts) = time(rounds, || bill::preview(&mut ws, m("2026-10"), None, Kind::Period).unwrap());
    println!("  of which: the drafts of a month {ms:>9.1} ms ({} drafts)", drafts.len());
    let (ms, _) = time(rounds, || bill::periods(&ws, m("2026-05"), None, Kind::Period).unwrap());
    println!("  of which: a month's periods     {ms:>9.1} ms");
    let (ms, _) = time(rounds, || meterdesk_engine::invoice::all(ws.conn()).unwrap());
    println!("  of which: reading the invoices  {ms:>9.1} ms");
}
