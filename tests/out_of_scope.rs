//! Out-of-scope guard (docs/scope.md, "OUT OF SCOPE"): the suite stops where the stream
//! transport begins. Three rules, each shown to fail on a fixture under
//! `tests/fixtures/out_of_scope/`:
//!
//! 1. **No gRPC client**: no dependency named `tonic*`, `prost*`, `grpcio*` or containing
//!    `grpc` in any `Cargo.toml` of the workspace (every `*dependencies` table, target
//!    tables and renames included), and no such package in `Cargo.lock`.
//! 2. **No out-of-scope vocabulary**: step text (the step attributes in `src/steps/` and
//!    the step lines of the feature files), feature/rule/scenario/Examples names and
//!    table cells say nothing about gRPC calls, stream content, spectrograms or sensors,
//!    in English or Hebrew. Kubernetes object names (`grpc-job-…`, `grpc-service-…`) are
//!    names, not violations; feature descriptions may state the boundary.
//! 3. **No bytes on a stream port**: under `src/`, a file that uses a `TcpStream` or a
//!    `UdpSocket` never writes (`write`, `write_all`, `try_write`, `poll_write`,
//!    `AsyncWriteExt`, `io::Write`, `send`, …), and only `src/target/net.rs` connects.

use std::path::{Path, PathBuf};

use regex::Regex;

fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() {
            // Build output (a `target` beside a Cargo.toml; `src/target` is the suite's
            // target layer), git, and fixtures (which break these rules on purpose).
            let build_output = name == "target" && dir.join("Cargo.toml").is_file();
            if !build_output && !matches!(name, ".git" | "fixtures" | "node_modules") {
                files(&p, keep, out);
            }
        } else if keep(&p) {
            out.push(p);
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn shown(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// A crate whose only purpose is gRPC or protobuf-for-gRPC.
fn grpc_crate(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    n.contains("grpc")
        || ["tonic", "prost"]
            .iter()
            .any(|c| n == *c || n.starts_with(&format!("{c}-")))
}

fn dependency_tables<'a>(v: &'a toml::Value, path: &str, out: &mut Vec<(String, &'a toml::Table)>) {
    let Some(table) = v.as_table() else { return };
    for (k, child) in table {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if k.ends_with("dependencies") {
            if let Some(t) = child.as_table() {
                out.push((here.clone(), t));
            }
        } else {
            dependency_tables(child, &here, out);
        }
    }
}

/// Rule 1: gRPC client dependencies in any `Cargo.toml` under `root`, or in its `Cargo.lock`.
fn grpc_dependencies(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut manifests = Vec::new();
    files(
        root,
        &|p| p.file_name().is_some_and(|n| n == "Cargo.toml"),
        &mut manifests,
    );
    for m in manifests {
        let value = match read(&m).parse::<toml::Table>() {
            Ok(v) => toml::Value::Table(v),
            Err(e) => {
                problems.push(format!("{}: does not parse: {e}", shown(root, &m)));
                continue;
            }
        };
        let mut tables = Vec::new();
        dependency_tables(&value, "", &mut tables);
        for (table_path, table) in tables {
            for (name, spec) in table {
                let package = spec.get("package").and_then(|p| p.as_str()).unwrap_or(name);
                if grpc_crate(name) || grpc_crate(package) {
                    problems.push(format!(
                        "{}: [{table_path}] depends on the gRPC crate `{package}`",
                        shown(root, &m)
                    ));
                }
            }
        }
    }
    let lock = root.join("Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        match text.parse::<toml::Table>() {
            Ok(v) => {
                let packages = v.get("package").and_then(|p| p.as_array());
                for p in packages.into_iter().flatten() {
                    let name = p.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                    if grpc_crate(name) {
                        problems.push(format!("Cargo.lock: locks the gRPC crate `{name}`"));
                    }
                }
            }
            Err(e) => problems.push(format!("Cargo.lock: does not parse: {e}")),
        }
    }
    problems
}

fn forbidden_words() -> (Regex, Regex) {
    let object_names = Regex::new(r"(?i)grpc-(job|service)-[A-Za-z0-9*_.{}<>-]*").expect("regex");
    let words = Regex::new(
        r"(?i)grpc|spectrogram|sensor|stream (content|payload|data|frames?|bytes|messages?)|protobuf|ספקטרוגרמ|חיישן|חיישנים|תוכן הזרם|דאטה של הזרם|הודעות הזרם",
    )
    .expect("regex");
    (object_names, words)
}

const STEP_KEYWORDS: &[&str] = &[
    "Given",
    "When",
    "Then",
    "And",
    "But",
    "*",
    "בהינתן",
    "כאשר",
    "אז",
    "אזי",
    "וגם",
    "אבל",
];
const NAME_KEYWORDS: &[&str] = &[
    "Feature:",
    "Rule:",
    "Scenario:",
    "Scenario Outline:",
    "Scenario Template:",
    "Example:",
    "Examples:",
    "Background:",
    "תכונה:",
    "כלל:",
    "תרחיש:",
    "דוגמא:",
    "תבנית תרחיש:",
    "דוגמאות:",
    "רקע:",
];

/// Rule 2: out-of-scope vocabulary in step text and scenario names.
fn vocabulary(root: &Path) -> Vec<String> {
    let (object_names, words) = forbidden_words();
    let mut problems = Vec::new();
    let mut check = |what: String, text: &str| {
        let cleaned = object_names.replace_all(text, "");
        if let Some(m) = words.find(&cleaned) {
            problems.push(format!(
                "{what}: `{}` is out of scope: {}",
                m.as_str(),
                text.trim()
            ));
        }
    };
    let mut steps = Vec::new();
    files(
        &root.join("src/steps"),
        &|p| p.extension().is_some_and(|e| e == "rs"),
        &mut steps,
    );
    let attribute = Regex::new(r"(?s)#\[(given|when|then)\((.*?)\)\]").expect("regex");
    for f in steps {
        let text = read(&f);
        for c in attribute.captures_iter(&text) {
            let line = text[..c.get(0).map_or(0, |m| m.start())].lines().count() + 1;
            check(format!("{}:{line}", shown(root, &f)), &c[2]);
        }
    }
    let mut features = Vec::new();
    files(
        &root.join("features"),
        &|p| p.extension().is_some_and(|e| e == "feature"),
        &mut features,
    );
    for f in features {
        for (i, line) in read(&f).lines().enumerate() {
            let t = line.trim();
            let first = t.split_whitespace().next().unwrap_or_default();
            if STEP_KEYWORDS.contains(&first)
                || t.starts_with('|')
                || NAME_KEYWORDS.iter().any(|k| t.starts_with(k))
            {
                check(format!("{}:{}", shown(root, &f), i + 1), t);
            }
        }
    }
    problems
}

/// Rule 3: a stream-port connection that sends bytes, or a connection outside `src/target/net.rs`.
fn stream_port_writes(root: &Path) -> Vec<String> {
    let socket = Regex::new(r"\b(TcpStream|UdpSocket|TcpSocket)\b").expect("regex");
    let write = Regex::new(
        r"\.write\(|\bwrite_all\b|\bwrite_vectored\b|\bwrite_buf\b|\btry_write|\bpoll_write|\bAsyncWriteExt\b|\bio::Write\b|\.send\(|\bsend_to\b|\btry_send",
    )
    .expect("regex");
    let connect = Regex::new(r"\b(TcpStream|UdpSocket|TcpSocket)::(connect|bind)|\.connect\(")
        .expect("regex");
    let mut problems = Vec::new();
    let mut sources = Vec::new();
    files(
        &root.join("src"),
        &|p| p.extension().is_some_and(|e| e == "rs"),
        &mut sources,
    );
    for f in sources {
        let text = read(&f);
        if !socket.is_match(&text) {
            continue;
        }
        let name = shown(root, &f);
        for (i, line) in text.lines().enumerate() {
            if let Some(m) = write.find(line) {
                problems.push(format!(
                    "{name}:{}: `{}` writes on a socket: the suite sends no byte to a stream port",
                    i + 1,
                    m.as_str()
                ));
            }
            if name != "src/target/net.rs"
                && let Some(m) = connect.find(line)
            {
                problems.push(format!(
                    "{name}:{}: `{}` connects outside src/target/net.rs",
                    i + 1,
                    m.as_str()
                ));
            }
        }
    }
    problems
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/out_of_scope").join(name)
}

#[test]
fn the_workspace_has_no_grpc_client_dependency() {
    let problems = grpc_dependencies(&root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_suite_s_steps_and_features_stay_in_scope() {
    let problems = vocabulary(&root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_suite_sends_no_byte_to_a_stream_port() {
    let problems = stream_port_writes(&root());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_clean_fixture_passes_every_rule_object_names_included() {
    let dir = fixture("clean");
    let mut problems = grpc_dependencies(&dir);
    problems.extend(vocabulary(&dir));
    problems.extend(stream_port_writes(&dir));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_grpc_dependency_fails() {
    let problems = grpc_dependencies(&fixture("grpc-dependency"));
    for expected in [
        "Cargo.toml: [dependencies] depends on the gRPC crate `tonic`",
        "Cargo.toml: [workspace.dependencies] depends on the gRPC crate `prost`",
        "crates/client/Cargo.toml: [target.cfg(unix).dependencies] depends on the gRPC crate `grpcio`",
        "crates/client/Cargo.toml: [dev-dependencies] depends on the gRPC crate `tonic-build`",
        "Cargo.lock: locks the gRPC crate `prost-types`",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "missing `{expected}` in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn out_of_scope_vocabulary_fails_in_both_languages() {
    let problems = vocabulary(&fixture("vocabulary"));
    for expected in [
        ("src/steps/x.rs:", "`spectrogram`"),
        ("src/steps/x.rs:", "`gRPC`"),
        ("features/x.feature:", "`Sensor`"),
        ("features/x.feature:", "`stream content`"),
        ("features/he/y.feature:", "`ספקטרוגרמ`"),
        ("features/he/y.feature:", "`חיישנים`"),
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(expected.0) && p.contains(expected.1)),
            "missing {expected:?} in {problems:#?}"
        );
    }
    assert!(
        !problems
            .iter()
            .any(|p| p.contains("grpc-job") || p.contains("description")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), 6, "{problems:#?}");
}

#[test]
fn a_stream_port_connection_that_sends_bytes_fails() {
    let problems = stream_port_writes(&fixture("stream-bytes"));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/target/net.rs:") && p.contains("`write_all`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/target/net.rs:") && p.contains("`AsyncWriteExt`")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/probe.rs:") && p.contains("connects outside")),
        "{problems:#?}"
    );
}
