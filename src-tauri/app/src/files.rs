//! Which files the window may name. A command that reads or writes a file takes
//! its path from the webview, but only a path the user chose in a native
//! dialog this session (recorded here by the dialog's command, in Rust), or
//! one inside the scoped folder the app was started with: the webview can
//! never make the app read, overwrite or create a file the user did not pick.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use meterdesk_engine::Error;

/// The scoped folder, when set: save dialogs answer inside it without asking,
/// open dialogs answer with its newest file of the asked kind, and any file in
/// it may be read or written (the window tests set it: a native dialog cannot
/// be driven). Unset in normal use.
pub const SCOPE_VAR: &str = "METERDESK_DIALOG_DIR";

/// What the user granted a path for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Use {
    /// A file chosen in an open dialog: it may be read.
    Read,
    /// A file chosen in a save dialog: it may be written (created or replaced).
    Write,
    /// A folder chosen in a folder dialog: files may be written into it.
    Folder,
}

impl Use {
    fn words(self) -> &'static str {
        match self {
            Use::Read => "read",
            Use::Write => "written",
            Use::Folder => "written into",
        }
    }
}

#[derive(Debug, Default)]
pub struct Granted {
    scope: Option<PathBuf>,
    chosen: Mutex<HashSet<(PathBuf, Use)>>,
}

impl Granted {
    /// Nothing granted yet; the scoped folder from the environment, if set.
    pub fn from_env() -> Granted {
        Granted::scoped(std::env::var_os(SCOPE_VAR).map(PathBuf::from))
    }

    pub fn scoped(scope: Option<PathBuf>) -> Granted {
        Granted { scope, chosen: Mutex::default() }
    }

    /// The scoped folder, if the app was started with one.
    pub fn scope(&self) -> Option<&Path> {
        self.scope.as_deref()
    }

    /// Records that the user chose `path` for `use_` (called by the dialog
    /// commands with the dialog's answer, and by the import for the rejects
    /// file beside the file the user chose).
    pub fn grant(&self, path: &Path, use_: Use) {
        self.chosen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert((path.to_path_buf(), use_));
    }

    /// `path` if the user granted it for `use_`, otherwise an error saying to
    /// choose it in a dialog. `what` names the file in the error ("the PDF").
    pub fn check(&self, path: &Path, use_: Use, what: &str) -> Result<PathBuf, Error> {
        let chosen = self.chosen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if chosen.contains(&(path.to_path_buf(), use_)) || self.in_scope(path, use_) {
            return Ok(path.to_path_buf());
        }
        Err(Error::invalid(
            "path",
            format!(
                "{what} at {} cannot be {}: the console only uses files chosen in its file dialogs (Browse…)",
                path.display(),
                use_.words()
            ),
        ))
    }

    /// Whether `path` lies inside the scoped folder, symbolic links resolved
    /// (a link inside it pointing out does not count).
    fn in_scope(&self, path: &Path, use_: Use) -> bool {
        let Some(scope) = &self.scope else { return false };
        let Ok(scope) = scope.canonicalize() else { return false };
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return false;
        }
        let resolved = match use_ {
            Use::Read | Use::Folder => path.canonicalize(),
            // A file to be written may not exist yet: its folder must be inside,
            // and it must not be a link out of it.
            Use::Write => match (path.parent(), path.file_name()) {
                (Some(dir), Some(name)) => {
                    if path.is_symlink() {
                        path.canonicalize()
                    } else {
                        dir.canonicalize().map(|d| d.join(name))
                    }
                }
                _ => return false,
            },
        };
        resolved.is_ok_and(|p| p.starts_with(&scope))
    }

    /// In the scoped folder, the file an open dialog filtered on `extensions`
    /// answers with: the most recently changed one (none: cancelled).
    pub fn scoped_pick(&self, extensions: &[&str]) -> Option<PathBuf> {
        let scope = self.scope.as_ref()?;
        let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
        for entry in std::fs::read_dir(scope).ok()?.flatten() {
            let path = entry.path();
            let kind = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if !kind.is_some_and(|k| extensions.contains(&k.as_str())) || !path.is_file() {
                continue;
            }
            let changed = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            if newest.as_ref().is_none_or(|(t, p)| (changed, &path) > (*t, p)) {
                newest = Some((changed, path));
            }
        }
        newest.map(|(_, p)| p)
    }
}

/// Where an import's rejected rows go by default: beside the file, `-rejects`
/// added to its name, with the extension of the format they are written in.
pub fn rejects_beside(path: &Path, format: &str) -> PathBuf {
    let extension = match format {
        "csv" => "csv",
        "ndjson" => "ndjson",
        _ => "json",
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "events".into());
    path.with_file_name(format!("{stem}-rejects.{extension}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_chosen_for_that_use_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let granted = Granted::scoped(None);
        let pdf = dir.path().join("INV-1.pdf");
        let err = granted.check(&pdf, Use::Write, "The PDF").unwrap_err().to_string();
        assert!(err.contains("INV-1.pdf") && err.contains("chosen in its file dialogs"), "{err}");
        granted.grant(&pdf, Use::Write);
        assert_eq!(granted.check(&pdf, Use::Write, "The PDF").unwrap(), pdf);
        // Chosen to be written is not chosen to be read, nor is its folder.
        assert!(granted.check(&pdf, Use::Read, "The file").is_err());
        assert!(granted.check(dir.path(), Use::Folder, "The folder").is_err());
        // Another file in the same folder was never chosen.
        assert!(granted.check(&dir.path().join("other.pdf"), Use::Write, "The PDF").is_err());
        assert!(granted.check(Path::new("/etc/passwd"), Use::Read, "The file").is_err());
    }

    #[test]
    fn the_scoped_folder_allows_its_files_and_nothing_outside_it() {
        let root = tempfile::tempdir().unwrap();
        let scope = root.path().join("scope");
        std::fs::create_dir(&scope).unwrap();
        std::fs::write(root.path().join("secret.txt"), "x").unwrap();
        std::fs::write(scope.join("events.csv"), "x").unwrap();
        let granted = Granted::scoped(Some(scope.clone()));
        assert!(granted.check(&scope.join("events.csv"), Use::Read, "f").is_ok());
        assert!(granted.check(&scope.join("new.pdf"), Use::Write, "f").is_ok(), "a new file inside");
        assert!(granted.check(&scope, Use::Folder, "f").is_ok());
        assert!(granted.check(&root.path().join("secret.txt"), Use::Read, "f").is_err());
        assert!(granted.check(&scope.join("../secret.txt"), Use::Read, "f").is_err(), "no way out by ..");
        assert!(granted.check(&scope.join("missing/x.pdf"), Use::Write, "f").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("secret.txt"), scope.join("link.csv")).unwrap();
            assert!(granted.check(&scope.join("link.csv"), Use::Read, "f").is_err(), "a link out is outside");
            assert!(granted.check(&scope.join("link.csv"), Use::Write, "f").is_err(), "nor written through");
        }
        assert!(Granted::scoped(None).check(&scope.join("events.csv"), Use::Read, "f").is_err(), "no scope, no grant");
    }

    #[test]
    fn a_scoped_open_dialog_answers_with_the_newest_file_of_its_kind() {
        let scope = tempfile::tempdir().unwrap();
        let granted = Granted::scoped(Some(scope.path().to_path_buf()));
        assert_eq!(granted.scoped_pick(&["csv"]), None, "nothing to pick: cancelled");
        std::fs::write(scope.path().join("a.csv"), "x").unwrap();
        std::fs::write(scope.path().join("notes.txt"), "x").unwrap();
        assert_eq!(granted.scoped_pick(&["csv", "ndjson"]), Some(scope.path().join("a.csv")));
        assert_eq!(Granted::scoped(None).scoped_pick(&["csv"]), None);
    }

    #[test]
    fn rejects_go_beside_the_file_in_the_format_they_are_written_in() {
        assert_eq!(rejects_beside(Path::new("/d/october.csv"), "csv"), Path::new("/d/october-rejects.csv"));
        assert_eq!(rejects_beside(Path::new("/d/e.v1.jsonl"), "ndjson"), Path::new("/d/e.v1-rejects.ndjson"));
        assert_eq!(rejects_beside(Path::new("/d/cloud"), "cloudevents"), Path::new("/d/cloud-rejects.json"));
    }
}
