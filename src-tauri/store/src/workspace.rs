//! The workspace file: one SQLite database (WAL, foreign keys, STRICT tables),
//! identified by its application id and migrated forward at open.

pub mod backup;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};

/// `PRAGMA application_id` of every Meterdesk workspace: "MTDK".
pub const APPLICATION_ID: i32 = 0x4D54_444B;

/// Migrations in order; migration N (1-based) brings the schema to version N.
/// Architecture invariant: a migration file is never edited after it lands.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../../migrations/0001_init.sql")),
    ("0002_meters", include_str!("../../../migrations/0002_meters.sql")),
    ("0003_events", include_str!("../../../migrations/0003_events.sql")),
    ("0004_event_chunks", include_str!("../../../migrations/0004_event_chunks.sql")),
    ("0005_plans", include_str!("../../../migrations/0005_plans.sql")),
    ("0006_subscriptions", include_str!("../../../migrations/0006_subscriptions.sql")),
    ("0007_usage_days", include_str!("../../../migrations/0007_usage_days.sql")),
    ("0008_invoices", include_str!("../../../migrations/0008_invoices.sql")),
    ("0009_credit_notes", include_str!("../../../migrations/0009_credit_notes.sql")),
    ("0010_invoice_details", include_str!("../../../migrations/0010_invoice_details.sql")),
    ("0011_wallets", include_str!("../../../migrations/0011_wallets.sql")),
    ("0012_reissue", include_str!("../../../migrations/0012_reissue.sql")),
    ("0013_backups", include_str!("../../../migrations/0013_backups.sql")),
    ("0014_adjustments", include_str!("../../../migrations/0014_adjustments.sql")),
    ("0015_import_rollback", include_str!("../../../migrations/0015_import_rollback.sql")),
    ("0016_import_rejects_seen", include_str!("../../../migrations/0016_import_rejects_seen.sql")),
    ("0017_audit_actor", include_str!("../../../migrations/0017_audit_actor.sql")),
    ("0018_payment_details", include_str!("../../../migrations/0018_payment_details.sql")),
    ("0019_costs", include_str!("../../../migrations/0019_costs.sql")),
    ("0020_signal_alerts", include_str!("../../../migrations/0020_signal_alerts.sql")),
    ("0021_read_indexes", include_str!("../../../migrations/0021_read_indexes.sql")),
    ("0022_alert_rules", include_str!("../../../migrations/0022_alert_rules.sql")),
    ("0023_usage_blocks", include_str!("../../../migrations/0023_usage_blocks.sql")),
    ("0024_payments", include_str!("../../../migrations/0024_payments.sql")),
    ("0025_outbox", include_str!("../../../migrations/0025_outbox.sql")),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a write waits for another process holding the file before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(3);

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What the console shows about the open workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WorkspaceSummary {
    pub path: String,
    pub company_name: String,
    pub schema_version: i64,
    pub customers: u32,
    pub archived_customers: u32,
    /// The IANA zone the workspace bills in: the console shows times in it.
    pub timezone: String,
    /// Today in that zone, and the last month that has ended (what usage
    /// pages open on).
    #[ts(type = "string")]
    pub today: chrono::NaiveDate,
    #[ts(type = "string")]
    pub last_complete_month: crate::period::Month,
}

/// An open workspace. All engine operations take `&Workspace` or a transaction of it.
#[derive(Debug)]
pub struct Workspace {
    conn: Connection,
    path: PathBuf,
}

impl Workspace {
    /// Opens an existing workspace, refusing (untouched) a file that is not one
    /// or that a newer Meterdesk wrote, then applies pending migrations.
    pub fn open(path: &Path) -> Result<Workspace> {
        if !path.exists() {
            return Err(Error::NotFound(format!("no workspace at {}", path.display())));
        }
        Self::open_or_create(path)
    }

    /// Creates a new workspace; refuses to overwrite an existing non-empty file.
    pub fn create(path: &Path) -> Result<Workspace> {
        if path.metadata().map(|m| m.len() > 0).unwrap_or(false) {
            return Err(Error::Conflict(format!("{} already exists; open it instead", path.display())));
        }
        Self::open_or_create(path)
    }

    /// Opens the workspace at `path`, creating it (and its folder) when missing.
    pub fn open_or_create(path: &Path) -> Result<Workspace> {
        let existing = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        if existing {
            check_is_ours(path)?;
            // SQLite opens a workspace read-only while its -shm or -wal cannot be
            // written (left by an open of a read-only copy): name that file.
            for suffix in ["-shm", "-wal"] {
                let mut side = path.to_path_buf().into_os_string();
                side.push(suffix);
                let side = PathBuf::from(side);
                if side.metadata().is_ok_and(|m| m.permissions().readonly()) {
                    return Err(Error::ReadOnly(format!(
                        "{} cannot be written (SQLite's {} file of {}, left read-only); make it writable or \
                         delete it while no program has the workspace open, then open it again",
                        side.display(),
                        &suffix[1..],
                        path.display()
                    )));
                }
            }
        } else if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Io(format!("cannot create folder {}: {e}", dir.display())))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", path.display())))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(Error::ReadOnly(format!("{} cannot be written; check its permissions", path.display())));
        }
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut ws = Workspace { conn, path };
        configure(&ws.conn).map_err(|e| ws.locate(e))?;
        migrate(&mut ws.conn, &ws.path).map_err(|e| ws.locate(e))?;
        start_session(&ws.conn)?;
        Ok(ws)
    }

    /// An in-memory workspace for tests.
    pub fn in_memory() -> Result<Workspace> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn, Path::new(":memory:"))?;
        start_session(&conn)?;
        Ok(Workspace { conn, path: PathBuf::from(":memory:") })
    }

    /// Who the audit trail names for what this connection writes (by default
    /// the operating system's user, see [`start_session`]).
    pub fn set_actor(&self, name: &str) -> Result<()> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::invalid("actor", "say who is acting"));
        }
        self.conn.execute("UPDATE temp.session_actor SET name = ?1", [name])?;
        Ok(())
    }

    /// The file imports lock while they run (`None` in memory): `<path>-lock`.
    pub fn import_lock_path(&self) -> Option<PathBuf> {
        (self.path != Path::new(":memory:")).then(|| lock_path(&self.path))
    }

    /// Holds the import lock alone (`None` in memory): no import runs
    /// anywhere while it is held; refused while one does.
    pub fn exclusive_import_lock(&self) -> Result<Option<std::fs::File>> {
        let Some(path) = self.import_lock_path() else { return Ok(None) };
        exclusive_lock(&path, &self.path).map(Some)
    }

    /// Replaces the workspace's content with the database at `from` (through
    /// SQLite's backup API, so other connections see it), then brings it to
    /// this build's schema.
    pub(crate) fn restore_from(&mut self, from: &Path) -> Result<()> {
        self.conn.restore(rusqlite::MAIN_DB, from, None::<fn(rusqlite::backup::Progress)>).map_err(|e| {
            match Error::from(e) {
                Error::Internal(why) => Error::Io(format!("cannot restore {}: {why}", from.display())),
                other => other,
            }
        })?;
        migrate(&mut self.conn, &self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A second connection to the same file, for reading on another thread
    /// beside this one: it sees what was committed and cannot write. None in
    /// memory (nothing else can open it).
    pub fn reader(&self) -> Result<Option<Connection>> {
        if self.path == Path::new(":memory:") {
            return Ok(None);
        }
        let conn =
            Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| Error::Io(format!("cannot open {}: {e}", self.path.display())))?;
        tune(&conn)?;
        Ok(Some(conn))
    }

    /// [`Workspace::write`] if the file can be written at once; `None` when
    /// another connection is writing (it never waits for it).
    pub fn try_write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<Option<T>> {
        self.conn.busy_timeout(Duration::ZERO)?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate);
        let outcome = match tx.map_err(Error::from) {
            Err(Error::Locked) => Ok(None),
            Err(e) => Err(e),
            Ok(tx) => f(&tx).and_then(|value| {
                tx.commit()?;
                Ok(Some(value))
            }),
        };
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        outcome
    }

    /// Runs `f` in one IMMEDIATE transaction: everything it writes lands, or nothing.
    pub fn write<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in a write transaction that is always rolled back: what a
    /// change would do, seen before it is made.
    pub fn rehearse<T>(&mut self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.rollback()?;
        Ok(value)
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn summary(&self, now: chrono::DateTime<chrono::Utc>) -> Result<WorkspaceSummary> {
        let today = crate::settings::today(&self.conn, now)?;
        let (customers, archived_customers) =
            self.conn
                .query_row("SELECT count(*), count(archived_at) FROM customers", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(WorkspaceSummary {
            path: self.path.display().to_string(),
            company_name: crate::settings::get(&self.conn)?.company_name,
            schema_version: self.schema_version()?,
            customers,
            archived_customers,
            timezone: crate::settings::zone(&self.conn)?.name().to_string(),
            today,
            last_complete_month: crate::period::Month::of(today).previous()?,
        })
    }

    fn locate(&self, err: Error) -> Error {
        match err {
            Error::ReadOnly(_) => {
                Error::ReadOnly(format!("{} cannot be written; check its permissions", self.path.display()))
            }
            other => other,
        }
    }
}

/// Deletes the workspace at `path` (with its `-wal`, `-shm` and lock files)
/// so it can be built anew: only a Meterdesk workspace, and never while an
/// import writes into it (its import lock is held; the import would report
/// events stored in a file that no longer exists).
pub fn remove(path: &Path) -> Result<()> {
    check_is_ours(path)?;
    let lock = exclusive_lock(&lock_path(path), path)?;
    // The lock is held while the files go, the lock file itself last.
    for suffix in ["", "-wal", "-shm", "-lock"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io(format!("cannot remove {}: {e}", PathBuf::from(p).display())));
            }
            _ => {}
        }
    }
    drop(lock);
    Ok(())
}

/// `<path>-lock`: the file imports hold shared while they run.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.to_path_buf().into_os_string();
    name.push("-lock");
    PathBuf::from(name)
}

/// Takes the lock file of workspace `path` alone, or says an import holds it.
fn exclusive_lock(lock: &Path, path: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .map_err(|e| Error::Io(format!("cannot open {}: {e}", lock.display())))?;
    if file.try_lock().is_err() {
        return Err(Error::Conflict(format!(
            "{} is in use: an import is writing into it; wait for it to finish",
            path.display()
        )));
    }
    Ok(file)
}

/// Reads the header and ids without writing a byte, so a foreign file stays untouched.
pub(crate) fn check_is_ours(path: &Path) -> Result<()> {
    let display = path.display().to_string();
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut header))
        .map_err(|e| Error::Io(format!("cannot read {display}: {e}")))?;
    if read < 16 || &header != SQLITE_MAGIC {
        return Err(Error::NotAWorkspace { path: display, reason: "not an SQLite database".into() });
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Error::Io(format!("cannot open {display}: {e}")))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    if app_id != APPLICATION_ID {
        return Err(Error::NotAWorkspace { path: display, reason: "an SQLite database of another program".into() });
    }
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerWorkspace { path: display, found: version, known: SCHEMA_VERSION });
    }
    Ok(())
}

/// The connection's session: a temporary table (never in the file) holding
/// who acts, which every audit entry written through it records. It starts as
/// the operating system's user (`USER`, `LOGNAME` or `USERNAME`), or nobody
/// when none is set.
fn start_session(conn: &Connection) -> Result<()> {
    // None when the environment names nobody: the trail then says when, not who.
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()));
    conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS session_actor (name TEXT); DELETE FROM temp.session_actor;")?;
    conn.execute("INSERT INTO temp.session_actor (name) VALUES (?1)", [user])?;
    Ok(())
}

fn configure(conn: &Connection) -> Result<()> {
    tune(conn)?;
    // 16 KiB pages for new files (an existing file keeps its own): event chunks
    // and key runs are blobs of kilobytes, and fewer, larger pages write faster.
    conn.pragma_update(None, "page_size", 16384)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Internal(format!("could not switch the workspace to WAL (got {mode})")));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoint every 64 MiB of WAL rather than 16: fewer syncs during imports.
    conn.pragma_update(None, "wal_autocheckpoint", 4096)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// What every connection to a workspace reads with, the writer's and a
/// [`Workspace::reader`]'s alike.
fn tune(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Finalizing an invoice runs some 30 distinct statements (preview, invoice,
    // wallet); the default cache of 16 would parse most of them again each time.
    conn.set_prepared_statement_cache_capacity(128);
    // Plans fixed when a statement is prepared: otherwise SQLite plans a
    // cached statement again at every new binding of a parameter that might
    // match a partial index's condition (`i.kind = ?3` against `kind =
    // 'advance'`), which took a quarter of the dashboard's time. The partial
    // indexes are used by statements that name their condition literally.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // 64 MiB of page cache (the default is 2 MiB): an import batch touches many
    // index pages, and re-reading them from the OS for each event dominated.
    conn.pragma_update(None, "cache_size", -65_536)?;
    Ok(())
}

/// Applies every migration above the file's version in one transaction, with
/// foreign keys off (a migration may rebuild a table others refer to) and
/// checked whole before the commit.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    // Up to date (the usual case): no write transaction, so opening never
    // waits for another process's writer.
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // The file as the older schema left it is kept before anything changes it.
    if (1..SCHEMA_VERSION).contains(&version) && path != Path::new(":memory:") {
        backup::before_migration(conn, path, version)?;
    }
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate_unchecked(conn, path);
    if enforced {
        conn.pragma_update(None, "foreign_keys", "ON")?;
    }
    migrated
}

fn migrate_unchecked(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        // Checked again inside the lock: another process may have upgraded it meanwhile.
        return Err(Error::NewerWorkspace { path: path.display().to_string(), found: version, known: SCHEMA_VERSION });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    for (name, sql) in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql).map_err(|e| Error::Internal(format!("migration {name} failed: {e}")))?;
    }
    if version < 4 {
        crate::event_store::convert_legacy(&tx)
            .map_err(|e| Error::Internal(format!("converting stored events to schema 4 failed: {e}")))?;
    }
    if version == 0 {
        crate::settings::insert_defaults(&tx)?;
    }
    let broken: Option<String> = tx
        .query_row("SELECT \"table\" || ' row ' || rowid FROM pragma_foreign_key_check LIMIT 1", [], |r| r.get(0))
        .optional()?;
    if let Some(row) = broken {
        return Err(Error::Internal(format!("after the migrations, {row} refers to a missing row")));
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// A workspace file as schema `version` wrote it: its migrations, its
    /// version and the settings row.
    fn written_by_schema(path: &Path, version: usize) -> Connection {
        let conn = Connection::open(path).unwrap();
        for (_, sql) in &MIGRATIONS[..version] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        conn.pragma_update(None, "user_version", version as i64).unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        crate::settings::insert_defaults(&tx).unwrap();
        tx.commit().unwrap();
        conn
    }

    fn file_bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_migration_keeps_the_file_as_the_older_schema_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.meterdesk");
        drop(written_by_schema(&path, 11));
        let ws = Workspace::open(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
        let kept = backup::list(&path).unwrap();
        assert_eq!(
            kept.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
            ["old-schema-11-before-migration.meterdesk"]
        );
        let old = Connection::open(&kept[0].path).unwrap();
        assert_eq!(old.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), 11);
        // Opened again, up to date: no new backup.
        drop(ws);
        drop(Workspace::open(&path).unwrap());
        assert_eq!(backup::list(&path).unwrap().len(), 1);
    }

    #[test]
    fn the_adjustments_migration_keeps_every_invoice_and_its_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v13.meterdesk");
        let conn = written_by_schema(&path, 13);
        conn.execute_batch(
            "INSERT INTO customers (id, external_id, name, currency, created_at, updated_at)
               VALUES (1, 'globex', 'Globex', 'USD', 't', 't');
             INSERT INTO plans (id, code, created_at) VALUES (1, 'pro', 't');
             INSERT INTO plan_versions (plan_id, version, definition, created_at, updated_at) VALUES (1, 1, '{}', 't', 't');
             INSERT INTO subscriptions (id, code, customer_id, plan_id, plan_version, start_date, anchor_day, terms,
               created_at, updated_at) VALUES (1, 'sub', 1, 1, 1, '2026-10-01', 1, '{}', 't', 't');
             INSERT INTO invoices (id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
               issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind,
               generation, replaces, advance_fees)
             VALUES (7, 'INV-2026-00001', 'INV', 2026, 1, 1, 1, 'a', 'b', 'c', 'd', 'USD', '1.00', '1.00', '{}', '', 'h',
               't', 'advance', 0, NULL, 0);
             INSERT INTO invoice_status (invoice_id, status, on_date, note, at) VALUES (7, 'paid', '2026-11-02', 'wire', 't');",
        )
        .unwrap();
        drop(conn);
        let ws = Workspace::open(&path).unwrap();
        let kept: (i64, String, Option<String>) = ws
            .conn()
            .query_row("SELECT id, kind, adjusts FROM invoices WHERE number = 'INV-2026-00001'", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(kept, (7, "advance".to_string(), None));
        let status: i64 =
            ws.conn().query_row("SELECT count(*) FROM invoice_status WHERE invoice_id = 7", [], |r| r.get(0)).unwrap();
        assert_eq!(status, 1);
        // Still frozen, and an adjustment must name what it adjusts.
        assert!(ws.conn().execute("UPDATE invoices SET total = '2.00'", []).is_err());
        let unnamed = ws.conn().execute(
            "INSERT INTO invoices (number, series, year, seq, customer_id, subscription_id, period_start, period_end,
               issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind)
             VALUES ('INV-2026-00002', 'INV', 2026, 2, 1, 1, 'a', 'b', 'c', 'd', 'USD', '1', '1', '{}', 'h', 'i', 't',
               'adjustment')",
            [],
        );
        assert!(unnamed.is_err());
    }

    #[test]
    fn migrations_apply_from_empty_and_record_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.meterdesk");
        let ws = Workspace::create(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
        let app_id: i32 = ws.conn().pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(app_id, APPLICATION_ID);
        let mode: String = ws.conn().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = ws.conn().pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
        let strict_tables: i64 = ws
            .conn()
            .query_row("SELECT count(*) FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' AND strict = 0", [], |r| r.get(0))
            .unwrap();
        assert_eq!(strict_tables, 0, "every ordinary table is STRICT (FTS5 tables cannot be)");
    }

    #[test]
    fn reopening_keeps_data_and_does_not_migrate_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.meterdesk");
        {
            let mut ws = Workspace::create(&path).unwrap();
            ws.write(|tx| {
                tx.execute("UPDATE workspace_settings SET company_name = 'Kept'", [])?;
                Ok(())
            })
            .unwrap();
        }
        let ws = Workspace::open(&path).unwrap();
        let name: String =
            ws.conn().query_row("SELECT company_name FROM workspace_settings", [], |r| r.get(0)).unwrap();
        assert_eq!(name, "Kept");
    }

    #[test]
    fn an_older_workspace_is_upgraded_in_place_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.meterdesk");
        {
            // A workspace as the first schema version wrote it.
            let conn = written_by_schema(&path, 1);
            conn.execute("UPDATE workspace_settings SET company_name = 'Old Co'", []).unwrap();
        }
        let ws = Workspace::open(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(crate::settings::get(ws.conn()).unwrap().company_name, "Old Co");
        let meters: i64 = ws.conn().query_row("SELECT count(*) FROM meters", [], |r| r.get(0)).unwrap();
        assert_eq!(meters, 0, "the meters table exists");
    }

    #[test]
    fn invoices_of_schema_9_survive_the_rebuild_of_their_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v9.meterdesk");
        {
            let conn = written_by_schema(&path, 9);
            let t = "'2026-11-02T15:00:00Z'";
            conn.execute_batch(&format!(
                "PRAGMA foreign_keys = ON;
                 INSERT INTO customers (id, external_id, name, currency, created_at, updated_at)
                   VALUES (1, 'globex', 'Globex', 'USD', {t}, {t});
                 INSERT INTO plans (id, code, created_at) VALUES (1, 'pro', {t});
                 INSERT INTO plan_versions (plan_id, version, definition, created_at, updated_at) VALUES (1, 1, '{{}}', {t}, {t});
                 INSERT INTO subscriptions (id, code, customer_id, plan_id, plan_version, start_date, anchor_day, terms, created_at, updated_at)
                   VALUES (1, 'sub_globex', 1, 1, 1, '2026-10-01', 1, '{{}}', {t}, {t});
                 INSERT INTO invoices (id, number, series, year, seq, customer_id, subscription_id, period_start, period_end,
                   issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at)
                   VALUES (7, 'INV-2026-00001', 'INV', 2026, 1, 1, 1, '2026-10-01T04:00:00Z', '2026-11-01T04:00:00Z',
                   '2026-11-02', '2026-12-02', 'USD', '354.76', '354.76', '{{\"x\":1}}', '', 'h1', {t});
                 INSERT INTO invoice_status (invoice_id, status, on_date, note, at) VALUES (7, 'paid', '2026-11-03', 'w1', {t});
                 INSERT INTO credit_notes (number, series, year, seq, invoice_id, issue_date, currency, total, content, created_at)
                   VALUES ('CN-2026-00001', 'CN', 2026, 1, 7, '2026-11-04', 'USD', '1.20', '{{}}', {t});"
            ))
            .unwrap();
        }
        let ws = Workspace::open(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
        let conn = ws.conn();
        let row: (i64, String, String, String) = conn
            .query_row("SELECT id, number, kind, hash FROM invoices", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(row, (7, "INV-2026-00001".into(), "period".into(), "h1".into()), "the id and every column kept");
        let linked: i64 = conn
            .query_row(
                "SELECT count(*) FROM invoice_status s JOIN credit_notes c ON c.invoice_id = s.invoice_id
                 JOIN invoices i ON i.id = c.invoice_id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(linked, 1, "its history and credit note still point at it");
        assert!(conn.execute("UPDATE invoices SET total = '0'", []).is_err(), "still frozen");
        assert!(conn.execute("DELETE FROM invoices", []).is_err(), "still frozen");
        let fk: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        assert_eq!(fk, 1, "foreign keys are enforced again");
        // An advance invoice of the same period is now possible; a second period invoice is not.
        let insert = |kind: &str, number: &str, seq: i64| {
            conn.execute(
                "INSERT INTO invoices (number, series, year, seq, customer_id, subscription_id, period_start, period_end,
                   issue_date, due_date, currency, total, amount_due, content, previous_hash, hash, finalized_at, kind)
                 SELECT ?1, series, year, ?2, customer_id, subscription_id, period_start, period_end, issue_date, due_date,
                   currency, total, amount_due, content, hash, 'h2', finalized_at, ?3 FROM invoices WHERE id = 7",
                params![number, seq, kind],
            )
        };
        assert!(insert("advance", "INV-2026-00002", 2).is_ok());
        assert!(insert("period", "INV-2026-00003", 3).is_err());
    }

    #[test]
    fn alerts_of_schema_19_survive_the_rebuild_that_admits_signals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v19.meterdesk");
        {
            let conn = written_by_schema(&path, 19);
            let t = "'2026-11-02T15:00:00Z'";
            conn.execute_batch(&format!(
                "INSERT INTO customers (id, external_id, name, currency, created_at, updated_at)
                   VALUES (1, 'globex', 'Globex', 'USD', {t}, {t});
                 INSERT INTO alerts (id, customer_id, kind, subject, message, created_at, acknowledged_at)
                   VALUES (4, 1, 'expiring', 'promo', 'Promo credit ends soon', {t}, NULL),
                          (5, 1, 'low_balance', '', 'Balance low', {t}, {t});"
            ))
            .unwrap();
        }
        let ws = Workspace::open(&path).unwrap();
        let conn = ws.conn();
        let kept: Vec<(i64, String, Option<String>)> = conn
            .prepare("SELECT id, kind, acknowledged_at FROM alerts ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            kept,
            [(4, "expiring".into(), None), (5, "low_balance".into(), Some("2026-11-02T15:00:00Z".into()))],
            "ids, kinds and acknowledgements kept"
        );
        let raise = |kind: &str, subject: &str| {
            conn.execute(
                "INSERT OR IGNORE INTO alerts (customer_id, kind, subject, message, created_at) VALUES (1, ?1, ?2, 'm', 't')",
                params![kind, subject],
            )
        };
        assert_eq!(raise("churn_risk", "falling:2026-10-01").unwrap(), 1, "a signal is a kind of alert now");
        assert_eq!(raise("churn_risk", "falling:2026-10-01").unwrap(), 0, "once per customer and subject");
        assert_eq!(raise("power_user", "falling:2026-10-01").unwrap(), 1, "another kind is another alert");
        assert_eq!(raise("expiring", "promo").unwrap(), 0, "an expiry is still announced once");
        let unknown = conn.execute(
            "INSERT INTO alerts (customer_id, kind, subject, message, created_at) VALUES (1, 'nonsense', '', 'm', 't')",
            [],
        );
        assert!(unknown.is_err(), "the kinds are still checked");
    }

    #[test]
    fn events_stored_by_schema_3_are_converted_to_chunks_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.meterdesk");
        {
            // A workspace as schema 3 wrote it: a row per event, ids in event_ids.
            let conn = written_by_schema(&path, 3);
            conn.execute_batch(
                "INSERT INTO customers (external_id, name, currency, created_at, updated_at)
                   VALUES ('globex', 'Globex', 'USD', '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z');
                 INSERT INTO meters (code, name, event_type, aggregation, property, created_at, updated_at)
                   VALUES ('tokens', 'Tokens', 'tokens', 'sum', 'tokens', '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z');
                 INSERT INTO event_types (id, name, events) VALUES (1, 'tokens', 2);
                 INSERT INTO imports (id, file_name, format, started_at, outcome, accepted)
                   VALUES (1, 'old.csv', 'csv', '2026-10-06T00:00:00Z', 'completed', 2);
                 INSERT INTO event_ids VALUES (11, 'old-1'), (12, 'old-2');
                 INSERT INTO events VALUES (1, 1, 1791201600000, 11, '{\"tokens\":\"40\"}', 1),
                                           (1, 1, 1791288000000, 12, '{\"tokens\":\"2\"}', 1);",
            )
            .unwrap();
        }
        let mut ws = Workspace::open(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
        let mut events = Vec::new();
        crate::event_store::scan(ws.conn(), 1, 1, 1791201600000, 1791288000001, |_, e| {
            events.push((e.ts_ms, e.id.to_string(), e.properties.to_string()))
        })
        .unwrap();
        assert_eq!(
            events,
            [
                (1791201600000, "old-1".to_string(), "{\"tokens\":\"40\"}".to_string()),
                (1791288000000, "old-2".to_string(), "{\"tokens\":\"2\"}".to_string())
            ]
        );
        let old_tables: i64 = ws
            .conn()
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('events', 'event_ids')", [], |r| r.get(0))
            .unwrap();
        assert_eq!(old_tables, 0);
        // The converted ids still deduplicate: of old-1 and new-1 only new-1 is new.
        let mut batch = crate::event_store::Batch::default();
        for (line, id) in [(1, "old-1"), (2, "new-1")] {
            batch.push(line, 1, 1, 1791201600000, None, id, |out| out.extend_from_slice(b"{}"));
        }
        let take = ws.write(|tx| crate::event_store::claim_keys(tx, &batch)).unwrap();
        assert_eq!(take, [false, true]);
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.meterdesk");
        Workspace::create(&path).unwrap();
        assert!(matches!(Workspace::create(&path), Err(Error::Conflict(_))));
    }

    #[test]
    fn open_of_a_missing_file_is_not_found_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.meterdesk");
        assert!(matches!(Workspace::open(&path), Err(Error::NotFound(_))));
        assert!(!path.exists());
    }

    #[test]
    fn a_text_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, "these are my notes, not a database\n").unwrap();
        let before = file_bytes(&path);
        let err = Workspace::open(&path).unwrap_err();
        assert!(matches!(err, Error::NotAWorkspace { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(file_bytes(&path), before);
    }

    #[test]
    fn another_programs_sqlite_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY); INSERT INTO photos VALUES (1);").unwrap();
        }
        let before = file_bytes(&path);
        let err = Workspace::open(&path).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NotAWorkspace, "{err}");
        assert_eq!(file_bytes(&path), before);
        assert!(!dir.path().join("other.db-wal").exists(), "no WAL file was started");
    }

    #[test]
    fn a_workspace_from_a_newer_meterdesk_is_refused_with_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.meterdesk");
        drop(Workspace::create(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 7).unwrap();
        }
        let before = file_bytes(&path);
        let err = Workspace::open(&path).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::NewerWorkspace);
        let message = err.to_string();
        assert!(message.contains(&format!("schema {}", SCHEMA_VERSION + 7)), "{message}");
        assert!(message.contains("newer Meterdesk"), "{message}");
        assert_eq!(file_bytes(&path), before);
    }

    #[test]
    fn an_empty_file_becomes_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.meterdesk");
        std::fs::write(&path, b"").unwrap();
        let ws = Workspace::open(&path).unwrap();
        assert_eq!(ws.schema_version().unwrap(), SCHEMA_VERSION);
    }

    /// Adds customer `id` with a long name and address, so pages fill quickly.
    fn insert_customer(tx: &rusqlite::Transaction, id: &str) -> Result<()> {
        let name = format!("Customer {id} with a long enough name to fill pages quickly");
        let address = serde_json::to_string(&vec!["x".repeat(150); 4]).unwrap();
        tx.execute(
            "INSERT INTO customers (external_id, name, currency, address, created_at, updated_at)
             VALUES (?1, ?2, 'USD', ?3, '2026-10-01T00:00:00Z', '2026-10-01T00:00:00Z')",
            params![id, name, address],
        )?;
        Ok(())
    }

    fn customers(ws: &Workspace) -> i64 {
        ws.conn().query_row("SELECT count(*) FROM customers", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_full_disk_is_reported_and_the_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::create(&dir.path().join("w.meterdesk")).unwrap();
        // SQLite's page limit gives the same SQLITE_FULL a full disk gives.
        let pages: i64 = ws.conn().pragma_query_value(None, "page_count", |r| r.get(0)).unwrap();
        ws.conn().pragma_update(None, "max_page_count", pages + 2).unwrap();
        let err = ws
            .write(|tx| {
                for i in 0..1000 {
                    insert_customer(tx, &format!("c{i}"))?;
                }
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::DiskFull, "{err}");
        assert!(err.to_string().contains("nothing was saved"), "{err}");
        assert_eq!(customers(&ws), 0, "no half-written import");
        ws.conn().pragma_update(None, "max_page_count", 1_000_000).unwrap();
        ws.write(|tx| insert_customer(tx, "after")).unwrap();
    }

    #[test]
    fn a_read_only_workspace_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut ws = Workspace::create(&dir.path().join("w.meterdesk")).unwrap();
        ws.conn().pragma_update(None, "query_only", true).unwrap();
        let err = ws.write(|tx| insert_customer(tx, "a")).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::ReadOnly, "{err}");
    }

    #[test]
    fn a_stale_read_only_shm_kept_the_workspace_unusable_without_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.meterdesk");
        drop(Workspace::create(&path).unwrap());
        // Left by an open of the workspace while it was read-only.
        let shm = dir.path().join("w.meterdesk-shm");
        std::fs::write(&shm, [0u8; 32]).unwrap();
        std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = Workspace::open(&path).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::ReadOnly, "{err}");
        assert!(err.to_string().contains(&format!("{} cannot be written", shm.display())), "{err}");
        // Made writable again, it opens.
        std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o644)).unwrap();
        Workspace::open(&path).unwrap();
    }

    #[test]
    fn a_write_held_by_another_connection_reports_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.meterdesk");
        let mut ws = Workspace::create(&path).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        ws.conn.busy_timeout(Duration::from_millis(10)).unwrap();
        let err = ws.write(|_| Ok(())).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::Locked, "{err}");
    }
}
