//! The library's layout stays walkable: no import cycle between its top-level modules (a
//! module is a file of `shared/src` or a folder with its `mod.rs`; test files and `#[cfg(test)]`
//! sections do not count). Each `crate::<module>` path a module's code names is one edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// Top-level module -> the top-level modules its code names.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("shared/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let module_of = |path: &str| {
        let rel = Path::new(path).strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        first.trim_end_matches(".rs").to_string()
    };
    let top: BTreeSet<String> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let name = Path::new(path).file_stem().unwrap().to_string_lossy().to_string();
        if name.ends_with("tests") {
            continue;
        }
        let from = module_of(path);
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = graph.entry(from.clone()).or_default();
        for piece in code.split("crate::").skip(1) {
            let to: String = piece.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if to != from && top.contains(&to) {
                deps.insert(to);
            }
        }
        // `use crate::{a::X, b::Y}`
        for group in code.split("use crate::{").skip(1) {
            let inside = group.split('}').next().unwrap();
            for item in inside.split(',') {
                let to = item.trim().split("::").next().unwrap().to_string();
                if to != from && top.contains(&to) {
                    deps.insert(to);
                }
            }
        }
    }
    graph
}

/// A path from `to` back to `from`, if there is one.
fn path_back(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![to.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap().clone();
        if last == from {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in graph.get(&last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            stack.push(longer);
        }
    }
    None
}

#[test]
fn the_library_has_no_import_cycle() {
    let graph = import_graph();
    assert!(graph.len() >= 20, "{graph:?}");
    let mut cycles = Vec::new();
    for (from, deps) in &graph {
        for to in deps {
            if let Some(back) = path_back(&graph, from, to) {
                cycles.push(format!("{from} -> {}", back.join(" -> ")));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// No library file over 500 lines and no function over 80 (tests aside): split by concept first.
#[test]
fn library_files_and_functions_stay_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("shared/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut too_big = Vec::new();
    for (path, text) in &files {
        if Path::new(path).file_stem().unwrap().to_string_lossy().ends_with("tests") {
            continue;
        }
        let code: Vec<&str> = text.split("\n#[cfg(test)]").next().unwrap().lines().collect();
        if code.len() > 500 {
            too_big.push(format!("{path}: {} lines", code.len()));
        }
        for (start, line) in code.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(crate) async fn ",
                "pub(super) fn ",
                "pub(super) async fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !is_fn || trimmed.ends_with(';') {
                continue;
            }
            let end = code[start..].iter().position(|l| *l == format!("{indent}}}")).map_or(code.len(), |n| start + n);
            if end - start + 1 > 80 {
                too_big.push(format!("{path}:{}: a function of {} lines", start + 1, end - start + 1));
            }
        }
    }
    assert!(too_big.is_empty(), "{}", too_big.join("\n"));
}
