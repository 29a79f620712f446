//! The suite's layers, kept by a test (docs/architecture.md): only `target::kube`
//! (src/target/kube/) builds a `kube::Api` or holds the `kube::Client`; everything
//! else reaches Kubernetes through its functions. Tests arrange and inspect the
//! simulated cluster with clients of their own (the sandbox's, or one they build).
//! And every module of src/ imports only the modules its layer may: the `crate::`
//! paths, read as plain text (no compiling).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `file:line: text` for each line of a `.rs` file under `root/src`, outside
/// `src/target/kube/`, that builds a `kube::Api` or reaches for the client.
fn api_outside_target_kube(root: &Path) -> Vec<String> {
    let pattern =
        regex::Regex::new(r"\bApi\s*::\s*(<|namespaced|all|default_namespaced)|\bkube::Api\b|\bkube::api::Api\b|\bApi\s*<|\bkube::Client\b|\.client\(\)")
            .expect("regex");
    let src = root.join("src");
    let kube = src.join("target").join("kube");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for f in files.iter().filter(|f| !f.starts_with(&kube)) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if pattern.is_match(line) {
                let rel = f.strip_prefix(root).unwrap_or(f).display();
                wrong.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    wrong
}

#[test]
fn only_target_kube_builds_kube_apis() {
    let wrong = api_outside_target_kube(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        wrong.is_empty(),
        "kube::Api built outside src/target/kube/ (add a function there instead):\n{}",
        wrong.join("\n")
    );
}

/// A tree of files (path, text) for a test, in a temporary folder.
fn fixture(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

#[test]
fn an_api_built_elsewhere_is_found() {
    let dir = fixture(&[
        (
            "src/target/kube/mod.rs",
            "fn api(&self) -> Api<Pod> { Api::namespaced(self.client.clone(), &self.ns) }\n",
        ),
        (
            "src/spec/x.rs",
            "// Api::<Pod>::namespaced in a comment is no use\nlet pods: Api<Pod> = Api::namespaced(c, ns);\n",
        ),
        ("src/run/y.rs", "let c = cluster.client();\n"),
        (
            "src/report/z.rs",
            "let nodes = kube::Api::<Node>::all(c);\n",
        ),
    ]);
    let wrong = api_outside_target_kube(dir.path());
    assert_eq!(wrong.len(), 3, "{wrong:#?}");
    assert!(wrong[0].starts_with("src/report/z.rs:1:"), "{wrong:#?}");
    assert!(wrong[1].starts_with("src/run/y.rs:1:"), "{wrong:#?}");
    assert!(wrong[2].starts_with("src/spec/x.rs:2:"), "{wrong:#?}");
}

// ---- The import graph of src/ (docs/architecture.md: what each folder may import) ----

/// What each module of `src/` may import: a folder (`run/`, `steps/`, …) or a file at
/// the top (`cli.rs`, `world.rs`, …) is one module. Top to bottom; `lib.rs` only
/// declares the modules and is not in the graph.
const MAY_IMPORT: &[(&str, &[&str])] = &[
    ("main", &["cli", "output", "run", "safety", "target"]),
    (
        "run",
        &[
            "cli", "output", "world", "steps", "report", "safety", "spec", "target",
        ],
    ),
    ("steps", &["world", "report", "safety", "spec", "target"]),
    ("world", &["report", "safety", "spec", "target"]),
    ("report", &["spec", "target"]),
    ("safety", &["output", "spec", "target"]),
    ("spec", &["target"]),
    ("target", &[]),
    ("cli", &[]),
    ("output", &[]),
];

/// Imports that run up a layer, by module and the path they import (its first two
/// segments); each is explained in docs/architecture.md.
const UPWARD: &[(&str, &str)] = &[
    // The run makes its context and lends it to each scenario's world.
    ("world", "run::suite"),
    ("world", "run::exclusive"),
];

/// A use tree or path after `crate::`: its leaves, each the first two segments (or
/// one) and the name it is bound to (`as x`, else the last segment).
fn leaves(
    s: &[u8],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, String)>,
) -> usize {
    let ident = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
            *i += 1;
        }
        String::from_utf8_lossy(&s[start..*i]).to_string()
    };
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let mut path = prefix.to_vec();
    loop {
        skip_ws(&mut i);
        if i < s.len() && s[i] == b'{' {
            i += 1;
            loop {
                i = leaves(s, i, &path, out);
                skip_ws(&mut i);
                match s.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => return i + 1,
                    _ => return i,
                }
                skip_ws(&mut i);
                if s.get(i) == Some(&b'}') {
                    return i + 1;
                }
            }
        }
        let name = ident(&mut i);
        if name.is_empty() {
            if !path.is_empty() {
                let last = path.last().cloned().unwrap_or_default();
                out.push((path, last));
            }
            return i;
        }
        if s.get(i) == Some(&b'!') && path.is_empty() {
            out.push((vec![format!("{name}!")], name));
            return i;
        }
        if name != "self" {
            path.push(name.clone());
        }
        if s[i..].starts_with(b"::") {
            i += 2;
            continue;
        }
        let mut bound = name;
        let mut j = i;
        skip_ws(&mut j);
        if s[j..].starts_with(b"as ") {
            j += 3;
            skip_ws(&mut j);
            bound = ident(&mut j);
            i = j;
        }
        path.truncate(2);
        out.push((path, bound));
        return i;
    }
}

/// Every import edge between modules of `root/src`: (from, to) → `file:line: path`.
fn import_graph(root: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let src = root.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let module = |f: &Path| -> String {
        let rel = f.strip_prefix(&src).unwrap_or(f);
        let mut parts = rel.components();
        let first = parts
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        let first = first.unwrap_or_default();
        if parts.next().is_some() {
            first
        } else {
            first.trim_end_matches(".rs").to_string()
        }
    };
    let code = |f: &Path| -> String {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        text.lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module(f)).collect();
    // lib.rs's flat re-exports (`crate::suite` is `run::suite`) and the exported macros.
    let mut alias: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let lib = code(&src.join("lib.rs"));
    for (at, _) in lib.match_indices("use ") {
        let mut found = Vec::new();
        leaves(lib.as_bytes(), at + 4, &[], &mut found);
        for (path, bound) in found {
            if path.len() == 2 && modules.contains(&path[0]) {
                alias.insert(bound, path);
            }
        }
    }
    let macro_def = regex::Regex::new(r"macro_rules!\s*([A-Za-z_][A-Za-z0-9_]*)").expect("regex");
    for f in &files {
        for c in macro_def.captures_iter(&code(f)) {
            alias.insert(format!("{}!", &c[1]), vec![module(f)]);
        }
    }
    let reference = regex::Regex::new(r"\$?\b(crate|focus_scope)::").expect("regex");
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for f in files.iter().filter(|f| !f.ends_with("src/lib.rs")) {
        let from = module(f);
        let text = code(f);
        for m in reference.find_iter(&text) {
            let mut found = Vec::new();
            leaves(text.as_bytes(), m.end(), &[], &mut found);
            for (path, _) in found {
                let Some(first) = path.first() else { continue };
                let resolved = if modules.contains(first) {
                    path.clone()
                } else if let Some(a) = alias.get(first) {
                    a.iter()
                        .chain(path.iter().skip(1))
                        .take(2)
                        .cloned()
                        .collect()
                } else {
                    continue;
                };
                if resolved[0] == from {
                    continue;
                }
                let line = text[..m.start()].matches('\n').count() + 1;
                let rel = f.strip_prefix(root).unwrap_or(f).display();
                edges
                    .entry((from.clone(), resolved[0].clone()))
                    .or_default()
                    .push(format!("{rel}:{line}: {}", resolved.join("::")));
            }
        }
    }
    edges
}

/// Imports the table does not allow (`file:line: path`, with the rule broken).
fn upward_imports(edges: &BTreeMap<(String, String), Vec<String>>) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = MAY_IMPORT.iter().copied().collect();
    let mut wrong = Vec::new();
    for ((from, to), at) in edges {
        if allowed
            .get(from.as_str())
            .is_some_and(|a| a.contains(&to.as_str()))
        {
            continue;
        }
        for e in at {
            let path = e.rsplit(": ").next().unwrap_or_default();
            let two: String = path.split("::").take(2).collect::<Vec<_>>().join("::");
            if !UPWARD.contains(&(from.as_str(), two.as_str())) {
                wrong.push(format!("{e}  ({from} may not import {to})"));
            }
        }
    }
    wrong
}

/// Groups of modules that import each other in a circle of more than two.
fn long_cycles(edges: &BTreeMap<(String, String), Vec<String>>) -> Vec<BTreeSet<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().insert(to);
    }
    let reach = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(m) = todo.pop() {
            for n in next.get(m).into_iter().flatten() {
                if seen.insert(*n) {
                    todo.push(n);
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|m| (*m, reach(m))).collect();
    let mut groups = BTreeSet::new();
    for (m, r) in &reached {
        let group: BTreeSet<String> = r
            .iter()
            .filter(|n| reached.get(**n).is_some_and(|back| back.contains(m)))
            .map(|n| n.to_string())
            .collect();
        if group.len() > 2 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn every_import_points_down_a_layer() {
    let edges = import_graph(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        edges.contains_key(&("run".into(), "spec".into())),
        "the graph finds nothing: {edges:#?}"
    );
    let wrong = upward_imports(&edges);
    assert!(
        wrong.is_empty(),
        "imports that run up a layer (docs/architecture.md says what each folder may import):\n{}",
        wrong.join("\n")
    );
    let cycles = long_cycles(&edges);
    assert!(
        cycles.is_empty(),
        "import circles of more than one pair: {cycles:?}"
    );
}

#[test]
fn an_upward_import_and_a_long_circle_are_found() {
    let dir = fixture(&[
        (
            "src/lib.rs",
            "pub(crate) use {run::suite, spec::footprint as fp};\n",
        ),
        (
            "src/run/mod.rs",
            "use crate::{spec::x, target::{kube, net}};\n",
        ),
        (
            "src/spec/a.rs",
            "// crate::run::suite in a comment is no import\nuse crate::target::kube::Cluster;\n",
        ),
        // A flat path through lib.rs, and a macro: both resolved to their modules.
        (
            "src/target/kube/b.rs",
            "let s = crate::suite::Suite::new();\ncrate::say!(\"x\");\n",
        ),
        ("src/output.rs", "macro_rules! say { () => {} }\n"),
        (
            "src/world.rs",
            "use crate::run::suite::Suite;\nuse crate::fp::GPU;\n",
        ),
    ]);
    let edges = import_graph(dir.path());
    let wrong = upward_imports(&edges);
    assert_eq!(wrong.len(), 2, "{wrong:#?}");
    assert!(
        wrong[0].starts_with("src/target/kube/b.rs:2: output  (target may not import output)"),
        "{wrong:#?}"
    );
    assert!(
        wrong[1].starts_with("src/target/kube/b.rs:1: run::suite  (target may not import run)"),
        "{wrong:#?}"
    );
    // world → run::suite is a named exception; world → spec goes down.
    assert!(
        edges.contains_key(&("world".into(), "spec".into())),
        "{edges:#?}"
    );
    let cycles = long_cycles(&edges);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(
        cycles[0].iter().map(String::as_str).collect::<Vec<_>>(),
        ["run", "spec", "target"]
    );
}
