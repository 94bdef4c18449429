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
