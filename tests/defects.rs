//! The defect matrix: the suite's proof that its scenarios can fail.
//!
//! For every named defect of focus-sandbox, the suite runs (English features, the
//! defect's tag filter) against a sandbox with that defect, after a control run of the
//! same filter without it passed. The run must complete, the failed scenarios must be
//! exactly the expected stable ids (`@id`, `@id/<case>` for Examples rows), and each
//! failure message must name the broken rule. The inverse map must be complete: every
//! scenario and Examples row is failed by at least one defect or listed as unproven
//! with a reason. `docs/defects.md` is generated from the result; set
//! `UPDATE_DEFECTS_DOC=1` to rewrite it after a change.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use cucumber::gherkin;
use serde::Deserialize;

use common::{feature_files, manifest_dir, run_suite};

const WALL: Duration = Duration::from_secs(300);
/// Meta-runs in parallel (the machine has 2 cores; runs are mostly waiting).
const PARALLEL: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    defect: BTreeMap<String, DefectCase>,
    #[serde(default)]
    unproven: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefectCase {
    /// What the defect breaks, in words (for docs/defects.md).
    breaks: String,
    /// The tag filter of its meta-run and of the control run.
    tags: String,
    /// Every failure message must match this regular expression (it names the broken rule).
    names: String,
    /// Stable ids of exactly the scenarios (rows) that must fail.
    fails: Vec<String>,
}

fn load_matrix() -> Matrix {
    let path = manifest_dir().join("tests/defect_matrix.toml");
    let text = std::fs::read_to_string(&path).expect("read tests/defect_matrix.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every scenario id of the English features: `@id`, or `@id/<case>` per Examples row.
fn scenario_ids(dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for p in feature_files(dir) {
        let f = gherkin::Feature::parse_path(&p, gherkin::GherkinEnv::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut scenarios: Vec<&gherkin::Scenario> = f.scenarios.iter().collect();
        for r in &f.rules {
            scenarios.extend(r.scenarios.iter());
        }
        for sc in scenarios {
            let id = focus_scope::spec::tags::ScenarioTags::parse(&sc.tags)
                .id
                .unwrap_or_else(|| panic!("{}: scenario `{}` has no @id", p.display(), sc.name));
            if sc.examples.is_empty() {
                ids.insert(id.to_string());
            }
            for ex in &sc.examples {
                let table = ex.table.as_ref().expect("Examples table");
                let col = table.rows[0]
                    .iter()
                    .position(|h| h == "case")
                    .unwrap_or_else(|| {
                        panic!("{}: `{}` needs a `case` column", p.display(), sc.name)
                    });
                for row in &table.rows[1..] {
                    assert!(
                        ids.insert(format!("{id}/{}", row[col])),
                        "duplicate case {id}/{}",
                        row[col]
                    );
                }
            }
        }
    }
    ids
}

#[test]
fn every_scenario_can_fail_and_every_defect_is_caught() {
    let matrix = load_matrix();
    let ids = scenario_ids(&manifest_dir().join("features/en"));

    // The catalogue and the matrix agree.
    let catalogue: BTreeSet<String> = focus_sandbox::Defect::ALL
        .iter()
        .map(|d| d.to_string())
        .collect();
    let listed: BTreeSet<String> = matrix.defect.keys().cloned().collect();
    let missing: Vec<_> = catalogue.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&catalogue).collect();
    assert!(
        missing.is_empty(),
        "defects of the catalogue without a matrix entry: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "matrix entries that are no defect: {unknown:?}"
    );

    // The inverse map is complete and names only real scenarios.
    let caught: BTreeSet<&String> = matrix
        .defect
        .values()
        .flat_map(|d| d.fails.iter())
        .collect();
    let stale: Vec<_> = caught
        .iter()
        .map(|s| s.as_str())
        .chain(matrix.unproven.keys().map(String::as_str))
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "the matrix names scenarios that do not exist: {stale:?}"
    );
    let uncovered: Vec<_> = ids
        .iter()
        .filter(|id| !caught.contains(id) && !matrix.unproven.contains_key(*id))
        .collect();
    assert!(
        uncovered.is_empty(),
        "scenarios no defect fails and that are not listed as unproven: {uncovered:?}"
    );

    // The control: one run of the union of every defect's filter passes without a
    // defect, so every scenario a defect run may fail passes on a clean sandbox (one
    // sandbox instead of one per filter). It runs beside the defect runs; the test
    // reports a failed control first, since then no defect result means anything.
    let filters: BTreeSet<&str> = matrix.defect.values().map(|d| d.tags.as_str()).collect();
    let control = filters
        .iter()
        .map(|f| format!("({f})"))
        .collect::<Vec<_>>()
        .join(" or ");
    // Popped from the end: the control first, then the defects.
    let mut jobs: Vec<(Option<&str>, &str)> = matrix
        .defect
        .iter()
        .map(|(n, d)| (Some(n.as_str()), d.tags.as_str()))
        .collect();
    jobs.push((None, control.as_str()));
    let control_failure = Mutex::new(None::<String>);
    let failures = Mutex::new(Vec::<String>::new());
    let queue = Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                while let Some((defect, tags)) = queue.lock().expect("queue").pop() {
                    match (defect, check_one(&matrix, defect, tags)) {
                        (None, Err(e)) => *control_failure.lock().expect("control") = Some(e),
                        (Some(_), Err(e)) => failures.lock().expect("failures").push(e),
                        (_, Ok(_)) => {}
                    }
                }
            });
        }
    });
    if let Some(e) = control_failure.into_inner().expect("control") {
        panic!("defect matrix: {e}");
    }
    let f = failures.into_inner().expect("failures");
    assert!(f.is_empty(), "defect matrix:\n{}", f.join("\n"));
}

/// docs/defects.md is generated from the matrix and the features (which the test above
/// proves against the sandbox): `UPDATE_DEFECTS_DOC=1` rewrites it.
#[test]
fn the_defect_document_is_current() {
    let matrix = load_matrix();
    let ids = scenario_ids(&manifest_dir().join("features/en"));
    let doc = render_doc(&matrix, &ids);
    let path = manifest_dir().join("docs/defects.md");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var_os("UPDATE_DEFECTS_DOC").is_some() {
        std::fs::write(&path, &doc).expect("write docs/defects.md");
    } else {
        assert!(
            current == doc,
            "docs/defects.md is out of date: run `UPDATE_DEFECTS_DOC=1 cargo test --test defects the_defect_document`"
        );
    }
}

/// One meta-run: the control (no defect) must pass; a defect run must fail exactly as expected.
fn check_one(matrix: &Matrix, defect: Option<&str>, tags: &str) -> Result<Vec<String>, String> {
    let env: Vec<(&str, &str)> = defect
        .map(|d| vec![("FOCUS_SANDBOX_DEFECTS", d)])
        .unwrap_or_default();
    let run = run_suite(&["--tags", tags], &env, WALL);
    let label = defect
        .map(|d| format!("defect {d}"))
        .unwrap_or_else(|| format!("control `{tags}`"));
    let Some(_) = run.summary else {
        return Err(format!(
            "{label}: the run did not complete (exit {:?}):\n{}",
            run.code,
            tail(&run.all_output())
        ));
    };
    let failed: Vec<String> = run.failed_ids();
    let Some(d) = defect else {
        return if run.code == Some(0) {
            Ok(failed)
        } else {
            Err(format!(
                "{label}: the control run failed (exit {:?}): {failed:?}\n{}",
                run.code,
                tail(&run.stderr)
            ))
        };
    };
    let case = &matrix.defect[d];
    let want: BTreeSet<&str> = case.fails.iter().map(String::as_str).collect();
    let got: BTreeSet<&str> = failed.iter().map(String::as_str).collect();
    if want != got {
        return Err(format!(
            "{label}: expected exactly {want:?} to fail, got {got:?} (missing {:?}, unexpected {:?})",
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        ));
    }
    let names = regex::Regex::new(&case.names)
        .map_err(|e| format!("{label}: `names` is not a regex: {e}"))?;
    let silent: Vec<String> = run
        .summary
        .as_ref()
        .and_then(|s| s["scenarios"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|s| s["status"] == "failed")
        .filter(|s| !names.is_match(s["failure"].as_str().unwrap_or("")))
        .map(|s| format!("{}: {}", s["id"], s["failure"]))
        .collect();
    if !silent.is_empty() {
        return Err(format!(
            "{label}: failures that do not name `{}`: {silent:?}",
            case.names
        ));
    }
    Ok(failed)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn render_doc(matrix: &Matrix, ids: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "# Defect matrix\n\n<!-- Generated by `UPDATE_DEFECTS_DOC=1 cargo test --test defects the_defect_document`; do not edit. -->\n\n\
         Each defect of focus-sandbox (`--defect NAME`, `FOCUS_SANDBOX_DEFECTS`) breaks one rule\n\
         class at one injection point. `cargo test --test defects` runs the English features\n\
         against a sandbox with each defect (after a control run without it) and requires that\n\
         exactly the scenarios below fail, each with a message naming the rule.\n\n\
         ## Defect → scenarios that catch it\n\n| defect | breaks | run | caught by |\n|---|---|---|---|\n",
    );
    for (name, d) in &matrix.defect {
        out.push_str(&format!(
            "| `{name}` | {} | `{}` | {} |\n",
            d.breaks,
            d.tags,
            d.fails
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join("<br>")
        ));
    }
    out.push_str("\n## Scenario → defects that fail it\n\n| scenario | failed by |\n|---|---|\n");
    for id in ids {
        let by: Vec<String> = matrix
            .defect
            .iter()
            .filter(|(_, d)| d.fails.contains(id))
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        let cell = if by.is_empty() {
            format!(
                "unproven: {}",
                matrix.unproven.get(id).map(String::as_str).unwrap_or("?")
            )
        } else {
            by.join(", ")
        };
        out.push_str(&format!("| `{id}` | {cell} |\n"));
    }
    out.push_str("\n## Unproven\n\n");
    if matrix.unproven.is_empty() {
        out.push_str("None: every scenario and Examples row is failed by at least one defect.\n");
    } else {
        for (id, why) in &matrix.unproven {
            out.push_str(&format!("- `{id}`: {why}\n"));
        }
    }
    out
}
