//! focus-sandbox's modules import each other without a circle (`crate::…` paths; an
//! item of the crate root counts as `lib`), and the modules at the bottom (names,
//! rule classes, config, errors) import nothing of the crate but each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules every other may stand on; they import only from this list.
const BOTTOM: &[&str] = &["names", "rule", "config", "error"];

/// Module → modules it names through `crate::`, with the first line that does.
fn imports() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src readable").flatten() {
        let path = entry.path();
        let Some(module) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".rs"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("source readable");
        let edges: &mut BTreeMap<String, String> = graph.entry(module.to_owned()).or_default();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for part in line.split("crate::").skip(1) {
                let group = part
                    .strip_prefix('{')
                    .map(|g| g.split('}').next().unwrap_or(""));
                let heads: Vec<&str> = match group {
                    Some(g) => g.split(',').map(|p| p.trim()).collect(),
                    None => vec![part],
                };
                for head in heads {
                    let name: String = head
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let to = if name.starts_with(char::is_uppercase) {
                        "lib".to_owned()
                    } else {
                        name
                    };
                    if !to.is_empty() && to != module {
                        edges
                            .entry(to)
                            .or_insert_with(|| format!("{module}.rs:{}: {}", n + 1, line.trim()));
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn no_import_circle() {
    let graph = imports();
    // A module that reaches itself again through its imports is on a circle.
    let mut circles = BTreeSet::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = graph[start].keys().collect();
        while let Some(m) = todo.pop() {
            if m == start {
                circles.insert(start.clone());
                break;
            }
            if seen.insert(m.clone()) {
                todo.extend(graph.get(m).into_iter().flat_map(|e| e.keys()));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules on an import circle: {circles:?}\n{graph:#?}"
    );
}

#[test]
fn the_bottom_imports_nothing_above_it() {
    let mut wrong = Vec::new();
    for (module, edges) in imports() {
        if BOTTOM.contains(&module.as_str()) {
            for (to, at) in edges {
                if !BOTTOM.contains(&to.as_str()) {
                    wrong.push(at);
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "bottom modules importing up:\n{}",
        wrong.join("\n")
    );
}
