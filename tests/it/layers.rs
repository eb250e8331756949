//! The modules of `src/` form layers (docs/ARCHITECTURE.md draws them): a module may
//! import its own layer and the layers below, never one above, and no set of modules
//! imports itself in a circle. Read from the `crate::` paths of non-test code, as
//! `../shared/tools/modgraph.py` reads them. A new top-level module must be placed in
//! a layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top.
const LAYERS: [(&str, &[&str]); 8] = [
    (
        "vocabulary",
        &[
            "allocator",
            "attempt",
            "bench",
            "body",
            "breaker",
            "budget",
            "calendar",
            "error",
            "excerpt",
            "listen",
            "metrics",
            "routing",
            "secret",
            "shutdown",
            "split",
            "sync",
            "tls",
        ],
    ),
    ("transport", &["headers", "transport"]),
    ("data model", &["answer", "cache", "config", "derive", "normalize"]),
    ("runtime state", &["access_log", "audit", "server", "snapshot", "state", "workers"]),
    ("request path parts", &["candidates", "cluster", "gateway", "policy", "reload", "upstream"]),
    ("request paths", &["pipeline", "probe", "stream"]),
    ("way in and admin", &["admin", "ingress", "openapi"]),
    ("composition root", &["app"]),
];

/// Top-level module -> the top-level modules its non-test code names as `crate::x`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
            let is_test = rel.ends_with("tests.rs") || rel.contains("/tests/");
            if !rel.ends_with(".rs") || is_test || rel == "main.rs" || rel == "lib.rs" {
                continue;
            }
            let top = rel.split('/').next().unwrap_or_default().trim_end_matches(".rs").to_owned();
            let text = std::fs::read_to_string(&path).expect("read");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let deps = edges.entry(top.clone()).or_default();
            for line in code.lines().map(|l| l.split("//").next().unwrap_or_default()) {
                for (i, _) in line.match_indices("crate::") {
                    let name: String =
                        line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() && name != top {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    edges
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

#[test]
fn no_module_imports_a_higher_layer() {
    let edges = imports();
    let unplaced: Vec<&String> = edges.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules in no layer (place them in LAYERS and docs/ARCHITECTURE.md): {unplaced:?}");
    let mut upward = Vec::new();
    for (from, deps) in &edges {
        let at = layer_of(from).unwrap_or(0);
        for to in deps {
            if layer_of(to).is_some_and(|l| l > at) {
                upward.push(format!(
                    "{from} ({}) imports {to} ({})",
                    LAYERS[at].0,
                    LAYERS[layer_of(to).unwrap_or(0)].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "imports going up a layer:\n{}", upward.join("\n"));
}

#[test]
fn no_modules_import_each_other_in_a_circle() {
    let edges = imports();
    // A module is in a circle when it can reach itself.
    let mut circles = Vec::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[start].iter().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                circles.push(start.clone());
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(edges.get(m).into_iter().flatten());
            }
        }
    }
    assert!(circles.is_empty(), "modules that reach themselves through imports: {circles:?}");
    assert!(edges.len() > 30, "the scan found {} modules: it is broken", edges.len());
}
