//! The suite's layers, kept by a test (docs/architecture.md): only `target::kube`
//! (src/target/kube/) builds a `kube::Api` or holds the `kube::Client`; everything
//! else reaches Kubernetes through its functions. Tests arrange and inspect the
//! simulated cluster with clients of their own (the sandbox's, or one they build).

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

#[test]
fn an_api_built_elsewhere_is_found() {
    let dir = tempfile::tempdir().expect("dir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    write(
        "src/target/kube/mod.rs",
        "fn api(&self) -> Api<Pod> { Api::namespaced(self.client.clone(), &self.ns) }\n",
    );
    write(
        "src/spec/x.rs",
        "// Api::<Pod>::namespaced in a comment is no use\nlet pods: Api<Pod> = Api::namespaced(c, ns);\n",
    );
    write("src/run/y.rs", "let c = cluster.client();\n");
    write(
        "src/report/z.rs",
        "let nodes = kube::Api::<Node>::all(c);\n",
    );
    let wrong = api_outside_target_kube(dir.path());
    assert_eq!(wrong.len(), 3, "{wrong:#?}");
    assert!(wrong[0].starts_with("src/report/z.rs:1:"), "{wrong:#?}");
    assert!(wrong[1].starts_with("src/run/y.rs:1:"), "{wrong:#?}");
    assert!(wrong[2].starts_with("src/spec/x.rs:2:"), "{wrong:#?}");
}
