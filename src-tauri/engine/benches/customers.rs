//! What the customer list costs with 100,000 customers: the pages the virtualized
//! table fetches while scrolling, and a search. `cargo bench -p meterdesk-engine`.

use std::time::{Duration, Instant};

use chrono::DateTime;
use meterdesk_engine::Workspace;
use meterdesk_engine::customer::{self, CustomerFields};

const CUSTOMERS: usize = 100_000;
const RUNS: usize = 21;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(label: &str, mut f: impl FnMut()) {
    let samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    println!("{label:<52} median {:>8.2} ms", median(samples).as_secs_f64() * 1e3);
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::create(&dir.path().join("bench.meterdesk")).unwrap();
    let start = Instant::now();
    ws.write(|tx| {
        for i in 0..CUSTOMERS {
            let fields = CustomerFields {
                id: format!("cus_{i:06}"),
                name: format!("Company {} {}", ["Alpha", "Beta", "Gamma", "Delta"][i % 4], i * 7919 % CUSTOMERS),
                email: Some(format!("billing{i}@example.test")),
                currency: None,
                tax_rate: None,
                tax_exempt: None,
                tax_id: None,
                address: vec!["1 Main St".into(), "Springfield".into()],
                archived: i % 50 == 0,
            };
            customer::insert(tx, &fields.validate("USD").unwrap(), DateTime::UNIX_EPOCH)?;
        }
        Ok(())
    })
    .unwrap();
    println!("inserted {CUSTOMERS} customers in one transaction: {:.0} ms", start.elapsed().as_secs_f64() * 1e3);

    let conn = ws.conn();
    measure("first page (200 rows, no search)", || {
        customer::page(conn, "", false, 0, 200).unwrap();
    });
    measure("page at row 50,000 (200 rows)", || {
        customer::page(conn, "", false, 50_000, 200).unwrap();
    });
    measure("last page (200 rows)", || {
        customer::page(conn, "", false, 97_800, 200).unwrap();
    });
    measure("search \"gamma 12\" (substring of name/id/email)", || {
        customer::page(conn, "gamma 12", false, 0, 200).unwrap();
    });
    measure("search \"billing99\" incl. archived", || {
        customer::page(conn, "billing99", true, 0, 200).unwrap();
    });
}
