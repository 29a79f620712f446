//! Allure results: `allure-results/` in the run directory, in the Allure 2 result-file
//! format that Allure 2 and Allure 3 both read. One `<uuid>-result.json` per scenario
//! run (one per Examples row and language) with its steps, labels, links, parameters
//! and attachments, plus `environment.properties`, `executor.json` and
//! `categories.json`.
//!
//! Statuses: passed → `passed`, failed → `failed`, a known failure of the register →
//! `broken` with `statusDetails.known = true` and the message `known failure (<key>):
//! <reason>` (it ran and failed as the register expects: neither a new failure nor a
//! scenario that did not run), skipped and refused → `skipped` with the reason.
//!
//! Size: Allure's result types and the mapping of rows and step timelines onto them
//! stay together; ~200 of its lines are tests.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Provenance, Row, Status as RowStatus};
use crate::spec::outcome::{StepStatus, Timeline};
use crate::target::profile::TmsTemplate;

/// A Jira key (`PZ-13984`): the `@PZ-…` tags and the register's Jira ids.
fn is_jira_key(s: &str) -> bool {
    s.split_once('-').is_some_and(|(p, n)| {
        !p.is_empty()
            && p.chars().all(|c| c.is_ascii_uppercase())
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Broken,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Stage {
    Finished,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    pub known: bool,
    pub muted: bool,
    pub flaky: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub source: String,
    #[serde(rename = "type")]
    pub mime: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub name: String,
    pub status: Status,
    pub status_details: StatusDetails,
    stage: Stage,
    pub start: u64,
    pub stop: u64,
    pub steps: Vec<StepResult>,
    pub attachments: Vec<Attachment>,
    pub parameters: Vec<Parameter>,
}

/// One `<uuid>-result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub uuid: String,
    pub history_id: String,
    pub test_case_id: String,
    pub full_name: String,
    pub name: String,
    pub description: String,
    pub status: Status,
    pub status_details: StatusDetails,
    stage: Stage,
    pub start: u64,
    pub stop: u64,
    pub labels: Vec<Label>,
    pub links: Vec<Link>,
    pub parameters: Vec<Parameter>,
    pub attachments: Vec<Attachment>,
    pub steps: Vec<StepResult>,
}

/// One entry of `categories.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub name: String,
    pub matched_statuses: Vec<Status>,
    pub message_regex: String,
}

/// `executor.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Executor {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub build_name: String,
    pub build_order: u64,
    pub report_name: String,
}

/// What a run hands to the Allure writer: the report's rows (every scenario run and
/// not run, as judged) and the timelines of those that ran.
pub struct AllureRun<'a> {
    pub provenance: &'a Provenance,
    pub rows: &'a [Row],
    pub timelines: &'a [Timeline],
    /// Where the rows' diagnostics files are (the run directory).
    pub run_dir: &'a Path,
    pub tms: Option<&'a TmsTemplate>,
}

/// The categories of `categories.json`, first match wins. The regexes work in both
/// Java (Allure 2, whole-message match) and JavaScript (Allure 3, search).
pub fn categories() -> Vec<Category> {
    let any = "[\\s\\S]*";
    vec![
        Category {
            name: "Known failures (known-issues register)".into(),
            matched_statuses: vec![Status::Broken],
            message_regex: format!("known failure \\({any}"),
        },
        Category {
            name: "Environment unreachable".into(),
            matched_statuses: vec![Status::Failed],
            message_regex: format!(
                "{any}(no answer within|[Cc]onnection refused|error sending request|tcp connect error|dns error|cannot reach|unreachable){any}"
            ),
        },
        Category {
            name: "Contract drift".into(),
            matched_statuses: vec![Status::Failed],
            message_regex: format!("{any}(drifts from the contract|breaks the contract){any}"),
        },
        Category {
            name: "Capacity shortfall".into(),
            matched_statuses: vec![Status::Failed],
            message_regex: format!("{any}reached \\d+ of \\d+{any}"),
        },
    ]
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Stable 64-bit FNV-1a, for ids that must not change between runs (history).
fn fnv(seed: u64, s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex128(s: &str) -> String {
    format!("{:016x}{:016x}", fnv(0, s), fnv(0x9e37_79b9_7f4a_7c15, s))
}

/// A UUID-shaped id, unique per run and scenario run.
fn uuid_of(s: &str) -> String {
    let h = hex128(s);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn status_of(s: StepStatus) -> Status {
    match s {
        StepStatus::Passed => Status::Passed,
        StepStatus::Failed => Status::Failed,
        StepStatus::Skipped => Status::Skipped,
    }
}

/// The section `## Last Focus Server exchange` of a diagnostics file, if any.
fn exchange_section(diagnostics: &str) -> Option<&str> {
    let start = diagnostics.find("## Last Focus Server exchange")?;
    let rest = &diagnostics[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    Some(rest[..end].trim_end())
}

/// The result of one row (its timeline, when it ran); attachments are written into
/// `out` next to it.
fn result(
    run: &AllureRun,
    row: &Row,
    timeline: Option<&Timeline>,
    out: &Path,
) -> io::Result<TestResult> {
    let lang = if row.hebrew { "he" } else { "en" };
    let identity = format!("{lang}:{}", row.id);
    let uuid = uuid_of(&format!(
        "{}/{identity}/{}",
        run.provenance.run_id, row.line
    ));
    let (status, mut details) = match row.status {
        RowStatus::Passed => (Status::Passed, StatusDetails::default()),
        RowStatus::Failed => (
            Status::Failed,
            StatusDetails {
                message: Some(row.note.clone()),
                ..Default::default()
            },
        ),
        RowStatus::KnownFailure => (
            Status::Broken,
            StatusDetails {
                known: true,
                message: Some(format!(
                    "known failure ({}): {}",
                    row.known_issue.as_deref().unwrap_or("?"),
                    row.note
                )),
                ..Default::default()
            },
        ),
        other @ (RowStatus::Skipped | RowStatus::Refused) => (
            Status::Skipped,
            StatusDetails {
                message: Some(format!("{other}: {}", row.note)),
                ..Default::default()
            },
        ),
    };
    // The failure as the steps saw it.
    if let Some(t) = timeline {
        details.trace = t
            .steps
            .iter()
            .filter_map(|s| {
                s.message
                    .as_ref()
                    .filter(|_| s.status == StepStatus::Failed)
                    .map(|m| format!("{}: {m}", s.name))
            })
            .reduce(|a, b| format!("{a}\n{b}"));
    }

    let mut labels = Vec::new();
    let mut label = |name: &str, value: &str| {
        labels.push(Label {
            name: name.into(),
            value: value.into(),
        })
    };
    let area = ["api", "k8s", "system"]
        .into_iter()
        .find(|a| row.tags.iter().any(|t| t == a));
    if let Some(a) = area {
        label("epic", a);
        label("parentSuite", a);
    }
    label("feature", &row.feature);
    label("suite", &row.feature);
    for s in &row.scope {
        label("story", s);
    }
    label("language", lang);
    label("framework", "cucumber-rs");
    let mut links = Vec::new();
    for t in &row.tags {
        if is_jira_key(t) {
            if let Some(tms) = run.tms {
                links.push(Link {
                    name: t.clone(),
                    url: tms.url(t),
                    kind: "tms".into(),
                });
            }
        } else if !crate::spec::tags::ScenarioTags::is_structural(t) {
            label("tag", t);
        }
    }
    if let (Some(key), Some(tms)) = (&row.known_issue, run.tms)
        && is_jira_key(key)
    {
        links.push(Link {
            name: key.clone(),
            url: tms.url(key),
            kind: "issue".into(),
        });
    }

    let mut attachments = Vec::new();
    if let Some(rel) = &row.diagnostics
        && let Ok(text) = std::fs::read_to_string(run.run_dir.join(rel))
    {
        let source = format!("{}-attachment.md", uuid_of(&format!("{uuid}/diagnostics")));
        std::fs::write(out.join(&source), &text)?;
        attachments.push(Attachment {
            name: "Failure diagnostics".into(),
            source,
            mime: "text/markdown".into(),
        });
        if let Some(exchange) = exchange_section(&text) {
            let source = format!("{}-attachment.md", uuid_of(&format!("{uuid}/exchange")));
            std::fs::write(out.join(&source), exchange)?;
            attachments.push(Attachment {
                name: "Last request and response (secrets redacted)".into(),
                source,
                mime: "text/markdown".into(),
            });
        }
    }

    // Not run: the run's end stands for both.
    let fallback = run
        .provenance
        .finished
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond().max(0) as u64)
        .unwrap_or(0);
    let (start, stop) = timeline.map_or((fallback, fallback), |t| {
        (millis(t.started), millis(t.finished))
    });
    let steps = timeline
        .map(|t| {
            t.steps
                .iter()
                .map(|s| StepResult {
                    name: s.name.clone(),
                    status: status_of(s.status),
                    status_details: StatusDetails {
                        message: s.message.clone(),
                        ..Default::default()
                    },
                    stage: Stage::Finished,
                    start: millis(s.started),
                    stop: millis(s.finished),
                    steps: Vec::new(),
                    attachments: Vec::new(),
                    parameters: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    let parameters = timeline
        .map(|t| {
            t.parameters
                .iter()
                .map(|(name, value)| Parameter {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_default();
    let place = match &row.path {
        Some(p) => format!(
            "{}:{}",
            Path::new(p)
                .strip_prefix(&cwd)
                .unwrap_or(Path::new(p))
                .display(),
            row.line
        ),
        None => format!("line {}", row.line),
    };
    Ok(TestResult {
        history_id: hex128(&identity),
        test_case_id: hex128(&identity),
        full_name: identity,
        name: row.name.clone(),
        description: format!("Scenario `{}` ({place})", row.id),
        uuid,
        status,
        status_details: details,
        stage: Stage::Finished,
        start,
        stop,
        labels,
        links,
        parameters,
        attachments,
        steps,
    })
}

/// A `.properties` value or key: ISO-8859-1 with `\uXXXX` escapes, as Java reads it.
fn properties_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' | '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out
}

/// Writes `allure-results/` into `dir` (replacing what was there).
pub fn write(run: &AllureRun, dir: &Path) -> io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let by_place: BTreeMap<(Option<&str>, usize), &Timeline> = run
        .timelines
        .iter()
        .map(|t| ((t.path.as_deref(), t.line), t))
        .collect();
    for row in run.rows {
        let ran = !row.status.not_run();
        let timeline = ran
            .then(|| by_place.get(&(row.path.as_deref(), row.line)).copied())
            .flatten();
        let r = result(run, row, timeline, dir)?;
        std::fs::write(
            dir.join(format!("{}-result.json", r.uuid)),
            serde_json::to_vec_pretty(&r).map_err(io::Error::other)?,
        )?;
    }
    let p = run.provenance;
    let env: String = [
        ("profile", &p.profile),
        ("focus_server.sw_version", &p.focus_server_version),
        ("cluster.version", &p.cluster_version),
        ("suite.commit", &p.suite_commit),
        ("tag_expression", &p.tag_expression),
        ("run_id", &p.run_id),
    ]
    .iter()
    .map(|(k, v)| format!("{}={}\n", properties_escape(k), properties_escape(v)))
    .collect();
    std::fs::write(dir.join("environment.properties"), env)?;
    let executor = Executor {
        name: "focus-scope".into(),
        kind: "focus-scope".into(),
        build_name: format!("{} · {}", p.profile, p.run_id),
        build_order: p
            .started
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second().max(0) as u64)
            .unwrap_or(0),
        report_name: format!("focus-scope — {}", p.profile),
    };
    std::fs::write(
        dir.join("executor.json"),
        serde_json::to_vec_pretty(&executor).map_err(io::Error::other)?,
    )?;
    std::fs::write(
        dir.join("categories.json"),
        serde_json::to_vec_pretty(&categories()).map_err(io::Error::other)?,
    )?;
    Ok(())
}

/// Copies the run's `allure-results/` to `<output root>/allure-results/` (latest).
pub fn publish_latest(run_results: &Path, latest: &Path) -> io::Result<()> {
    if latest.exists() {
        std::fs::remove_dir_all(latest)?;
    }
    std::fs::create_dir_all(latest)?;
    for e in std::fs::read_dir(run_results)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), latest.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, note: &str, known: Option<&str>) -> Row {
        Row {
            id: "api-time-range-rejected/future".into(),
            name: "טווח זמנים שמפר את הכללים נדחה (future)".into(),
            feature: "אימות טווח זמנים".into(),
            hebrew: true,
            scope: vec!["api-validation-time-range".into()],
            status: crate::report::Status::parse(status).expect("a status word"),
            note: note.into(),
            diagnostics: None,
            tags: vec![
                "api".into(),
                "lang-he".into(),
                "PZ-13552".into(),
                "id:api-time-range-rejected".into(),
                "scope:api-validation-time-range".into(),
            ],
            path: Some("features/he/api/time_range.feature".into()),
            line: 25,
            known_issue: known.map(String::from),
        }
    }

    fn one(row: &Row, tms: Option<&TmsTemplate>) -> TestResult {
        let out = tempfile::tempdir().expect("dir");
        let prov = Provenance {
            run_id: "r1".into(),
            profile: "sandbox-observed".into(),
            finished: "2026-12-03T08:00:00Z".into(),
            ..Default::default()
        };
        let run = AllureRun {
            provenance: &prov,
            rows: std::slice::from_ref(row),
            timelines: &[],
            run_dir: out.path(),
            tms,
        };
        result(&run, row, None, out.path()).expect("result")
    }

    #[test]
    fn a_known_failure_is_broken_with_its_key_and_links() {
        let tms = TmsTemplate::try_from("https://jira.example/browse/{key}".to_string())
            .expect("template");
        let r = one(
            &row(
                "known-failure",
                "expected a 400 rejection",
                Some("PZ-13984"),
            ),
            Some(&tms),
        );
        assert_eq!(r.status, Status::Broken);
        assert!(r.status_details.known);
        assert_eq!(
            r.status_details.message.as_deref(),
            Some("known failure (PZ-13984): expected a 400 rejection")
        );
        let links: Vec<(&str, &str, &str)> = r
            .links
            .iter()
            .map(|l| (l.kind.as_str(), l.name.as_str(), l.url.as_str()))
            .collect();
        assert_eq!(
            links,
            vec![
                ("tms", "PZ-13552", "https://jira.example/browse/PZ-13552"),
                ("issue", "PZ-13984", "https://jira.example/browse/PZ-13984"),
            ]
        );
        let labels: Vec<(&str, &str)> = r
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        for want in [
            ("epic", "api"),
            ("story", "api-validation-time-range"),
            ("language", "he"),
            ("tag", "lang-he"),
            ("suite", "אימות טווח זמנים"),
        ] {
            assert!(labels.contains(&want), "{want:?} in {labels:?}");
        }
        assert!(
            !labels
                .iter()
                .any(|(_, v)| v.starts_with("id:") || v.starts_with("PZ-")),
            "{labels:?}"
        );
        // Stable across runs, distinct per language.
        assert_eq!(r.history_id, one(&row("passed", "", None), None).history_id);
        let mut en = row("passed", "", None);
        en.hebrew = false;
        assert_ne!(r.history_id, one(&en, None).history_id);
    }

    #[test]
    fn without_a_template_no_links_and_a_skip_says_why() {
        let r = one(
            &row("skipped", "needs the `sandbox` fault driver", None),
            None,
        );
        assert_eq!(r.status, Status::Skipped);
        assert!(r.links.is_empty());
        assert_eq!(
            r.status_details.message.as_deref(),
            Some("skipped: needs the `sandbox` fault driver")
        );
    }

    #[test]
    fn the_template_must_be_a_url_with_one_key() {
        for bad in [
            "jira.example/browse/{key}",
            "https://jira.example/browse/",
            "https://jira.example/{key}/{key}",
            "https://jira.example/browse/{key} x",
        ] {
            let e = TmsTemplate::try_from(bad.to_string()).expect_err(bad);
            assert!(e.starts_with("reports.tms_url: "), "{e}");
        }
    }

    #[test]
    fn a_malformed_template_names_the_key_and_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let profile =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sandbox.toml"))
                .expect("profile");
        std::fs::write(
            dir.path().join("p.toml"),
            format!("{profile}\n[reports]\ntms_url = \"jira/{{key}}\"\n"),
        )
        .expect("write");
        let e = crate::target::config::Config::load(dir.path(), "p", &BTreeMap::new())
            .expect_err("malformed")
            .to_string();
        assert!(e.contains("p.toml") && e.contains("reports.tms_url"), "{e}");
        std::fs::write(
            dir.path().join("p.toml"),
            format!("{profile}\n[reports]\ntms_url = \"https://j.example/browse/{{key}}\"\n"),
        )
        .expect("write");
        let c =
            crate::target::config::Config::load(dir.path(), "p", &BTreeMap::new()).expect("valid");
        assert_eq!(
            c.profile.reports.tms_url.map(|t| t.url("PZ-1")).as_deref(),
            Some("https://j.example/browse/PZ-1")
        );
    }

    #[test]
    fn categories_sort_the_failures_the_suite_writes() {
        let cats = categories();
        let category = |status: Status, message: &str| -> Option<String> {
            cats.iter()
                .find(|c| {
                    c.matched_statuses.contains(&status)
                        && regex::Regex::new(&format!("^(?:{})$", c.message_regex))
                            .expect("regex")
                            .is_match(message)
                })
                .map(|c| c.name.clone())
        };
        let named = |s, m| category(s, m).unwrap_or_default();
        assert!(named(Status::Broken, "known failure (PZ-1): x\ny").starts_with("Known"));
        assert!(
            named(
                Status::Failed,
                "step `x` failed: GET http://127.0.0.1:1/ack: no answer within 10s"
            )
            .starts_with("Environment")
        );
        assert!(
            named(
                Status::Failed,
                "step failed: the published API drifts from the contract: endpoint"
            )
            .starts_with("Contract")
        );
        assert!(named(Status::Failed, "reached 40 of 200\nmore").starts_with("Capacity"));
        assert_eq!(category(Status::Failed, "expected a 400 rejection"), None);
    }

    #[test]
    fn the_exchange_is_cut_from_the_diagnostics() {
        let md = "# x\n\n## Last Focus Server exchange\n\n`POST /configure` → **200**\n\n## Investigations\n\nmore";
        assert_eq!(
            exchange_section(md),
            Some("## Last Focus Server exchange\n\n`POST /configure` → **200**")
        );
        assert_eq!(exchange_section("# none"), None);
    }

    #[test]
    fn properties_are_escaped_as_java_reads_them() {
        assert_eq!(properties_escape("a=b:c"), "a\\=b\\:c");
        assert_eq!(properties_escape("→"), "\\u2192");
    }
}
