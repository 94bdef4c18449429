//! Invoice speed: finalize N invoices of 10 lines each (1,000 by default), then
//! render their PDFs on one thread. `METERDESK_BENCH_INVOICES=1000 cargo bench
//! -p meterdesk-engine --bench pdf`. Reports invoices/s and PDF sizes, also
//! with buyers named in Japanese, Korean and emoji (the fallback faces).

use std::time::Instant;

use chrono::{TimeZone, Utc};
use meterdesk_engine::invoice;
use meterdesk_engine::pdf::{self, Paper};

mod common;

fn main() {
    let n: u64 = std::env::var("METERDESK_BENCH_INVOICES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
    let mut ws = common::invoicing_workspace(&dir.path().join("bench.meterdesk"), n, now);

    let start = Instant::now();
    let done = invoice::finalize_month(&mut ws, common::october(), None, now).unwrap();
    let finalize_s = start.elapsed().as_secs_f64();
    assert_eq!((done.invoices.len() as u64, done.failures.len()), (n, 0));
    let lines = done.invoices[0].frozen.draft.lines.len();
    println!(
        "finalize {n} invoices ({lines} lines each)  {finalize_s:>7.2} s  ({:.0} invoices/s, each its own transaction)",
        n as f64 / finalize_s
    );

    let invoices = invoice::all(ws.conn()).unwrap();
    // One round to warm the font cache, then the measured ones.
    pdf::render(&invoices[0], &pdf::Look::plain(Paper::A4)).unwrap();
    let rounds = 3;
    let mut rates = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..rounds {
        sizes.clear();
        let start = Instant::now();
        for inv in &invoices {
            sizes.push(pdf::render(inv, &pdf::Look::plain(Paper::A4)).unwrap().len());
        }
        rates.push(invoices.len() as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    sizes.sort_unstable();
    println!(
        "render PDFs, one thread           {:>7.0} invoices/s  median of {rounds} ({})",
        rates[rounds / 2],
        rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "PDF size                          {:>7.1} KB median, {:.1} KB max (one page, embedded subset font)",
        sizes[sizes.len() / 2] as f64 / 1024.0,
        sizes[sizes.len() - 1] as f64 / 1024.0
    );

    // With the demo logo (a 360 × 80 PNG), the usage appendix (a second page), and both.
    let logo = include_bytes!("../../../assets/demo-logo.png").as_slice();
    for (what, look) in [
        ("with the logo", pdf::Look { paper: Paper::A4, usage_appendix: false, logo: Some(logo) }),
        ("with the usage appendix", pdf::Look { paper: Paper::A4, usage_appendix: true, logo: None }),
        ("with both", pdf::Look { paper: Paper::A4, usage_appendix: true, logo: Some(logo) }),
    ] {
        sizes.clear();
        let start = Instant::now();
        for inv in &invoices {
            sizes.push(pdf::render(inv, &look).unwrap().len());
        }
        let rate = invoices.len() as f64 / start.elapsed().as_secs_f64();
        sizes.sort_unstable();
        println!("{what:<34}{rate:>7.0} invoices/s, {:.1} KB median", sizes[sizes.len() / 2] as f64 / 1024.0);
    }

    // Buyers named in CJK and emoji: the fallback faces are read on first use.
    let named: Vec<_> = invoices
        .iter()
        .enumerate()
        .map(|(i, inv)| {
            let mut inv = inv.clone();
            inv.frozen.buyer.name = format!("株式会社グローベックス {i} 🚀");
            inv.frozen.buyer.address = vec!["서울특별시 강남구 테헤란로 1".into()];
            inv
        })
        .collect();
    let look = pdf::Look::plain(Paper::A4);
    let start = Instant::now();
    pdf::render(&named[0], &look).unwrap();
    println!("first CJK and emoji PDF (reads the fallback faces) {:.1} ms", start.elapsed().as_secs_f64() * 1000.0);
    sizes.clear();
    let start = Instant::now();
    for inv in &named {
        sizes.push(pdf::render(inv, &look).unwrap().len());
    }
    let rate = named.len() as f64 / start.elapsed().as_secs_f64();
    sizes.sort_unstable();
    println!(
        "{:<34}{rate:>7.0} invoices/s, {:.1} KB median",
        "CJK and emoji names",
        sizes[sizes.len() / 2] as f64 / 1024.0
    );
}
