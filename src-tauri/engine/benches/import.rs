//! Import speed: N generated events (random ids) from a CSV file into a fresh
//! workspace, against appending the same rows into an unindexed table, in the
//! same run. `METERDESK_BENCH_EVENTS=10000000 cargo bench -p meterdesk-engine --bench import`.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use meterdesk_engine::event_file::{self, CsvColumns, Format};
use meterdesk_engine::events::{self, ImportOptions};
use meterdesk_engine::{Workspace, catalog, explore, usage};

const CUSTOMERS: u64 = 1000;
mod common;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

fn median(rates: &mut [f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Appends the file's rows into an unindexed table, a transaction per import batch; events/s.
fn baseline(csv_path: &Path, db_path: &Path, n: u64) -> f64 {
    let conn = rusqlite::Connection::open(db_path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE events (customer TEXT, type TEXT, ts_ms INTEGER, id TEXT, properties TEXT) STRICT;",
    )
    .unwrap();
    let start = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(csv_path).unwrap());
    let mut in_batch = 0;
    let mut properties = Vec::new();
    conn.execute_batch("BEGIN").unwrap();
    {
        let mut stmt = conn.prepare("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5)").unwrap();
        event_file::read(Format::Csv, &CsvColumns::default(), file, &mut |row, _| {
            let e = row.unwrap();
            properties.clear();
            e.properties.write_json(&mut properties);
            let props = std::str::from_utf8(&properties).unwrap();
            let ts = e.timestamp.timestamp_millis();
            stmt.execute(rusqlite::params![e.customer.as_ref(), e.event_type.as_ref(), ts, e.id.as_ref(), props])
                .unwrap();
            in_batch += 1;
            if in_batch == events::DEFAULT_BATCH {
                conn.execute_batch("COMMIT; BEGIN").unwrap();
                in_batch = 0;
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    rate
}

/// A fresh workspace with the customers and meters the events name.
fn workspace(path: &Path, now: DateTime<Utc>) -> Workspace {
    let mut ws = Workspace::create(path).unwrap();
    let customers: Vec<_> = (0..CUSTOMERS)
        .map(|c| serde_json::json!({ "id": format!("cus_{c:04}"), "name": format!("Customer {c}") }))
        .collect();
    let meters = common::meters();
    let text = serde_json::json!({ "workspace": { "timezone": "America/New_York" }, "customers": customers, "meters": meters }).to_string();
    ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, now)).unwrap();
    ws
}

fn import_once(ws: &mut Workspace, csv_path: &Path, now: DateTime<Utc>) -> meterdesk_engine::import::ImportReport {
    let file = std::fs::File::open(csv_path).unwrap();
    events::import(ws, file, &ImportOptions::new("events.csv", Format::Csv), now, &mut |_| ControlFlow::Continue(()))
        .unwrap()
}

fn main() {
    let n: u64 = std::env::var("METERDESK_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("events.csv");
    let month_start = Utc.with_ymd_and_hms(2026, 10, 1, 4, 0, 0).unwrap().timestamp_millis();
    common::write_october_events(&csv_path, n, CUSTOMERS);
    let bytes = std::fs::metadata(&csv_path).unwrap().len();
    println!(
        "events: {n}, file {:.0} MB, machine: {} cores",
        bytes as f64 / 1e6,
        std::thread::available_parallelism().unwrap()
    );

    // Parsing alone.
    let start = Instant::now();
    let mut rows = 0u64;
    let file = std::io::BufReader::new(std::fs::File::open(&csv_path).unwrap());
    event_file::read(Format::Csv, &CsvColumns::default(), file, &mut |_, _| {
        rows += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    let parse_rate = rows as f64 / start.elapsed().as_secs_f64();
    println!("parse only                       {:>10.0} events/s", parse_rate);

    // Baseline and import alternate, ROUNDS times each (this VM is noisy);
    // each reports its median and the ratio of the two medians.
    let rounds: usize = std::env::var("METERDESK_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let (mut baseline_rates, mut import_rates) = (Vec::new(), Vec::new());
    let mut ws = None;
    // Peak memory of the imports: reset the high-water mark (Linux) after
    // generating the file; the baseline's memory is small next to it.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    for round in 0..rounds {
        baseline_rates.push(baseline(&csv_path, &dir.path().join(format!("baseline{round}.sqlite")), n));
        let path = dir.path().join(format!("bench{round}.meterdesk"));
        let mut fresh = workspace(&path, now);
        let start = Instant::now();
        let report = import_once(&mut fresh, &csv_path, now);
        import_rates.push(n as f64 / start.elapsed().as_secs_f64());
        assert_eq!((report.accepted, report.rejected), (n, 0), "{report:?}");
        if round + 1 < rounds {
            drop(fresh);
            let _ = std::fs::remove_file(&path);
        } else {
            ws = Some((fresh, path));
        }
    }
    let (baseline_rate, import_rate) = (median(&mut baseline_rates), median(&mut import_rates));
    let list = |rates: &[f64]| rates.iter().map(|r| format!("{:.0}k", r / 1e3)).collect::<Vec<_>>().join(", ");
    println!(
        "unindexed append (baseline)      {baseline_rate:>10.0} events/s  median of {rounds} ({})",
        list(&baseline_rates)
    );
    println!(
        "import (new events)              {import_rate:>10.0} events/s  median of {rounds} ({}); {:.2}x the baseline",
        list(&import_rates),
        import_rate / baseline_rate
    );
    let (mut ws, ws_path) = ws.expect("one round at least");
    let start = Instant::now();
    let report = import_once(&mut ws, &csv_path, now);
    let rate = n as f64 / start.elapsed().as_secs_f64();
    assert_eq!((report.accepted, report.duplicates), (0, n));
    println!("re-import (all duplicates)       {rate:>10.0} events/s  {:.2}x the baseline", rate / baseline_rate);
    println!("peak memory (import phases)      {:>10.0} MB", peak_rss_mb());
    let chunk_bytes: i64 = ws.conn().query_row("SELECT sum(length(data)) FROM event_chunks", [], |r| r.get(0)).unwrap();
    let chunks: i64 = ws.conn().query_row("SELECT count(*) FROM event_chunks", [], |r| r.get(0)).unwrap();
    println!(
        "stored                           {:>10.1} bytes/event in chunks ({chunks} chunks; file {:.0} MB)",
        chunk_bytes as f64 / n as f64,
        std::fs::metadata(&ws_path).unwrap().len() as f64 / 1e6
    );

    let (from, to) =
        (Utc.timestamp_millis_opt(month_start).unwrap(), Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap());
    let mut samples = Vec::new();
    for c in 0..101 {
        let customer = format!("cus_{:04}", c * 7 % CUSTOMERS);
        let start = Instant::now();
        usage::value(ws.conn(), "input_tokens", &customer, from, to, None).unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "usage, one customer, one month   {:>10.2} ms median, {:.2} ms max ({} events per customer-type-month)",
        samples[50].as_secs_f64() * 1e3,
        samples[100].as_secs_f64() * 1e3,
        n / CUSTOMERS / 5
    );

    // The events explorer: a page of 200 rows at the start, the middle and the end, unfiltered and for one customer.
    for (label, query) in [
        ("all events", explore::EventQuery::default()),
        ("one customer", explore::EventQuery { customer: Some("cus_0007".into()), ..Default::default() }),
    ] {
        let total = explore::page(ws.conn(), &query, 0, 1).unwrap().total;
        let mut times = Vec::new();
        for offset in [0, total / 2, total.saturating_sub(200)] {
            let start = Instant::now();
            let page = explore::page(ws.conn(), &query, offset, 200).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            assert!(!page.rows.is_empty());
        }
        println!(
            "explorer page of 200, {label:<13}{:>7.1} ms first, {:.1} ms middle, {:.1} ms last ({total} events)",
            times[0], times[1], times[2]
        );
    }
}
