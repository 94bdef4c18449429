//! Where the desktop app keeps things outside a workspace: the default workspace
//! the list of recently opened ones, and whether alerts are desktop notifications.

use std::path::{Path, PathBuf};

const RECENT_MAX: usize = 10;

fn app_dir(base: Option<PathBuf>) -> PathBuf {
    base.unwrap_or_else(std::env::temp_dir).join("meterdesk")
}

/// The workspace used when none is named: in the user's data directory.
pub fn default_workspace() -> PathBuf {
    app_dir(dirs::data_dir()).join("workspace.meterdesk")
}

fn recent_file() -> PathBuf {
    app_dir(dirs::config_dir()).join("recent.json")
}

/// Recently opened workspaces, most recent first.
pub fn recent() -> Vec<String> {
    read_recent(&recent_file())
}

/// Puts `path` first in the recent list. The list is a convenience: failing to
/// write it never fails the open that called it.
pub fn remember(path: &Path) {
    let file = recent_file();
    if let Err(e) = remember_in(&file, path) {
        eprintln!("meterdesk: could not update the recent list at {}: {e}", file.display());
    }
}

fn notifications_file() -> PathBuf {
    app_dir(dirs::config_dir()).join("notifications")
}

/// Whether wallet alerts also show as desktop notifications (a choice of this
/// machine's user, not of the workspace; off until chosen).
pub fn notifications_enabled() -> bool {
    std::fs::read_to_string(notifications_file()).is_ok_and(|t| t.trim() == "on")
}

pub fn set_notifications(enabled: bool) -> std::io::Result<()> {
    let file = notifications_file();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, if enabled { "on\n" } else { "off\n" })
}

fn save_folder_file() -> PathBuf {
    app_dir(dirs::config_dir()).join("save-folder")
}

/// Where a save dialog opens: the folder of the last file saved, while it
/// exists, else the user's documents folder (else home).
pub fn save_folder() -> Option<PathBuf> {
    save_folder_in(&save_folder_file())
}

fn save_folder_in(file: &Path) -> Option<PathBuf> {
    let last = std::fs::read_to_string(file).ok().map(|t| PathBuf::from(t.trim())).filter(|p| p.is_dir());
    last.or_else(dirs::document_dir).or_else(dirs::home_dir)
}

/// Remembers the folder a file was saved in, for the next save dialog (a
/// convenience: a failure is only said).
pub fn remember_save_folder(saved: &Path) {
    let file = save_folder_file();
    let Some(folder) = saved.parent() else { return };
    let written = file
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&file, folder.display().to_string()));
    if let Err(e) = written {
        eprintln!("meterdesk: could not remember the save folder at {}: {e}", file.display());
    }
}

/// A file name a person reads and every file system takes: the characters
/// Windows and macOS refuse become a space, runs of spaces one, and the
/// name is cut at 150 characters (the extension kept).
pub fn file_name(wanted: &str) -> String {
    let cleaned: String =
        wanted.chars().map(|c| if "/\\:*?\"<>|".contains(c) || c.is_control() { ' ' } else { c }).collect();
    let mut name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.chars().count() > 150 {
        let (stem, ext) = match name.rfind('.') {
            Some(i) if name.len() - i <= 6 => (name[..i].to_string(), name[i..].to_string()),
            _ => (name.clone(), String::new()),
        };
        name = stem.chars().take(150 - ext.chars().count()).collect::<String>() + &ext;
    }
    if name.trim_matches('.').is_empty() { "file".into() } else { name }
}

fn read_recent(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

fn remember_in(file: &Path, path: &Path) -> std::io::Result<()> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
    let mut list = read_recent(file);
    list.retain(|p| p != &path);
    list.insert(0, path);
    list.truncate(RECENT_MAX);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, serde_json::to_string_pretty(&list).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_suggested_file_name_reads_well_and_every_file_system_takes_it() {
        assert_eq!(super::file_name("INV-2026-00001 Globex Corp.pdf"), "INV-2026-00001 Globex Corp.pdf");
        assert_eq!(super::file_name("INV-2026-00002 A/B: \"Tools\"  Ltd?.pdf"), "INV-2026-00002 A B Tools Ltd .pdf");
        let long = format!("INV-1 {}.pdf", "x".repeat(300));
        let cut = super::file_name(&long);
        assert!(cut.ends_with(".pdf") && cut.chars().count() == 150, "{cut}");
        assert_eq!(super::file_name("///"), "file");
    }

    #[test]
    fn the_save_folder_is_the_last_one_used_while_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("save-folder");
        std::fs::write(&file, dir.path().display().to_string()).unwrap();
        assert_eq!(super::save_folder_in(&file).as_deref(), Some(dir.path()));
        std::fs::write(&file, dir.path().join("gone").display().to_string()).unwrap();
        assert_ne!(super::save_folder_in(&file).as_deref(), Some(dir.path().join("gone").as_path()));
    }

    use super::*;

    #[test]
    fn recent_list_is_most_recent_first_deduplicated_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config/recent.json");
        assert!(read_recent(&file).is_empty(), "no file yet: an empty list");
        for i in 0..12 {
            remember_in(&file, &dir.path().join(format!("w{i}.meterdesk"))).unwrap();
        }
        remember_in(&file, &dir.path().join("w5.meterdesk")).unwrap();
        let list = read_recent(&file);
        assert_eq!(list.len(), RECENT_MAX);
        assert!(list[0].ends_with("w5.meterdesk") && list[1].ends_with("w11.meterdesk"), "{list:?}");
        assert_eq!(list.iter().filter(|p| p.ends_with("w5.meterdesk")).count(), 1);
        std::fs::write(&file, "not json").unwrap();
        assert!(read_recent(&file).is_empty(), "a damaged list is treated as empty");
    }
}
