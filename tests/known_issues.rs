//! The known-issues register, end to end: the as-observed sandbox, run the way the
//! README says (the whole suite, both languages, scenarios side by side), fails exactly
//! the register's entries and the run passes; a missing entry, an entry for a passing
//! scenario, or an entry whose reason does not match each fail the run (those three are
//! proven on filtered runs, which is enough to exercise the register and keeps them cheap).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use support::{manifest_dir, path_str, run_suite};

/// The whole suite in both languages takes ~2.5 min in a debug build on a busy 2-core machine.
const WALL: Duration = Duration::from_secs(600);
const PROFILE: &str = "sandbox-observed";

/// A copy of `config/` whose register is `register`.
fn config_with_register(register: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp config dir");
    for e in std::fs::read_dir(manifest_dir().join("config"))
        .expect("config dir")
        .flatten()
    {
        let p = e.path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(e.file_name())).expect("copy profile");
        }
    }
    std::fs::write(dir.path().join("known-issues.toml"), register).expect("write register");
    dir
}

/// A filtered run of the English features.
fn observed_run(config: &Path, tags: &str) -> support::MetaRun {
    run_suite(
        &["--tags", tags],
        &[
            ("FOCUS_ENV", PROFILE),
            ("FOCUS_CONFIG_DIR", &path_str(config)),
        ],
        WALL,
    )
}

fn register() -> String {
    std::fs::read_to_string(manifest_dir().join("config/known-issues.toml")).expect("register")
}

/// Scenario id (`id` or `id/case`) → register key, for the entries of `profile`.
fn expected_known(register: &str, profile: &str) -> BTreeMap<String, String> {
    let file: toml::Value = toml::from_str(register).expect("the register parses");
    let mut expected = BTreeMap::new();
    for issue in file["issue"].as_array().expect("[[issue]] entries") {
        let listed = |k: &str| -> Vec<String> {
            issue[k]
                .as_array()
                .expect(k)
                .iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        };
        if !listed("profiles").iter().any(|p| p == profile) {
            continue;
        }
        for s in listed("scenarios") {
            let key = issue["id"].as_str().expect("id").to_owned();
            assert!(
                expected.insert(s.clone(), key).is_none(),
                "{s} is listed twice for {profile}"
            );
        }
    }
    expected
}

/// The register without the entries whose `id = "<id>"` and which list `scenario`.
fn without(register: &str, id: &str, scenario: &str) -> String {
    register
        .split("[[issue]]")
        .filter(|e| !(e.contains(&format!("id = \"{id}\"")) && e.contains(scenario)))
        .collect::<Vec<_>>()
        .join("[[issue]]")
}

#[test]
fn observed_profile_passes_with_exactly_its_known_failures() {
    // As the README says: `FOCUS_ENV=sandbox-observed cargo run --release`, every
    // scenario of features/ (English and Hebrew) at the runner's own concurrency.
    let run = run_suite(
        &[],
        &[
            ("FOCUS_ENV", PROFILE),
            (
                "FOCUS_FEATURES",
                &path_str(&manifest_dir().join("features")),
            ),
        ],
        WALL,
    );
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    let scenarios = run
        .summary
        .as_ref()
        .and_then(|s| s["scenarios"].as_array().cloned())
        .unwrap_or_default();
    let langs: BTreeSet<bool> = scenarios
        .iter()
        .map(|s| {
            s["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "lang-he"))
        })
        .collect();
    assert_eq!(langs.len(), 2, "both languages ran");

    // Exactly the register's entries, each in both languages, each under its key.
    let expected = expected_known(&register(), PROFILE);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in scenarios.iter().filter(|s| s["status"] == "known-failure") {
        let id = s["id"].as_str().unwrap_or("?").to_owned();
        let base = id.split('/').next().unwrap_or(&id).to_owned();
        let key = expected
            .get(&id)
            .or_else(|| expected.get(&base))
            .unwrap_or_else(|| panic!("{id} is a known failure the register does not list"));
        let judgement = s["judgement"].as_str().unwrap_or_default();
        assert!(
            judgement.starts_with(&format!("known failure ({key})")),
            "{id}: {judgement}"
        );
        *seen
            .entry(expected.get(&id).map_or(base, |_| id))
            .or_default() += 1;
    }
    let missing: Vec<_> = expected.keys().filter(|s| !seen.contains_key(*s)).collect();
    assert!(
        missing.is_empty(),
        "register entries that did not fail: {missing:?}"
    );
    // Once per language (an entry for a whole outline: once per row and language).
    let one_language: Vec<_> = seen.iter().filter(|(_, n)| **n % 2 != 0).collect();
    assert!(
        one_language.is_empty(),
        "known failures not seen in both languages: {one_language:?}"
    );

    assert!(
        run.stderr.contains("KNOWN FAILURE (PZ-13984)"),
        "{}",
        run.stderr
    );
    let junit = std::fs::read_to_string(run.output_dir.path().join("junit.xml")).expect("junit");
    assert!(
        junit.contains("<skipped message=\"known failure (PZ-13984)"),
        "JUnit marks known failures skipped"
    );
    let json = std::fs::read_to_string(run.output_dir.path().join("cucumber.json"))
        .expect("cucumber.json");
    assert!(json.contains("\"failed\""), "Cucumber JSON keeps the truth");
}

#[test]
fn removing_an_entry_fails_the_run_naming_it() {
    let dir = config_with_register(&without(
        &register(),
        "PZ-13760",
        "api-channels-rejected/negative",
    ));
    let run = observed_run(dir.path(), "@channels");
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert_eq!(
        run.failed_ids(),
        vec!["api-channels-rejected/negative".to_string()]
    );
    assert!(
        run.stderr.contains("api-channels-rejected/negative"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_entry_for_a_passing_scenario_fails_with_fixed() {
    let extra = "\n[[issue]]\nid = \"FS-900\"\nsummary = \"fixture\"\nscenarios = [\"api-ports-distinct\"]\nprofiles = [\"sandbox-observed\"]\nreason = \".*\"\n";
    let dir = config_with_register(&format!("{}{extra}", register()));
    let run = observed_run(dir.path(), "@id:api-ports-distinct");
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert!(
        run.stderr.contains("fixed? remove the entry"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_entry_whose_reason_does_not_match_fails() {
    let reason = r#"reason = "expected a 400 rejection naming \"start_time\" or \"end_time\": POST /configure answered 200""#;
    let register = register();
    assert!(register.contains(reason), "the PZ-13984 entry's reason");
    let changed = register.replacen(reason, "reason = \"some other failure entirely\"", 1);
    let dir = config_with_register(&changed);
    let run = observed_run(dir.path(), "@time-range");
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert!(run.stderr.contains("another reason"), "{}", run.stderr);
}
