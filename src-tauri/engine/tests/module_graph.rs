//! The module graphs of the engine and the store: which top-level modules
//! name which (`crate::x` anywhere outside tests) and their strongly
//! connected components. Both are acyclic (the engine had 19 of 30 modules
//! in one cycle before issue 14) and must stay so: a module that needs one
//! above it means a helper is in the wrong place. Between the crates, Cargo
//! itself refuses a cycle (rules ← store ← engine ← app).
//! `cargo test -p meterdesk-engine --test module_graph -- --nocapture`
//! prints each crate's modules in layers, bottom first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules each top-level module of crate folder `krate`
/// (beside the engine's) names.
fn graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    collect(&src, &mut files);
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        let module = first.trim_end_matches(".rs").to_string();
        let name = relative.file_name().unwrap().to_string_lossy();
        if module == "lib" || module.ends_with("tests") || name == "tests.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may name anything; only the code counts.
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let named = graph.entry(module.clone()).or_default();
        for target in crate_paths(code) {
            if target != module {
                named.insert(target);
            }
        }
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The first segment of every `crate::…` path in `code`, braces included
/// (`crate::{a, b::c}` names a and b).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `meterdesk_crate::` or `$crate::`
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    let name = ident(item.trim_start_matches([',', ' ', '\n']).trim());
                    if !name.is_empty() && name != "self" {
                        out.insert(name);
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    item.push(c); // a nested group's inside is skipped: its head is in `item`
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// Tarjan's strongly connected components with more than one module.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !graph.contains_key(w) {
                continue; // not a module (a macro, a re-export)
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// Each module's layer: 0 for one that names no other, else one above the
/// highest it names. Only defined on an acyclic graph.
fn layers(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, usize> {
    fn layer(m: &str, graph: &BTreeMap<String, BTreeSet<String>>, known: &mut BTreeMap<String, usize>) -> usize {
        if let Some(&l) = known.get(m) {
            return l;
        }
        let l =
            graph[m].iter().filter(|t| graph.contains_key(*t)).map(|t| layer(t, graph, known) + 1).max().unwrap_or(0);
        known.insert(m.to_string(), l);
        l
    }
    let mut known = BTreeMap::new();
    for m in graph.keys() {
        layer(m, graph, &mut known);
    }
    known
}

#[test]
fn the_module_graphs_are_acyclic() {
    for krate in ["store", "engine"] {
        let graph = graph(krate);
        let found = cycles(&graph);
        let in_cycles: usize = found.iter().map(Vec::len).sum();
        println!("{krate}: {} modules, {} in {} cycle(s)", graph.len(), in_cycles, found.len());
        for component in &found {
            println!("cycle: {}", component.join(" "));
        }
        assert!(found.is_empty(), "{krate}: {in_cycles} modules are caught in import cycles: {found:?}");
        let layers = layers(&graph);
        for n in 0..=layers.values().copied().max().unwrap_or(0) {
            let at: Vec<&str> = layers.iter().filter(|(_, l)| **l == n).map(|(m, _)| m.as_str()).collect();
            println!("  layer {n}: {}", at.join(" "));
        }
    }
}

#[test]
fn paths_are_read_from_plain_and_grouped_uses() {
    let names = crate_paths(
        "use crate::money::Dec;\nuse crate::{bill::{self, Draft}, error::Result};\nlet x = crate::rating::rate();\n$crate::skip",
    );
    assert_eq!(names, ["bill", "error", "money", "rating"].map(String::from).into());
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string(), "d".to_string()]));
    graph.insert("d".to_string(), BTreeSet::new());
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}
