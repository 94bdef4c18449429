//! Sending (issue 18): messages per second through the outbox to a real SMTP
//! server on loopback (tests/support/smtp_server.py, aiosmtpd) for 1,000
//! invoices, each with its PDF, plain and over STARTTLS with a login; and a
//! statement's render time on the demo's history.
//! `cargo bench -p meterdesk-engine --bench sending`.

use std::time::Instant;

use chrono::{NaiveDate, TimeZone, Utc};
use meterdesk_engine::outbox::smtp::{Secrets, Smtp};
use meterdesk_engine::settings::{self, MailSettings, Security};
use meterdesk_engine::{Workspace, demo, mailing, outbox, pdf};

mod common;
#[path = "../../../tests/support/smtp.rs"]
mod smtp;

const INVOICES: u64 = 1000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn statements(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap();
    let mut ws = Workspace::create(&dir.path().join("demo.meterdesk")).unwrap();
    demo::build_with_history(&mut ws, now).unwrap();
    let all = meterdesk_engine::invoice::all(ws.conn()).unwrap();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for i in &all {
        *counts.entry(i.frozen.draft.customer.clone()).or_default() += 1;
    }
    let (busiest, n) = counts.iter().max_by_key(|(c, n)| (**n, (*c).clone())).map(|(c, n)| (c.clone(), *n)).unwrap();
    let (from, to) = (NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        let (_, bytes) = pdf::statement_document(ws.conn(), &busiest, from, to, to).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        size = bytes.len();
    }
    println!(
        "statement of {busiest} ({n} invoices, {from} to {to}): {:.1} ms median of {rounds}, {} KB",
        median(times),
        size / 1024
    );
    let start = Instant::now();
    for customer in counts.keys() {
        pdf::statement_document(ws.conn(), customer, from, to, to).unwrap();
    }
    println!(
        "statements of all {} customers ({} invoices): {:.0} ms",
        counts.len(),
        all.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
}

/// Queues every invoice of the workspace and delivers them over `lanes` connections.
fn send_all(ws: &mut Workspace, lanes: &mut [Smtp], label: &str, server: &smtp::SmtpServer) {
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 16, 0, 0).unwrap();
    let numbers: Vec<String> = meterdesk_engine::invoice::all(ws.conn())
        .unwrap()
        .iter()
        .map(|i| i.frozen.draft.number.clone().unwrap())
        .collect();
    let start = Instant::now();
    let ids: Vec<i64> = ws
        .write(|tx| {
            numbers
                .iter()
                .map(|n| outbox::queue(tx, &mailing::compose(tx, n, None)?, "acme.test", now).map(|e| e.id))
                .collect()
        })
        .unwrap();
    let queued = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut refs: Vec<&mut dyn outbox::Transport> = lanes.iter_mut().map(|t| t as &mut dyn outbox::Transport).collect();
    let sent = outbox::deliver_in_lanes(ws, &ids, &mut refs, now).unwrap();
    let delivered = start.elapsed().as_secs_f64();
    assert!(
        sent.iter().all(|e| e.status == outbox::Status::Sent),
        "{:?}",
        sent.iter().find(|e| e.last_error.is_some())
    );
    assert_eq!(server.received().len(), ids.len());
    println!(
        "{label}: {} invoices queued with their PDFs in {:.2} s ({:.0}/s), delivered in {:.2} s = {:.0} messages/s; \
         end to end {:.0} messages/s",
        ids.len(),
        queued,
        ids.len() as f64 / queued,
        delivered,
        ids.len() as f64 / delivered,
        ids.len() as f64 / (queued + delivered)
    );
}

fn outbox_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 2, 15, 0, 0).unwrap();
    let path = dir.path().join("a.meterdesk");
    {
        let mut ws = common::invoicing_workspace(&path, INVOICES, now);
        let month = meterdesk_engine::period::Month::parse("2026-10", "month").unwrap();
        let done = meterdesk_engine::invoice::finalize_month(&mut ws, month, None, now).unwrap();
        assert_eq!(done.invoices.len() as u64, INVOICES);
        ws.write(|tx| {
            tx.execute("UPDATE customers SET email = 'billing@' || external_id || '.test'", [])?;
            Ok(())
        })
        .unwrap();
    }
    let copy = dir.path().join("b.meterdesk");
    meterdesk_engine::backup::write(&Workspace::open(&path).unwrap(), &copy).unwrap();
    let third = dir.path().join("c.meterdesk");
    meterdesk_engine::backup::write(&Workspace::open(&path).unwrap(), &third).unwrap();
    for (file, security, login, lanes) in [
        (&path, Security::None, None, 1),
        (&copy, Security::None, None, 8),
        (&third, Security::Starttls, Some(("billing", "bench pass")), 8),
    ] {
        let secure = match security {
            Security::None => smtp::Secure::Plain,
            _ => smtp::Secure::Starttls,
        };
        let server = smtp::SmtpServer::start(secure, login);
        let mut ws = Workspace::open(file).unwrap();
        let mut s = settings::get(ws.conn()).unwrap();
        let mail = MailSettings {
            host: "localhost".into(),
            port: server.port,
            security,
            username: login.map(|(u, _)| u.to_string()),
            from: "Billing <billing@acme.test>".into(),
            templates: Default::default(),
        };
        s.mail = Some(mail.clone());
        ws.write(|tx| settings::update(tx, s)).unwrap();
        let secrets = Secrets {
            password: login.map(|(_, p)| p.to_string()),
            extra_root_pem: Some(server.ca_pem.clone().into_bytes()),
        };
        let mut transports: Vec<Smtp> = (0..lanes).map(|_| Smtp::new(&mail, &secrets).unwrap()).collect();
        let label = format!(
            "{}, {lanes} connection{}",
            if login.is_some() { "STARTTLS and login" } else { "plain" },
            if lanes == 1 { "" } else { "s" }
        );
        send_all(&mut ws, &mut transports, &label, &server);
    }
}

fn main() {
    let rounds: usize = std::env::var("METERDESK_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    println!("machine: {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    statements(rounds);
    outbox_throughput();
}
