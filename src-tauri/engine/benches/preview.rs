//! Bill preview speed: every customer's draft for a month, on C customers with
//! a subscription to a plan charging 5 meters, and N events in the month.
//! `METERDESK_BENCH_EVENTS=10000000 METERDESK_BENCH_CUSTOMERS=1000 cargo bench -p meterdesk-engine --bench preview`
//! (those are the defaults). Reports the import, the rollup build, the preview
//! of all customers on the rollups (median of rounds) and, once, on the raw events.

use std::ops::ControlFlow;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use meterdesk_engine::bill;
use meterdesk_engine::event_file::Format;
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::usage::RawEvents;
use meterdesk_engine::{Workspace, catalog, rollup, subscription};

mod common;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let n = env("METERDESK_BENCH_EVENTS", 10_000_000);
    let customers = env("METERDESK_BENCH_CUSTOMERS", 1000);
    let rounds = env("METERDESK_BENCH_ROUNDS", 5) as usize;
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("events.csv");
    common::write_october_events(&csv_path, n, customers);
    println!(
        "events: {n} in October 2026, customers: {customers}, meters: 5, machine: {} cores",
        std::thread::available_parallelism().unwrap()
    );

    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let path = dir.path().join("bench.meterdesk");
    let mut ws = Workspace::create(&path).unwrap();
    let (list, subs) = common::customers_on_pro(customers, "2026-09-01");
    let text = serde_json::json!({
        "workspace": { "timezone": "America/New_York" },
        "customers": list,
        "meters": [
            { "code": "input_tokens", "name": "Input tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "output_tokens", "name": "Output tokens", "aggregation": "sum", "property": "tokens", "group_by": "model" },
            { "code": "api_calls", "name": "API calls", "aggregation": "count" },
            { "code": "storage_gb", "name": "Storage", "aggregation": "max", "property": "gb" },
            { "code": "active_seats", "name": "Seats", "aggregation": "unique_count", "property": "user_id" }
        ],
        "plans": [ { "code": "pro", "name": "Pro", "currency": "USD", "interval": "month",
            "fees": [ { "name": "Platform fee", "amount": "99.00", "timing": "advance" } ],
            "minimum_commitment": "100.00",
            "charges": [
                { "meter": "input_tokens", "group": "gpt-4o", "model": "graduated",
                  "tiers": [ { "up_to": "100000", "unit_price": "0.0000025" }, { "up_to": null, "unit_price": "0.000002" } ] },
                { "meter": "input_tokens", "group": "o3", "model": "per_unit", "unit_price": "0.00001" },
                { "meter": "output_tokens", "model": "volume",
                  "tiers": [ { "up_to": "1000000", "unit_price": "0.00001" }, { "up_to": null, "unit_price": "0.000008" } ] },
                { "meter": "api_calls", "model": "per_unit", "unit_price": "0.0005", "included": "1000" },
                { "meter": "storage_gb", "model": "package", "package_size": "10", "package_price": "5.00" },
                { "meter": "active_seats", "model": "per_unit", "unit_price": "20.00", "included": "5" }
            ] } ],
        "subscriptions": subs
    })
    .to_string();
    ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now)).unwrap();

    let start = Instant::now();
    let file = std::fs::File::open(&csv_path).unwrap();
    let report = events::import(&mut ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!((report.accepted, report.rejected), (n, 0));
    let import_s = start.elapsed().as_secs_f64();
    println!("import                           {import_s:>8.2} s  ({:.0} events/s)", n as f64 / import_s);

    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let start = Instant::now();
    let built = ws.write(|tx| rollup::refresh(tx, tz)).unwrap();
    let build_s = start.elapsed().as_secs_f64();
    println!(
        "rollup build                     {build_s:>8.2} s  ({:.0} events/s; {} day rows)",
        built.events as f64 / build_s,
        built.days
    );

    let mut times = Vec::new();
    let mut total = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        let drafts = bill::preview_all(&mut ws, common::october()).unwrap();
        times.push(start.elapsed().as_secs_f64());
        total = drafts.len();
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "preview all customers (rollups)  {:>8.3} s  median of {rounds} ({}); {total} drafts",
        sorted[rounds / 2],
        times.iter().map(|t| format!("{:.3}", t)).collect::<Vec<_>>().join(", ")
    );

    // The same drafts from the raw events, once; they must agree.
    let conn = ws.conn();
    let subs = subscription::all(conn).unwrap();
    let start = Instant::now();
    let raw = bill::drafts(conn, &mut RawEvents::new(conn), &subs, common::october()).unwrap();
    let raw_s = start.elapsed().as_secs_f64();
    let rolled = bill::preview_all(&mut ws, common::october()).unwrap();
    assert_eq!(raw, rolled, "the rollups and the raw events give the same drafts");
    println!("preview all customers (raw)      {raw_s:>8.3} s  (same drafts)");
}
