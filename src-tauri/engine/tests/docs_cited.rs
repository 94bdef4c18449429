//! The code cites the project's own specification (`docs/billing.md`,
//! `docs/interfaces.md`) by section: every citation must name a section that
//! exists, so a renamed heading cannot leave the code pointing at nothing,
//! and nothing cites the brief the project was started from.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["node_modules", "target", "generated", "dist"].contains(&name.as_str()) {
                sources(&path, out);
            }
        } else if [".rs", ".ts", ".tsx"].iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

fn headings(doc: &str) -> Vec<String> {
    doc.lines().filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### "))).map(str::to_string).collect()
}

#[test]
fn every_cited_section_of_the_docs_exists() {
    let root = repo();
    let mut files = Vec::new();
    for dir in ["src-tauri", "ui/src", "tests"] {
        sources(&root.join(dir), &mut files);
    }
    let mut cited = 0;
    let mut wrong = Vec::new();
    for file in &files {
        // Comments wrap: a citation may continue on the next `//` line.
        let text = std::fs::read_to_string(file).unwrap();
        let joined: String = text
            .lines()
            .map(|l| l.trim_start().trim_start_matches("//!").trim_start_matches("///").trim_start_matches("//").trim())
            .collect::<Vec<_>>()
            .join(" ");
        // The brief's two files, named so this test does not cite them itself.
        for brief in ["DESIGN", "INTERFACES"].map(|name| format!("{name}.md")) {
            if joined.contains(&brief) {
                wrong.push(format!("{} cites {brief}: cite docs/ instead", file.display()));
            }
        }
        for doc in ["billing", "interfaces"] {
            let marker = format!("docs/{doc}.md \"");
            let sections = headings(&std::fs::read_to_string(root.join(format!("docs/{doc}.md"))).unwrap());
            for (at, _) in joined.match_indices(&marker) {
                let rest = &joined[at + marker.len()..];
                let section = rest.split('"').next().unwrap_or_default();
                cited += 1;
                if !sections.iter().any(|s| s == section) {
                    wrong.push(format!(
                        "{} cites docs/{doc}.md \"{section}\", which has no such section",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(cited >= 10, "only {cited} citations found: is the scan reading the sources?");
}
