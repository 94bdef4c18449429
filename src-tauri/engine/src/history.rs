//! The import history: every import of events with its counts, file and
//! times, and the rollback of one whose events are not invoiced yet (its
//! events and their ids removed, the rollups of its meters rebuilt, an audit
//! entry written). An import with events in a period already invoiced stays:
//! those events are billed, or are late usage waiting for an adjustment;
//! void or credit the invoice instead (docs/billing.md "Events and meters").

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::event_store;
use crate::meter;
use crate::stored::{Columns, located, time_text};

/// One import, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ImportRecord {
    pub id: i64,
    pub file_name: String,
    pub format: String,
    #[ts(type = "string")]
    pub started_at: DateTime<Utc>,
    #[ts(type = "string | null")]
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: ImportOutcome,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub late: u64,
    /// When it was rolled back, and how many events went.
    #[ts(type = "string | null")]
    pub rolled_back_at: Option<DateTime<Utc>>,
    pub rolled_back_events: Option<u64>,
    /// Why it cannot be rolled back, if it cannot.
    pub locked: Option<String>,
}

/// How an import ended (or that it still runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Running,
    Completed,
    Cancelled,
    Failed,
    /// Logged as running by a process that was killed or crashed: its
    /// batches written before stay, as counted.
    Interrupted,
}

impl ImportOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Running => "running",
            ImportOutcome::Completed => "completed",
            ImportOutcome::Cancelled => "cancelled",
            ImportOutcome::Failed => "failed",
            ImportOutcome::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<ImportOutcome> {
        use ImportOutcome::*;
        [Running, Completed, Cancelled, Failed, Interrupted].into_iter().find(|o| o.as_str() == text)
    }
}

const COLUMNS: &str = "id, file_name, format, started_at, ended_at, outcome, accepted, duplicates, rejected, late,
    rolled_back_at, rolled_back_events";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<ImportRecord> {
    located(r, "imports", 0, |r| {
        Ok(ImportRecord {
            id: r.get(0)?,
            file_name: r.get(1)?,
            format: r.get(2)?,
            started_at: r.time(3)?,
            ended_at: r.opt_time(4)?,
            outcome: r.parsed(
                5,
                "an import outcome (running, completed, cancelled, failed, interrupted)",
                ImportOutcome::parse,
            )?,
            accepted: r.get::<_, i64>(6)? as u64,
            duplicates: r.get::<_, i64>(7)? as u64,
            rejected: r.get::<_, i64>(8)? as u64,
            late: r.get::<_, i64>(9)? as u64,
            rolled_back_at: r.opt_time(10)?,
            rolled_back_events: r.get::<_, Option<i64>>(11)?.map(|n| n as u64),
            locked: None,
        })
    })
}

/// Why import `id` cannot be rolled back, if it cannot: it is still running,
/// was rolled back, or has events in a period already invoiced.
fn locked(conn: &Connection, record: &ImportRecord) -> Result<Option<String>> {
    if record.rolled_back_at.is_some() {
        return Ok(Some("rolled back already".into()));
    }
    if record.outcome == ImportOutcome::Running {
        return Ok(Some("still running".into()));
    }
    // Its chunks that overlap a period invoiced to their customer.
    let hit: Option<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT sum(k.events), min(c.external_id), (SELECT i.number FROM invoices i WHERE i.customer_id = k.customer_id
               AND i.kind = 'period' AND NOT EXISTS (SELECT 1 FROM invoice_status st WHERE st.invoice_id = i.id
               AND st.status = 'void') ORDER BY i.period_start LIMIT 1)
             FROM event_chunks k JOIN customers c ON c.id = k.customer_id
             WHERE k.import_id = ?1 AND EXISTS (SELECT 1 FROM invoiced_periods p WHERE p.customer_id = k.customer_id
               AND p.from_ms <= k.last_ms AND k.first_ms < p.to_ms)
             GROUP BY k.customer_id ORDER BY k.customer_id LIMIT 1",
        )?
        .query_row([record.id], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<String>>(2)?.unwrap_or_default())))
        .optional()?;
    Ok(hit.map(|(events, customer, number)| {
        let events = meterdesk_rules::text::count(events as u64, "event", "events");
        format!(
            "{events} of customer {customer} fall in periods already invoiced ({number}…); void or credit those invoices instead"
        )
    }))
}

/// Every import, newest first.
pub fn list(conn: &Connection) -> Result<Vec<ImportRecord>> {
    let mut records: Vec<ImportRecord> = conn
        .prepare(&format!("SELECT {COLUMNS} FROM imports ORDER BY id DESC"))?
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    for r in &mut records {
        r.locked = locked(conn, r)?;
    }
    Ok(records)
}

fn get(conn: &Connection, id: i64) -> Result<ImportRecord> {
    let mut record = conn
        .query_row(&format!("SELECT {COLUMNS} FROM imports WHERE id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no import #{id}")))?;
    record.locked = locked(conn, &record)?;
    Ok(record)
}

/// Imports with rejected rows nobody has looked at yet (the console's inbox),
/// newest first; running and rolled-back ones are left out.
pub fn unseen_rejections(conn: &Connection) -> Result<Vec<ImportRecord>> {
    Ok(conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM imports WHERE rejected > 0 AND rejects_seen_at IS NULL AND outcome <> 'running'
             AND rolled_back_at IS NULL ORDER BY id DESC"
        ))?
        .query_map([], from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Marks the rejections of import `id` (or of every import) as seen; returns how many.
pub fn see_rejections(tx: &Transaction, id: Option<i64>, now: DateTime<Utc>) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE imports SET rejects_seen_at = ?2 WHERE rejects_seen_at IS NULL AND rejected > 0 AND (?1 IS NULL OR id = ?1)",
        params![id, time_text(now)],
    )?)
}

/// Rolls back import `id` in the caller's transaction: removes its events and
/// their ids (the file, fixed, imports again), rebuilds the rollups of the
/// meters that read its event types on the next read, and writes an audit
/// entry. Refused when it has events in a period already invoiced.
pub fn rollback(tx: &Transaction, id: i64, now: DateTime<Utc>) -> Result<ImportRecord> {
    let record = get(tx, id)?;
    if let Some(why) = &record.locked {
        return Err(Error::Conflict(format!("import #{id} ({}) cannot be rolled back: {why}", record.file_name)));
    }
    let mut keys = Vec::new();
    let mut types: HashSet<String> = HashSet::new();
    let mut events = 0u64;
    {
        let mut stmt = tx.prepare(
            "SELECT k.data, t.name, k.events FROM event_chunks k JOIN event_types t ON t.id = k.type_id WHERE k.import_id = ?1",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(row) = rows.next()? {
            let data = row.get_ref(0)?.as_blob().map_err(|e| Error::Internal(format!("event_chunks: {e}")))?;
            event_store::decode(data, |e| keys.push(event_store::key(e.id)))?;
            types.insert(row.get(1)?);
            events += row.get::<_, i64>(2)? as u64;
        }
    }
    event_store::release_keys(tx, &mut keys)?;
    tx.execute("DELETE FROM event_chunks WHERE import_id = ?1", [id])?;
    // The meters reading those types are rebuilt from their chunks on the next refresh.
    let mut rebuilt = Vec::new();
    for m in meter::all(tx)? {
        let event_type = m.fields.event.clone().unwrap_or_else(|| m.fields.code.clone());
        if types.contains(&event_type) {
            let meter_id: i64 =
                tx.query_row("SELECT id FROM meters WHERE code = ?1", [&m.fields.code], |r| r.get(0))?;
            tx.execute("DELETE FROM usage_blocks WHERE meter_id = ?1", [meter_id])?;
            tx.execute("DELETE FROM usage_groups WHERE meter_id = ?1", [meter_id])?;
            tx.execute("DELETE FROM usage_days_state WHERE meter_id = ?1", [meter_id])?;
            rebuilt.push(m.fields.code);
        }
    }
    tx.execute(
        "UPDATE imports SET rolled_back_at = ?2, rolled_back_events = ?3 WHERE id = ?1",
        params![id, time_text(now), events as i64],
    )?;
    let detail = serde_json::json!({ "import": id, "file": record.file_name, "events": events, "meters": rebuilt });
    tx.execute(
        "INSERT INTO audit_log (at, action, subject, detail, actor) VALUES (?1, 'rollback_import', ?2, ?3, (SELECT name FROM temp.session_actor))",
        params![time_text(now), format!("import #{id}"), detail.to_string()],
    )?;
    get(tx, id)
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::Workspace;
    use crate::bill::tests::{CATALOG, apply};
    use crate::event_file::Format;
    use crate::events::{ImportOptions, import};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 3, 9, 0, 0).unwrap()
    }

    #[test]
    fn an_outcome_that_does_not_read_is_an_error_naming_the_import() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        calls(&mut ws, 0..2, 5);
        assert_eq!(list(ws.conn()).unwrap()[0].outcome, ImportOutcome::Completed);
        // Only a file edited outside Meterdesk holds one (the table's CHECK refuses it).
        ws.conn().pragma_update(None, "ignore_check_constraints", true).unwrap();
        ws.conn().execute("UPDATE imports SET outcome = 'finished'", []).unwrap();
        let err = list(ws.conn()).unwrap_err().to_string();
        assert!(err.contains("imports row 1") && err.contains("\"finished\""), "{err}");
    }

    fn calls(ws: &mut Workspace, ids: std::ops::Range<u32>, day: u32) -> crate::import::ImportReport {
        let text: String = ids
            .map(|i| {
                format!(
                    "{}\n",
                    json!({ "id": format!("c{i}"), "customer": "globex", "type": "api_calls",
                            "timestamp": format!("2026-10-{day:02}T12:00:00Z"), "properties": {} })
                )
            })
            .collect();
        import(ws, text.as_bytes(), &ImportOptions::new("calls.ndjson", Format::Ndjson), now(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap()
    }

    fn october_calls(ws: &mut Workspace) -> String {
        let d = crate::bill::preview_customer(ws, "globex", crate::month("2026-10")).unwrap();
        d[0].lines.iter().find(|l| l.meter.as_deref() == Some("api_calls")).unwrap().quantity.to_string()
    }

    #[test]
    fn an_import_not_invoiced_rolls_back_whole_and_its_file_imports_again() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        calls(&mut ws, 0..100, 20);
        let second = calls(&mut ws, 100..130, 21);
        assert_eq!(second.accepted, 30);
        assert_eq!(october_calls(&mut ws), "130", "the rollups hold both imports");
        let history = list(ws.conn()).unwrap();
        assert_eq!(
            history.iter().map(|r| (r.id, r.accepted, r.locked.clone())).collect::<Vec<_>>(),
            [(2, 30, None), (1, 100, None)]
        );

        let done = ws.write(|tx| rollback(tx, 2, now())).unwrap();
        assert_eq!((done.rolled_back_events, done.locked.as_deref()), (Some(30), Some("rolled back already")));
        assert_eq!(october_calls(&mut ws), "100", "the rollups were rebuilt without it");
        let audit: String = ws
            .conn()
            .query_row("SELECT detail FROM audit_log WHERE action = 'rollback_import'", [], |r| r.get(0))
            .unwrap();
        assert!(audit.contains("\"events\":30") && audit.contains("api_calls"), "{audit}");
        // Its ids were released: the same file imports again, none a duplicate; the first import's still are.
        let again = calls(&mut ws, 95..130, 21);
        assert_eq!((again.accepted, again.duplicates), (30, 5));
        assert_eq!(october_calls(&mut ws), "130");
        // Nothing rejected, nothing in the inbox.
        assert!(unseen_rejections(ws.conn()).unwrap().is_empty());
        // Twice is refused, and so is an unknown import.
        assert!(matches!(ws.write(|tx| rollback(tx, 2, now())), Err(Error::Conflict(_))));
        assert!(matches!(ws.write(|tx| rollback(tx, 99, now())), Err(Error::NotFound(_))));
    }

    #[test]
    fn an_import_with_invoiced_events_stays() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        calls(&mut ws, 0..10, 20);
        calls(&mut ws, 10..20, 21);
        crate::invoice::finalize_month(&mut ws, crate::month("2026-10"), Some("globex"), now()).unwrap();
        // A late import into October: its events wait as late usage, but the period is invoiced.
        calls(&mut ws, 20..25, 22);
        let locked = list(ws.conn()).unwrap().into_iter().map(|r| r.locked).collect::<Vec<_>>();
        for why in &locked {
            let why = why.as_deref().unwrap();
            assert!(why.contains("of customer globex fall in periods already invoiced (INV-2026-00001"), "{why}");
        }
        let refused = ws.write(|tx| rollback(tx, 1, now())).unwrap_err();
        assert!(
            refused.to_string().starts_with("import #1 (calls.ndjson) cannot be rolled back: 10 events"),
            "{refused}"
        );
        // Once the invoice is void, the period is open again, and an import may go.
        ws.write(|tx| crate::invoice::void(tx, "INV-2026-00001", "wrong", now())).unwrap();
        ws.write(|tx| rollback(tx, 3, now())).unwrap();
        assert_eq!(october_calls(&mut ws), "20");
    }

    #[test]
    fn rejected_rows_wait_in_the_inbox_until_seen() {
        let mut ws = Workspace::in_memory().unwrap();
        apply(&mut ws, CATALOG);
        let text = "{\"id\": \"a\", \"customer\": \"nobody\", \"type\": \"api_calls\", \"timestamp\": \"2026-10-01T00:00:00Z\"}\n";
        let report =
            import(&mut ws, text.as_bytes(), &ImportOptions::new("bad.ndjson", Format::Ndjson), now(), &mut |_| {
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(report.rejected, 1);
        calls(&mut ws, 0..3, 20);
        let waiting = unseen_rejections(ws.conn()).unwrap();
        assert_eq!(waiting.iter().map(|r| (r.id, r.rejected)).collect::<Vec<_>>(), [(1, 1)]);
        assert_eq!(ws.write(|tx| see_rejections(tx, Some(1), now())).unwrap(), 1);
        assert!(unseen_rejections(ws.conn()).unwrap().is_empty());
        assert_eq!(ws.write(|tx| see_rejections(tx, None, now())).unwrap(), 0);
    }
}
