//! Wallet speed (issue 6): finalizing N invoices (1,000 by default) with
//! wallets against the same without, and reading the balance of a customer
//! whose ledger holds 100,000 entries.
//! `cargo bench -p meterdesk-engine --bench wallet`.

use std::path::Path;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use meterdesk_engine::{Workspace, catalog, invoice, wallet};
use rust_decimal::Decimal;

mod common;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Finalizes October in a fresh copy of `base`; returns the seconds and the credits applied.
fn finalize_copy(base: &Path, copy: &Path, now: chrono::DateTime<Utc>, n: u64) -> (f64, Decimal) {
    std::fs::copy(base, copy).unwrap();
    let mut ws = Workspace::open(copy).unwrap();
    // The run's automatic backup is timed apart (`backup` below): this is the finalizing.
    let mut settings = meterdesk_engine::settings::get(ws.conn()).unwrap();
    settings.backups_keep = 0;
    ws.write(|tx| meterdesk_engine::settings::update(tx, settings)).unwrap();
    let start = Instant::now();
    let done = invoice::finalize_month(&mut ws, common::october(), None, now).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!((done.invoices.len() as u64, done.failures.len()), (n, 0));
    let credits = done.invoices.iter().map(|i| i.frozen.draft.credits_applied.0).sum();
    drop(ws);
    std::fs::remove_file(copy).unwrap();
    (seconds, credits)
}

fn main() {
    let n = env("METERDESK_BENCH_INVOICES", 1000);
    let rounds = env("METERDESK_BENCH_ROUNDS", 5) as usize;
    let entries = env("METERDESK_BENCH_LEDGER", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
    let plain = dir.path().join("plain.meterdesk");
    drop(common::invoicing_workspace(&plain, n, now));
    // Every customer gets three grants: one expiring in December with a
    // rollover rule, one of higher priority, one that never expires.
    let with = dir.path().join("wallets.meterdesk");
    std::fs::copy(&plain, &with).unwrap();
    {
        let wallets: Vec<_> = (0..n)
            .map(|c| {
                serde_json::json!({ "customer": format!("cus_{c:05}"), "grants": [
                    { "id": "commit", "amount": "20.00", "kind": "paid", "expires": "2026-12-31",
                      "rollover": { "percent": "50" } },
                    { "id": "promo", "amount": "5.00", "kind": "free", "expires": "2026-12-31", "priority": 2 },
                    { "id": "topup", "amount": "50.00", "kind": "paid", "reference": "PAY-1" } ] })
            })
            .collect();
        let text = serde_json::json!({ "wallets": wallets }).to_string();
        let mut ws = Workspace::open(&with).unwrap();
        let granted = Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap();
        ws.write(|tx| catalog::apply(tx, catalog::parse(&text)?, granted)).unwrap();
    }
    let copy = dir.path().join("copy.meterdesk");
    let (mut without_s, mut with_s) = (Vec::new(), Vec::new());
    let mut credits = Decimal::ZERO;
    for _ in 0..rounds {
        without_s.push(finalize_copy(&plain, &copy, now, n).0);
        let (s, c) = finalize_copy(&with, &copy, now, n);
        with_s.push(s);
        credits = c;
    }
    let (a, b) = (median(without_s.clone()), median(with_s.clone()));
    let list = |v: &[f64]| v.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>().join(", ");
    println!("finalize {n} invoices without wallets  {a:>6.2} s median of {rounds} ({})", list(&without_s));
    println!("finalize {n} invoices with 3 grants each {b:>6.2} s median of {rounds} ({})", list(&with_s));
    println!("wallets add {:+.1}% (target < 20%); {credits} of credits applied", (b / a - 1.0) * 100.0);
    // The backup every finalize run takes first, of the same workspace.
    let ws = Workspace::open(&with).unwrap();
    let times: Vec<f64> = (0..rounds)
        .map(|i| {
            let out = dir.path().join(format!("backup-{i}.meterdesk"));
            let start = Instant::now();
            let written = meterdesk_engine::backup::write(&ws, &out).unwrap();
            let seconds = start.elapsed().as_secs_f64();
            std::fs::remove_file(&written.path).unwrap();
            seconds
        })
        .collect();
    let bytes = std::fs::metadata(&with).unwrap().len();
    println!("backup before a finalize run      {:.3} s median of {rounds} ({bytes} bytes)", median(times));
    drop(ws);

    // Rules on every customer: one evaluation (as after an import) in November.
    let mut ws = Workspace::open(&with).unwrap();
    let rules = wallet::Rules {
        topup_below: Some("30".parse().unwrap()),
        topup_amount: Some("100".parse().unwrap()),
        alert_percent: Some("50".parse().unwrap()),
        expiry_days: Some(60),
        ..wallet::Rules::default()
    };
    ws.write(|tx| {
        for c in 0..n {
            wallet::set_rules(tx, &format!("cus_{c:05}"), &rules, now)?;
        }
        Ok(())
    })
    .unwrap();
    let november = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    let start = Instant::now();
    let first = meterdesk_engine::projection::evaluate(&mut ws, november).unwrap();
    let first_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let again = meterdesk_engine::projection::evaluate(&mut ws, november).unwrap();
    let again_s = start.elapsed().as_secs_f64();
    println!(
        "evaluate rules of {n} customers       {first_s:>6.2} s ({} top-ups, {} alerts); again {again_s:.2} s ({} new)",
        first.topups.len(),
        first.alerts.len(),
        again.alerts.len()
    );

    // One customer whose ledger holds `entries` entries.
    let start = Instant::now();
    ws.write(|tx| {
        wallet::adjust(tx, "cus_00000", "topup", Decimal::new(1_000_000, 0), "a large top-up", now)?;
        for _ in 0..entries.saturating_sub(4) {
            wallet::adjust(tx, "cus_00000", "topup", Decimal::new(-1, 2), "tick", now)?;
        }
        Ok(())
    })
    .unwrap();
    let written = start.elapsed().as_secs_f64();
    let count: i64 = ws
        .conn()
        .query_row(
            "SELECT count(*) FROM wallet_entries e JOIN customers c ON c.id = e.customer_id WHERE c.external_id = 'cus_00000'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    println!("wrote a ledger of {count} entries in {written:.2} s ({:.0} entries/s)", count as f64 / written);
    let time = |f: &mut dyn FnMut()| {
        let mut v = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            f();
            v.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        median(v)
    };
    let balance = time(&mut || {
        wallet::balance(ws.conn(), "cus_00000").unwrap();
    });
    let whole = time(&mut || {
        wallet::wallet(ws.conn(), "cus_00000").unwrap();
    });
    let settled = time(&mut || {
        wallet::read(&mut ws, "cus_00000", now).unwrap();
    });
    println!("balance of that customer            {balance:>8.3} ms median of 200 (target < 5 ms)");
    println!("its wallet with its 3 grants         {whole:>8.3} ms");
    println!("the same, expiries settled first     {settled:>8.3} ms (a write transaction)");
}
