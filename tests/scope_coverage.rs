//! The scope document and the scenarios agree: every IN-SCOPE key of `docs/scope.md` is
//! covered by at least one scenario (`@scope:<key>`, on the scenario, its rule or its
//! feature), no scenario names a key the document does not define, and every scenario
//! names at least one key. Checked for the whole `features/` tree (English and Hebrew)
//! and for each language on its own.
//!
//! The checker is tested on fixtures that break each rule (`tests/fixtures/scope/`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cucumber::gherkin::{Feature, GherkinEnv};
use support::feature_files;

/// The IN-SCOPE keys: every Markdown table row whose first cell is a backticked key.
fn scope_keys(scope_md: &str) -> BTreeSet<String> {
    scope_md
        .lines()
        .filter_map(|l| l.trim().strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .filter(|(_, after)| after.trim_start().starts_with('|'))
        .map(|(key, _)| key.to_string())
        .collect()
}

/// Every coverage problem of the feature files under `features` against `scope_md`.
fn check_coverage(scope_md: &str, features: &Path) -> Vec<String> {
    let keys = scope_keys(scope_md);
    let mut problems = Vec::new();
    if keys.is_empty() {
        problems.push("the scope document defines no key".to_string());
    }
    let mut covered: BTreeMap<String, usize> = BTreeMap::new();
    let files = feature_files(features);
    for path in files {
        let feature = match Feature::parse_path(&path, GherkinEnv::default()) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!("{}: does not parse: {e}", path.display()));
                continue;
            }
        };
        let mut scenarios: Vec<(&[String], _)> =
            feature.scenarios.iter().map(|s| (&[][..], s)).collect();
        for rule in &feature.rules {
            scenarios.extend(rule.scenarios.iter().map(|s| (&rule.tags[..], s)));
        }
        for (rule_tags, sc) in scenarios {
            let all: Vec<&String> = feature
                .tags
                .iter()
                .chain(rule_tags)
                .chain(&sc.tags)
                .collect();
            let scope = focus_scope::spec::tags::ScenarioTags::parse(&all).scope;
            let named: BTreeSet<&str> = scope.iter().map(String::as_str).collect();
            let at = format!("{}:{} `{}`", path.display(), sc.position.line, sc.name);
            if named.is_empty() {
                problems.push(format!("{at} names no @scope: key"));
            }
            for key in named {
                if keys.contains(key) {
                    *covered.entry(key.to_string()).or_default() += 1;
                } else {
                    problems.push(format!("{at} names the unknown key @scope:{key}"));
                }
            }
        }
    }
    for key in &keys {
        if !covered.contains_key(key) {
            problems.push(format!(
                "IN-SCOPE key `{key}` has no scenario under {}",
                features.display()
            ));
        }
    }
    problems
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scope_doc() -> String {
    std::fs::read_to_string(root().join("docs/scope.md")).expect("docs/scope.md")
}

#[test]
fn the_scope_document_defines_its_keys() {
    let keys = scope_keys(&scope_doc());
    for key in [
        "k8s-job-lifecycle",
        "k8s-resources-memory",
        "api-validation-time-range",
        "api-validation-ip",
        "system-startup",
        "system-ongoing",
    ] {
        assert!(
            keys.contains(key),
            "docs/scope.md lost the key {key}: {keys:?}"
        );
    }
}

#[test]
fn every_scope_key_is_covered_in_both_languages_and_no_unknown_key_is_named() {
    let doc = scope_doc();
    for dir in ["features", "features/en", "features/he"] {
        let problems = check_coverage(&doc, &root().join(dir));
        assert!(problems.is_empty(), "{dir}:\n{}", problems.join("\n"));
    }
}

fn fixture(name: &str) -> Vec<String> {
    let dir = root().join("tests/fixtures/scope");
    let doc = std::fs::read_to_string(dir.join("scope.md")).expect("fixture scope.md");
    check_coverage(&doc, &dir.join(name))
}

#[test]
fn fixture_scope_document_defines_exactly_its_table_keys() {
    let doc = std::fs::read_to_string(root().join("tests/fixtures/scope/scope.md")).expect("md");
    let keys: Vec<String> = scope_keys(&doc).into_iter().collect();
    assert_eq!(keys, ["fx-covered", "fx-other"]);
}

#[test]
fn a_fully_covered_fixture_passes() {
    let problems = fixture("ok");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn an_in_scope_key_without_a_scenario_fails() {
    let problems = fixture("uncovered");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("IN-SCOPE key `fx-other` has no scenario")),
        "{problems:#?}"
    );
}

#[test]
fn a_scenario_naming_an_unknown_key_fails() {
    let problems = fixture("unknown-key");
    assert!(
        problems
            .iter()
            .any(|p| p.ends_with("names the unknown key @scope:fx-typo")),
        "{problems:#?}"
    );
}

#[test]
fn a_scenario_naming_no_key_fails() {
    let problems = fixture("untagged");
    assert!(
        problems
            .iter()
            .any(|p| p.ends_with("`Untagged` names no @scope: key")),
        "{problems:#?}"
    );
}

// Links between the project's documents: a clone has only the repository, so every
// relative link in a Markdown file must name a file or directory inside it that exists.

/// Every Markdown file under `dir`, skipping build output and VCS metadata.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            // Build output is a `target` beside a Cargo.toml; `src/target` is source.
            let build_output = name == "target" && dir.join("Cargo.toml").is_file();
            if !build_output && !matches!(name.to_str(), Some(".git" | "node_modules")) {
                markdown_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

/// Link targets of a Markdown text: inline `](target)` and reference `[x]: target`.
fn link_targets(md: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in md.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(
                after[..end]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
            rest = &after[end..];
        }
        let t = line.trim_start();
        if t.starts_with('[')
            && let Some((_, target)) = t.split_once("]: ")
        {
            targets.push(target.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    targets
}

/// Documents named in code spans (`` `docs/scope.md` ``): paths with a directory,
/// ending in `.md`, without placeholders.
fn mentioned_documents(md: &str) -> Vec<String> {
    md.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.ends_with(".md") && s.contains('/') && !s.contains(['<', ' ', '*']))
        .map(str::to_string)
        .collect()
}

/// Lexically resolves `..` and `.` (the target may not exist, so no canonicalize).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every link under `repo` that leaves the repository or names nothing.
fn broken_links(repo: &Path) -> Vec<String> {
    let repo = normalize(repo);
    let mut files = Vec::new();
    markdown_files(&repo, &mut files);
    let mut broken = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let shown = file
            .strip_prefix(&repo)
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            let resolved = if path.starts_with('/') {
                PathBuf::from(path)
            } else {
                normalize(&file.parent().unwrap_or(&repo).join(path))
            };
            if !resolved.starts_with(&repo) {
                broken.push(format!("{shown}: {target} is outside the repository"));
            } else if !resolved.exists() {
                broken.push(format!("{shown}: {target} does not exist"));
            }
        }
        // A document named in a code span: relative to the file or to the repository.
        for doc in mentioned_documents(&text) {
            let here = normalize(&file.parent().unwrap_or(&repo).join(&doc));
            let top = normalize(&repo.join(&doc));
            let inside = |p: &PathBuf| p.starts_with(&repo) && p.exists();
            if !inside(&here) && !inside(&top) {
                broken.push(format!(
                    "{shown}: `{doc}` is not a document of the repository"
                ));
            }
        }
    }
    broken
}

#[test]
fn every_markdown_link_names_a_file_of_the_repository() {
    let broken = broken_links(&root());
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_catches_outside_and_missing_targets() {
    let dir = tempfile::tempdir().expect("temp repo");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("docs")).expect("docs");
    std::fs::write(repo.join("docs/a.md"), "fine").expect("a.md");
    std::fs::write(
        repo.join("README.md"),
        "[ok](docs/a.md#x) [web](https://example.com) [out](../shared/mission/contract.md)\n\
         [gone](docs/missing.md)\n[ref]: /etc/hosts\n\
         It implements `shared/mission/contract.md`; see `docs/a.md`.\n",
    )
    .expect("README");
    let broken = broken_links(&repo);
    assert_eq!(
        broken,
        vec![
            "README.md: ../shared/mission/contract.md is outside the repository".to_string(),
            "README.md: docs/missing.md does not exist".to_string(),
            "README.md: /etc/hosts is outside the repository".to_string(),
            "README.md: `shared/mission/contract.md` is not a document of the repository"
                .to_string(),
        ]
    );
}

/// The tag patterns of `docs/tags.md`: every backticked `@…` in the first cell of a
/// table row, `<…>` standing for any text (`@id:<area>-<name>`).
fn documented_tags(tags_md: &str) -> Vec<regex::Regex> {
    let placeholder = regex::Regex::new(r"<[^>]+>").expect("regex");
    tags_md
        .lines()
        .filter_map(|l| l.trim().strip_prefix('|'))
        .filter_map(|rest| rest.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|t| t.starts_with('@'))
        .map(|t| {
            let parts: Vec<String> = placeholder.split(t).map(regex::escape).collect();
            regex::Regex::new(&format!("^{}$", parts.join(".+"))).expect("tag pattern")
        })
        .collect()
}

/// Every tag of the feature files under `features` (features, rules, scenarios, examples).
fn tags_in_use(features: &Path) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for path in feature_files(features) {
        let f = Feature::parse_path(&path, GherkinEnv::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let scenarios = f
            .scenarios
            .iter()
            .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()));
        let tags = f
            .tags
            .iter()
            .chain(f.rules.iter().flat_map(|r| r.tags.iter()))
            .chain(scenarios.flat_map(|s| {
                s.tags
                    .iter()
                    .chain(s.examples.iter().flat_map(|e| e.tags.iter()))
            }));
        used.extend(tags.map(|t| format!("@{t}")));
    }
    used
}

fn undocumented(tags_md: &str, used: &BTreeSet<String>) -> Vec<String> {
    let patterns = documented_tags(tags_md);
    used.iter()
        .filter(|t| !patterns.iter().any(|p| p.is_match(t)))
        .cloned()
        .collect()
}

#[test]
fn every_tag_in_use_is_documented_in_docs_tags_md() {
    let doc = std::fs::read_to_string(root().join("docs/tags.md")).expect("read docs/tags.md");
    let missing = undocumented(&doc, &tags_in_use(&root().join("features")));
    assert!(
        missing.is_empty(),
        "tags in use that docs/tags.md does not list: {missing:?}"
    );
}

#[test]
fn an_undocumented_tag_fails_and_a_pattern_admits_its_instances() {
    let doc =
        "| tag | meaning |\n|---|---|\n| `@k8s`, `@api` | areas |\n| `@id:<area>-<name>` | id |\n";
    let used: BTreeSet<String> = ["@k8s", "@id:k8s-x", "@display", "@idle"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(undocumented(doc, &used), vec!["@display", "@idle"]);
}

/// The living document reads as Given-When-Then: no Background has a When (an action
/// belongs to the scenario), no scenario starts with Then (what is checked follows an
/// action), and no title carries an implementation formula (the stream port base).
fn reading_problems(features: &Path) -> Vec<String> {
    use cucumber::gherkin::StepType;
    let mut problems = Vec::new();
    for path in feature_files(features) {
        let f = Feature::parse_path(&path, GherkinEnv::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let backgrounds = f
            .background
            .iter()
            .chain(f.rules.iter().filter_map(|r| r.background.as_ref()));
        for b in backgrounds {
            if b.steps.iter().any(|s| s.ty == StepType::When) {
                problems.push(format!("{}: a Background has a When", path.display()));
            }
        }
        let scenarios = f
            .scenarios
            .iter()
            .chain(f.rules.iter().flat_map(|r| r.scenarios.iter()));
        for sc in scenarios {
            if sc.steps.first().is_some_and(|s| s.ty == StepType::Then) {
                problems.push(format!(
                    "{}: `{}` starts with Then",
                    path.display(),
                    sc.name
                ));
            }
            if sc.name.contains("12300") {
                problems.push(format!("{}: `{}` names a formula", path.display(), sc.name));
            }
        }
    }
    problems
}

#[test]
fn scenarios_read_as_given_when_then_in_both_languages() {
    let problems = reading_problems(&root().join("features"));
    assert!(problems.is_empty(), "{problems:#?}");
}
