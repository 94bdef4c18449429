//! Where the desktop app keeps things outside a workspace: the default workspace
//! and the list of recently opened ones.

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
    std::fs::read_to_string(recent_file()).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

/// Puts `path` first in the recent list. The list is a convenience: failing to
/// write it never fails the open that called it.
pub fn remember(path: &Path) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
    let mut list = recent();
    list.retain(|p| p != &path);
    list.insert(0, path);
    list.truncate(RECENT_MAX);
    let file = recent_file();
    let written = file
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| std::fs::write(&file, serde_json::to_string_pretty(&list).unwrap_or_default()));
    if let Err(e) = written {
        eprintln!("meterdesk: could not update the recent list at {}: {e}", file.display());
    }
}
