//! kube-sim's layers, kept by a test: the HTTP API (`api/`) and the controllers
//! (`controllers/`) both stand on the cluster and the store below them, and only the
//! bundling module (`sim.rs`, and `lib.rs`'s re-exports) knows both. No module imports
//! back up: nothing below reaches into `api` or `controllers`, and neither reaches
//! into the other.

use std::path::{Path, PathBuf};

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

#[test]
fn no_module_imports_back_up_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).expect("source readable");
        let top = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        for (upper, allowed) in [
            ("crate::api", ["api", "sim", "lib"]),
            ("crate::controllers", ["controllers", "sim", "lib"]),
        ] {
            if allowed.contains(&top) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                if line.contains(upper) {
                    wrong.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports running back up a layer:\n{}",
        wrong.join("\n")
    );
}
