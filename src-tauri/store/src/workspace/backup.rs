//! Backups of the workspace file: on demand (`backup OUT`), automatically
//! before every migration and every finalize run (the last N kept, a
//! setting), and restored from one without ever losing the current file:
//! it is kept aside first.
//!
//! A backup is `VACUUM INTO`: one read transaction, so it is consistent while
//! the console or an import writes, and it waits for no writer. A restore
//! copies a backup into the open workspace through SQLite's backup API, under
//! the workspace's own lock, so other connections see the restored file.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use ts_rs::TS;

use super::Workspace;
use crate::error::{Error, Result};

/// A backup file written or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct BackupFile {
    /// Its file name in the workspace's backups folder (or the path given).
    pub name: String,
    pub path: String,
    pub bytes: u64,
}

/// What a restore did: the workspace now holds `restored`; what it held
/// before is kept as `kept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct Restored {
    pub path: String,
    pub bytes: u64,
    pub restored: String,
    pub kept: BackupFile,
}

fn file(path: &Path) -> Result<BackupFile> {
    let bytes = std::fs::metadata(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?.len();
    Ok(BackupFile {
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        path: path.display().to_string(),
        bytes,
    })
}

/// The folder automatic backups go to: `<workspace>.backups` beside it.
pub fn folder(ws_path: &Path) -> PathBuf {
    let mut name = ws_path.as_os_str().to_os_string();
    name.push(".backups");
    PathBuf::from(name)
}

/// A name not yet taken in the backups folder of `ws_path`:
/// `<stem>-<label>.meterdesk`, or `<stem>-<label>-<n>.meterdesk`.
fn free_name(ws_path: &Path, label: &str) -> PathBuf {
    let dir = folder(ws_path);
    let stem = ws_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = dir.join(format!("{stem}-{label}.meterdesk"));
    let mut n = 1;
    while out.exists() {
        n += 1;
        out = dir.join(format!("{stem}-{label}-{n}.meterdesk"));
    }
    out
}

/// Writes a consistent copy of the workspace to `out` (which must not exist).
pub fn write(ws: &Workspace, out: &Path) -> Result<BackupFile> {
    vacuum_into(ws.conn(), out)?;
    file(out)
}

fn vacuum_into(conn: &rusqlite::Connection, out: &Path) -> Result<()> {
    if out.exists() {
        return Err(Error::Conflict(format!("{} already exists: a backup never overwrites a file", out.display())));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("cannot create folder {}: {e}", dir.display())))?;
    }
    let text = out.to_str().ok_or_else(|| Error::invalid("path", format!("{} is not UTF-8", out.display())))?;
    conn.execute("VACUUM INTO ?1", [text])?;
    Ok(())
}

/// An automatic backup into the workspace's backups folder, named
/// `<stem>-<UTC time>-<reason>.meterdesk`; then only the newest `keep` of
/// them stay (0: no automatic backups). None for an in-memory workspace.
pub fn automatic(ws: &Workspace, reason: &str, now: DateTime<Utc>) -> Result<Option<BackupFile>> {
    let keep = crate::settings::get(ws.conn())?.backups_keep;
    if keep == 0 || ws.path() == Path::new(":memory:") {
        return Ok(None);
    }
    let out = free_name(ws.path(), &format!("{}-{reason}", now.format("%Y%m%dT%H%M%SZ")));
    let written = write(ws, &out)?;
    prune(ws.path(), keep as usize)?;
    Ok(Some(written))
}

/// Before a migration, a copy of the file as its schema `from` left it (the
/// workspace's connection is open, nothing migrated yet); kept like the others.
pub(crate) fn before_migration(conn: &rusqlite::Connection, ws_path: &Path, from: i64) -> Result<()> {
    vacuum_into(conn, &free_name(ws_path, &format!("schema-{from}-before-migration")))
}

/// The backups in the workspace's folder, newest first.
pub fn list(ws_path: &Path) -> Result<Vec<BackupFile>> {
    let dir = folder(ws_path);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut found: Vec<(std::time::SystemTime, BackupFile)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "meterdesk") {
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, file(&path)?));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.name.cmp(&a.1.name)));
    Ok(found.into_iter().map(|(_, f)| f).collect())
}

/// Keeps the newest `keep` backups of the folder.
fn prune(ws_path: &Path, keep: usize) -> Result<()> {
    for old in list(ws_path)?.into_iter().skip(keep) {
        std::fs::remove_file(&old.path).map_err(|e| Error::Io(format!("cannot remove {}: {e}", old.path)))?;
    }
    Ok(())
}

/// [`restore`] of the backup named `name` in the workspace's backups folder
/// (a name as [`list`] gives it, never a path elsewhere).
pub fn restore_named(ws: &mut Workspace, name: &str, now: DateTime<Utc>) -> Result<Restored> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::invalid("name", format!("\"{name}\" is not a backup of this workspace")));
    }
    let from = folder(ws.path()).join(name);
    if !from.is_file() {
        return Err(Error::NotFound(format!("no backup named {name}")));
    }
    restore(ws, &from, now)
}

/// Replaces what the workspace holds with the backup at `from` (a Meterdesk
/// workspace, not newer than this build), after keeping the current content
/// in the backups folder; never while an import writes into it.
pub fn restore(ws: &mut Workspace, from: &Path, now: DateTime<Utc>) -> Result<Restored> {
    super::check_is_ours(from)?;
    if std::path::absolute(from).ok().as_deref() == Some(ws.path()) {
        return Err(Error::invalid("from", "that is the workspace itself: choose a backup"));
    }
    let _lock = ws.exclusive_import_lock()?;
    let aside = free_name(ws.path(), &format!("{}-before-restore", now.format("%Y%m%dT%H%M%SZ")));
    let kept = write(ws, &aside)?;
    ws.restore_from(from)?;
    Ok(Restored {
        path: ws.path().display().to_string(),
        bytes: file(ws.path())?.bytes,
        restored: from.display().to_string(),
        kept,
    })
}
