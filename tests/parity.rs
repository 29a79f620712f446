//! Language parity of the living scope documentation: every English scenario has a
//! Hebrew twin and the other way round, paired by `@id:` (and, for outlines, by each
//! Examples row's `case`), in the feature file of the same relative path, with the same
//! tags once `@lang-*` and the Xray keys (`@PZ-*`) are set aside.
//!
//! The checker is tested on fixtures that break each rule (`tests/fixtures/parity/`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cucumber::gherkin::{Feature, GherkinEnv, Scenario};
use support::feature_files;

/// One scenario as parity sees it.
#[derive(Debug)]
struct Twin {
    /// Feature file, relative to its language's directory.
    file: PathBuf,
    /// Feature, rule, scenario and Examples tags, without `@lang-*` and `@PZ-*`.
    tags: BTreeSet<String>,
    /// The `case` values of an outline's Examples rows (empty for a plain scenario).
    cases: BTreeSet<String>,
}

fn compared_tag(tag: &str) -> bool {
    !tag.starts_with("lang-") && !tag.starts_with("PZ-")
}

fn cases(sc: &Scenario) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for ex in &sc.examples {
        let Some(table) = &ex.table else { continue };
        let Some(header) = table.rows.first() else {
            continue;
        };
        match header.iter().position(|h| h == "case") {
            Some(col) => out.extend(
                table
                    .rows
                    .iter()
                    .skip(1)
                    .filter_map(|r| r.get(col).cloned()),
            ),
            // Without a `case` column, rows are paired by their position.
            None => out.extend((1..table.rows.len()).map(|i| format!("row-{i}"))),
        }
    }
    out
}

/// The scenarios of one language directory by `@id`, and the problems found on the way
/// (unparsable files, scenarios without an id, ids used twice).
fn collect(dir: &Path) -> (BTreeMap<String, Twin>, Vec<String>) {
    let files = feature_files(dir);
    let mut twins = BTreeMap::new();
    let mut problems = Vec::new();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let feature = match Feature::parse_path(&path, GherkinEnv::default()) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!("{}: does not parse: {e}", path.display()));
                continue;
            }
        };
        let mut scenarios: Vec<(&[String], &Scenario)> =
            feature.scenarios.iter().map(|s| (&[][..], s)).collect();
        for rule in &feature.rules {
            scenarios.extend(rule.scenarios.iter().map(|s| (&rule.tags[..], s)));
        }
        for (rule_tags, sc) in scenarios {
            let all: BTreeSet<String> = feature
                .tags
                .iter()
                .chain(rule_tags)
                .chain(&sc.tags)
                .chain(sc.examples.iter().flat_map(|e| &e.tags))
                .cloned()
                .collect();
            let Some(id) = focus_scope::spec::tags::ScenarioTags::parse(&all).id else {
                problems.push(format!(
                    "{}:{}: scenario `{}` has no @id: and cannot be paired",
                    path.display(),
                    sc.position.line,
                    sc.name
                ));
                continue;
            };
            let twin = Twin {
                file: rel.clone(),
                tags: all.iter().filter(|t| compared_tag(t)).cloned().collect(),
                cases: cases(sc),
            };
            if twins.insert(id.to_string(), twin).is_some() {
                problems.push(format!("{}: @id:{id} is used twice", path.display()));
            }
        }
    }
    (twins, problems)
}

/// Every parity problem between the English and the Hebrew feature directories.
fn check_parity(en_dir: &Path, he_dir: &Path) -> Vec<String> {
    let (en, mut problems) = collect(en_dir);
    let (he, he_problems) = collect(he_dir);
    problems.extend(he_problems);
    if en.is_empty() {
        problems.push(format!("{}: no scenario found", en_dir.display()));
    }
    for (id, e) in &en {
        let Some(h) = he.get(id) else {
            problems.push(format!(
                "@id:{id} exists in English only ({})",
                e.file.display()
            ));
            continue;
        };
        if e.file != h.file {
            problems.push(format!(
                "@id:{id} lives in en/{} but in he/{}",
                e.file.display(),
                h.file.display()
            ));
        }
        for t in e.tags.difference(&h.tags) {
            problems.push(format!("@id:{id}: tag @{t} is on the English twin only"));
        }
        for t in h.tags.difference(&e.tags) {
            problems.push(format!("@id:{id}: tag @{t} is on the Hebrew twin only"));
        }
        for c in e.cases.difference(&h.cases) {
            problems.push(format!("{id}/{c} exists in English only"));
        }
        for c in h.cases.difference(&e.cases) {
            problems.push(format!("{id}/{c} exists in Hebrew only"));
        }
    }
    for (id, h) in &he {
        if !en.contains_key(id) {
            problems.push(format!(
                "@id:{id} exists in Hebrew only ({})",
                h.file.display()
            ));
        }
    }
    problems
}

/// The files of both directories mirror each other, every Hebrew file starts with
/// exactly `# language: he` (no BOM, no trailing space, nothing above it) and carries
/// `@lang-he` on its Feature, and no English file carries a `@lang-*` tag.
fn check_files(en_dir: &Path, he_dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let rel = |dir: &Path| -> BTreeSet<PathBuf> {
        let files = feature_files(dir);
        files
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).to_path_buf())
            .collect()
    };
    let (en, he) = (rel(en_dir), rel(he_dir));
    for f in en.difference(&he) {
        problems.push(format!("en/{} has no Hebrew twin file", f.display()));
    }
    for f in he.difference(&en) {
        problems.push(format!("he/{} has no English twin file", f.display()));
    }
    for f in &he {
        let path = he_dir.join(f);
        let bytes = std::fs::read(&path).unwrap_or_default();
        let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
        if first != b"# language: he" {
            problems.push(format!(
                "he/{}: the first line must be exactly `# language: he` (no BOM, no trailing space), not {:?}",
                f.display(),
                String::from_utf8_lossy(first)
            ));
        }
        match Feature::parse_path(&path, GherkinEnv::default()) {
            Ok(feature) if !focus_scope::spec::tags::ScenarioTags::parse(&feature.tags).hebrew => {
                problems.push(format!("he/{}: the Feature lacks @lang-he", f.display()));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("he/{}: does not parse: {e}", f.display())),
        }
    }
    for f in &en {
        if let Ok(feature) = Feature::parse_path(en_dir.join(f), GherkinEnv::default()) {
            let tagged = feature.tags.iter().chain(
                feature
                    .scenarios
                    .iter()
                    .chain(feature.rules.iter().flat_map(|r| &r.scenarios))
                    .flat_map(|s| &s.tags),
            );
            if let Some(t) = tagged.into_iter().find(|t| t.starts_with("lang-")) {
                problems.push(format!("en/{}: carries @{t}", f.display()));
            }
        }
    }
    problems
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> Vec<String> {
    let dir = root().join("tests/fixtures/parity").join(name);
    check_parity(&dir.join("en"), &dir.join("he"))
}

#[test]
fn the_suite_s_features_are_in_parity() {
    let problems = check_parity(&root().join("features/en"), &root().join("features/he"));
    assert!(
        problems.is_empty(),
        "parity problems:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_suite_s_feature_files_mirror_each_other_and_declare_hebrew() {
    let problems = check_files(&root().join("features/en"), &root().join("features/he"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_twin_file_or_a_bad_language_line_fails() {
    let dir = root().join("tests/fixtures/parity/bad-files");
    let problems = check_files(&dir.join("en"), &dir.join("he"));
    for expected in [
        "en/only-english.feature has no Hebrew twin file",
        "he/x.feature: the first line must be exactly `# language: he`",
        "he/x.feature: does not parse",
        "he/y.feature: the Feature lacks @lang-he",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "missing `{expected}` in {problems:#?}"
        );
    }
    assert!(
        check_files(
            &root().join("tests/fixtures/parity/ok/en"),
            &root().join("tests/fixtures/parity/ok/he")
        )
        .is_empty()
    );
}

#[test]
fn twins_that_differ_only_in_language_and_xray_keys_are_in_parity() {
    let problems = fixture("ok");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn an_id_in_one_language_only_fails() {
    let problems = fixture("id-english-only");
    assert!(
        problems
            .iter()
            .any(|p| p == "@id:fx-second exists in English only (x.feature)"),
        "{problems:#?}"
    );
    let problems = fixture("id-hebrew-only");
    assert!(
        problems
            .iter()
            .any(|p| p == "@id:fx-extra exists in Hebrew only (x.feature)"),
        "{problems:#?}"
    );
}

#[test]
fn an_examples_case_in_one_language_only_fails() {
    let problems = fixture("case-missing");
    assert!(
        problems
            .iter()
            .any(|p| p == "fx-outline/b exists in English only"),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "fx-outline/c exists in Hebrew only"),
        "{problems:#?}"
    );
}

#[test]
fn twins_whose_tags_differ_fail() {
    let problems = fixture("tags-differ");
    assert!(
        problems
            .iter()
            .any(|p| p == "@id:fx-first: tag @slow is on the English twin only"),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "@id:fx-first: tag @scope:other is on the Hebrew twin only"),
        "{problems:#?}"
    );
}

#[test]
fn a_twin_in_another_file_fails() {
    let problems = fixture("moved");
    assert!(
        problems
            .iter()
            .any(|p| p == "@id:fx-first lives in en/x.feature but in he/y.feature"),
        "{problems:#?}"
    );
}
