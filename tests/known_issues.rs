//! The known-issues register, end to end: the as-observed sandbox fails exactly the
//! register's entries (and the run passes), while a missing entry, an entry for a
//! passing scenario, or an entry whose reason does not match each fail the run.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{manifest_dir, path_str, run_suite};

const WALL: Duration = Duration::from_secs(300);
/// Everything but the limits scenarios (they take long and the register's capacity
/// entry is for real environments).
const TAGS: &str = "not @limits";

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

fn observed_run(config: &Path) -> common::MetaRun {
    // One scenario at a time: the as-observed server, like the real one, allocates
    // stream slots without a port check, so investigations of scenarios running side by
    // side can collide on a NodePort (a failure of whichever scenario lost the race).
    // The register lists what each scenario fails on its own, so it is proven alone.
    run_suite(
        &["--tags", TAGS, "--concurrency", "1"],
        &[
            ("FOCUS_ENV", "sandbox-observed"),
            ("FOCUS_CONFIG_DIR", &path_str(config)),
        ],
        WALL,
    )
}

fn register() -> String {
    std::fs::read_to_string(manifest_dir().join("config/known-issues.toml")).expect("register")
}

/// The register without the entry whose `id = "<id>"`.
fn without(register: &str, id: &str) -> String {
    register
        .split("[[issue]]")
        .filter(|e| !e.contains(&format!("id = \"{id}\"")))
        .collect::<Vec<_>>()
        .join("[[issue]]")
}

#[test]
fn observed_profile_passes_with_exactly_its_known_failures() {
    let run = observed_run(&manifest_dir().join("config"));
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    let known: Vec<_> = run
        .summary
        .as_ref()
        .and_then(|s| s["scenarios"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| s["status"] == "known-failure")
        .collect();
    assert!(
        !known.is_empty(),
        "the as-observed profile must show known failures"
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
fn removing_an_entry_fails_the_run() {
    let dir = config_with_register(&without(&register(), "PZ-13984"));
    let run = observed_run(dir.path());
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert_eq!(
        run.failed_ids(),
        vec!["api-time-range-rejected/future".to_string()]
    );
}

#[test]
fn an_entry_for_a_passing_scenario_fails_with_fixed() {
    let extra = "\n[[issue]]\nid = \"FS-900\"\nsummary = \"fixture\"\nscenarios = [\"api-ports-distinct\"]\nprofiles = [\"sandbox-observed\"]\nreason = \".*\"\n";
    let dir = config_with_register(&format!("{}{extra}", register()));
    let run = observed_run(dir.path());
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert!(
        run.stderr.contains("fixed? remove the entry"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_entry_whose_reason_does_not_match_fails() {
    let changed = register().replacen(
        "reason = \"expected a 400 rejection\"",
        "reason = \"some other failure entirely\"",
        1,
    );
    let dir = config_with_register(&changed);
    let run = observed_run(dir.path());
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert!(run.stderr.contains("another reason"), "{}", run.stderr);
}
