//! kube-sim's layers, kept by a test (the picture is in the crate README, "Layers").
//! Every top-level module of `src/` has a layer; a module imports (`crate::…`) only
//! from its own layer or below, never up. Within a layer there is no import circle,
//! and the HTTP API (`api/`) and the controllers (`controllers/`) stand side by side:
//! neither imports the other. Only the bundling layer (`sim.rs`, `lib.rs`'s
//! re-exports and the binary) knows both.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, from the bottom up (the README's list).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "values and names",
        &[
            "resources",
            "podspec",
            "annotations",
            "quantity",
            "selector",
            "patch",
            "clock",
            "config",
            "netblock",
            "status",
        ],
    ),
    (
        "state",
        &["store", "watch", "table", "admission", "quota", "events"],
    ),
    ("API verbs", &["api_state"]),
    ("surfaces", &["controllers", "api"]),
    ("bundle", &["sim", "lib", "main"]),
];

/// Modules of one layer that must not import each other in either direction.
const SIDE_BY_SIDE: &[(&str, &str)] = &[("api", "controllers")];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// The top-level modules a line refers to through `crate::` (`crate::a::b`,
/// `crate::{a, b::c}`); an item of the crate root (`crate::Error`) counts as `lib`.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let heads: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|p| p.trim().split("::").next().unwrap_or_default())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![&rest[..end]]
        };
        for h in heads.into_iter().filter(|h| !h.is_empty()) {
            let module = if h.starts_with(|c: char| c.is_uppercase()) {
                "lib"
            } else {
                h
            };
            out.push(module.to_owned());
        }
    }
    out
}

/// Module → (module it imports → first place it does).
fn imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned();
        let text = std::fs::read_to_string(&f).expect("source readable");
        let edges = graph.entry(top.clone()).or_default();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for m in crate_refs(line) {
                if m != top {
                    edges
                        .entry(m)
                        .or_insert_with(|| format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let missing: Vec<String> = imports()
        .keys()
        .filter(|m| layer_of(m).is_none())
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer (add them to LAYERS and to the README's picture): {missing:?}"
    );
}

#[test]
fn no_module_imports_back_up_a_layer() {
    let mut wrong = Vec::new();
    for (from, edges) in imports() {
        let Some(own) = layer_of(&from) else { continue };
        for (to, at) in edges {
            let Some(theirs) = layer_of(&to) else {
                continue;
            };
            if theirs > own {
                wrong.push(format!(
                    "{at}\n    ({from}, layer \"{}\", imports {to}, layer \"{}\")",
                    LAYERS[own].0, LAYERS[theirs].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports running back up a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn side_by_side_modules_do_not_import_each_other() {
    let graph = imports();
    let mut wrong = Vec::new();
    for (a, b) in SIDE_BY_SIDE {
        for (from, to) in [(a, b), (b, a)] {
            if let Some(at) = graph.get(*from).and_then(|e| e.get(*to)) {
                wrong.push(at.clone());
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "side-by-side imports:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_circle() {
    let graph = imports();
    // Depth-first search; a module met again while on the path closes a circle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut circle = path[i..].to_vec();
            circle.push(m.to_owned());
            circles.push(circle.join(" → "));
            return;
        }
        if !done.insert(m.to_owned()) {
            return;
        }
        path.push(m.to_owned());
        for to in graph.get(m).into_iter().flat_map(|e| e.keys()) {
            visit(to, graph, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn crate_refs_reads_paths_and_groups() {
    assert_eq!(crate_refs("use crate::store::{Obj, Store};"), ["store"]);
    assert_eq!(
        crate_refs("use crate::{Error, controllers::gc};"),
        ["lib", "controllers"]
    );
    assert_eq!(
        crate_refs("x(crate::clock::parse_ts, crate::table::table(a))"),
        ["clock", "table"]
    );
    assert!(crate_refs("use super::Controller;").is_empty());
}
