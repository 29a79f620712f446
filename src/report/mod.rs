//! The living-doc report: one self-contained `report.html` per run (no network) with
//! provenance, the scope matrix (scope item → scenarios in English and Hebrew → last
//! result), per-feature results in both languages (Hebrew right-to-left), known
//! failures, skipped scenarios, latency percentiles, request counts and trends.
//! Each run also appends its figures to `history.jsonl`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec::metrics::Summary;

pub(crate) mod allure;
mod charts;
pub(crate) mod diagnostics;
mod html;
pub(crate) mod junit;

pub use html::{Page, StageBound, render};

// The path of before the metrics moved into `spec`, for branches in flight.

/// One IN-SCOPE item of `docs/scope.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeItem {
    pub key: String,
    pub item: String,
}

/// The IN-SCOPE keys of `docs/scope.md`: every table row whose first cell is a
/// backticked key, up to the OUT OF SCOPE heading.
pub fn scope_items(markdown: &str) -> Vec<ScopeItem> {
    let mut items = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("## ") && line.to_uppercase().contains("OUT OF SCOPE") {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3
            && let Some(key) = cells[1].strip_prefix('`').and_then(|k| k.strip_suffix('`'))
            && !key.is_empty()
            && !key.contains(' ')
        {
            items.push(ScopeItem {
                key: key.to_string(),
                item: cells[2].to_string(),
            });
        }
    }
    items
}

/// How a scenario ended, as the report and the summary say it (`passed`, `failed`,
/// `known-failure`, `skipped`, `refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Passed,
    Failed,
    KnownFailure,
    Skipped,
    Refused,
}

impl Status {
    /// In the order the report lists them.
    pub const ALL: [Status; 5] = [
        Status::Passed,
        Status::Failed,
        Status::KnownFailure,
        Status::Skipped,
        Status::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::KnownFailure => "known-failure",
            Status::Skipped => "skipped",
            Status::Refused => "refused",
        }
    }

    /// The status a word names, if any.
    #[cfg(test)]
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The scenario did not run (the plan skipped or refused it).
    pub fn not_run(self) -> bool {
        matches!(self, Status::Skipped | Status::Refused)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scenario's line in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub feature: String,
    pub hebrew: bool,
    pub scope: Vec<String>,
    pub status: Status,
    /// Failure, known-issue id and reason, or skip reason.
    pub note: String,
    /// The failure's diagnostics file, relative to the run directory.
    #[serde(default)]
    pub diagnostics: Option<String>,
    /// Feature, rule and scenario tags, without `@`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The feature file and the scenario's line (an Examples row's own line).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: usize,
    /// The register's key (Jira or FS-nnn) of a known failure.
    #[serde(default)]
    pub known_issue: Option<String>,
}

/// What the run was: where, what, when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Provenance {
    pub suite_commit: String,
    pub profile: String,
    /// The cancel path of the run (`target.cancel`).
    pub cancel: String,
    pub tag_expression: String,
    pub run_id: String,
    pub focus_server_version: String,
    pub cluster_version: String,
    pub started: String,
    pub finished: String,
    /// The Kubernetes API server the run used (userinfo stripped).
    #[serde(default)]
    pub cluster_server: String,
    /// `FOCUS_*` variables that overrode keys of the profile file ("none" if none).
    #[serde(default)]
    pub overrides: String,
    /// How the Focus Server's certificate was checked.
    #[serde(default)]
    pub tls: String,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub run_id: String,
    pub profile: String,
    pub started: String,
    pub counts: BTreeMap<String, usize>,
    pub latency: BTreeMap<String, Summary>,
    pub known_failures: Vec<String>,
}

pub fn counts(rows: &[Row]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for r in rows {
        *c.entry(r.status.to_string()).or_insert(0) += 1;
    }
    c
}

/// Reads the history of a profile, oldest first (unreadable lines are skipped).
pub fn read_history(path: &Path, profile: &str) -> Vec<HistoryEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<HistoryEntry>(l).ok())
        .filter(|h| h.profile == profile)
        .collect()
}

pub fn append_history(path: &Path, entry: &HistoryEntry) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(entry).map_err(std::io::Error::other)?
    )
}

/// Percentiles of the current run more than 50% worse than the median of the
/// previous five runs of the profile: `(kind, percentile, now, median)`.
pub fn regressions(
    previous: &[HistoryEntry],
    now: &BTreeMap<String, Summary>,
) -> Vec<(String, &'static str, f64, f64)> {
    let last5: Vec<&HistoryEntry> = previous.iter().rev().take(5).collect();
    let mut out = Vec::new();
    if last5.is_empty() {
        return out;
    }
    for (kind, s) in now {
        for (name, value, pick) in [
            (
                "p50",
                s.p50_ms,
                (|x: &Summary| x.p50_ms) as fn(&Summary) -> f64,
            ),
            ("p95", s.p95_ms, |x: &Summary| x.p95_ms),
            ("p99", s.p99_ms, |x: &Summary| x.p99_ms),
        ] {
            let mut past: Vec<f64> = last5
                .iter()
                .filter_map(|h| h.latency.get(kind))
                .map(pick)
                .collect();
            if past.is_empty() {
                continue;
            }
            past.sort_by(f64::total_cmp);
            let median = past[past.len() / 2];
            if median > 0.0 && value > median * 1.5 {
                out.push((kind.clone(), name, value, median));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p99: f64) -> Summary {
        Summary {
            count: 10,
            p50_ms: p99 / 2.0,
            p95_ms: p99,
            p99_ms: p99,
            max_ms: p99,
        }
    }

    #[test]
    fn scope_keys_come_from_backticked_first_cells_before_out_of_scope() {
        let md = "## IN SCOPE\n| key | item | f |\n|---|---|---|\n| `k8s-a` | A thing | x |\n| not a key | y | z |\n## OUT OF SCOPE\n| `grpc` | no | x |\n";
        assert_eq!(
            scope_items(md),
            vec![ScopeItem {
                key: "k8s-a".into(),
                item: "A thing".into()
            }]
        );
    }

    #[test]
    fn a_percentile_half_again_worse_than_the_median_is_flagged() {
        let past: Vec<HistoryEntry> = (0..5)
            .map(|i| HistoryEntry {
                run_id: format!("r{i}"),
                profile: "p".into(),
                started: String::new(),
                counts: BTreeMap::new(),
                latency: BTreeMap::from([("configure".to_string(), summary(100.0))]),
                known_failures: vec![],
            })
            .collect();
        let fine = BTreeMap::from([("configure".to_string(), summary(140.0))]);
        assert!(regressions(&past, &fine).is_empty());
        let worse = BTreeMap::from([("configure".to_string(), summary(160.0))]);
        assert!(
            regressions(&past, &worse)
                .iter()
                .any(|(_, p, _, _)| *p == "p99")
        );
    }

    #[test]
    fn the_page_escapes_text_and_marks_hebrew_rtl() {
        let rows = vec![Row {
            id: "x".into(),
            name: "<b>".into(),
            feature: "תכונה".into(),
            hebrew: true,
            scope: vec![],
            status: Status::Passed,
            note: String::new(),
            diagnostics: None,
            tags: vec!["lang-he".into()],
            path: None,
            line: 3,
            known_issue: None,
        }];
        let html = render(&Page {
            provenance: &Provenance::default(),
            exit_code: 0,
            verdict: ("PASSED", "every selected scenario passed"),
            scope: &[],
            rows: &rows,
            latency: &BTreeMap::new(),
            samples: &BTreeMap::new(),
            bounds: &[],
            kubernetes_requests: 0,
            history: &[],
        });
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("section.lang-he{direction:rtl}"));
        assert!(html.contains("data-passed=\"1\""));
    }
}
