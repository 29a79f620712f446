//! Publishing a finished run: `summary.json` (written and read back by `scope`), the
//! JUnit marks, report.html with its history, Allure results, and the provenance
//! they all carry.

use std::io;
use std::path::Path;

use crate::report::junit;
use crate::report::{self, Provenance};
use crate::run::exit::Exit;
use crate::run::plan::{Decision, NotRun};
use crate::run::suite::{RunInfo, Suite};
use crate::spec::known_issues::Judgement;
use crate::spec::outcome::{ScenarioOutcome, Verdict};
use crate::spec::tags::ScenarioTags;
use crate::target::config::Config;

/// Writes `summary.json`, marks known failures and not-run scenarios as skipped in
/// `junit.xml`, and copies the run's reports to the output root (latest).
pub(crate) fn publish(
    run: &RunInfo,
    verdicts: &[(ScenarioOutcome, Judgement)],
    not_run: &[NotRun],
    exit: Exit,
    provenance: &Provenance,
) -> io::Result<()> {
    let status = |j: &Judgement| match j {
        Judgement::Passed => report::Status::Passed,
        Judgement::Failed(_) | Judgement::Mismatch(_) => report::Status::Failed,
        Judgement::KnownFailure { .. } => report::Status::KnownFailure,
    };
    let summary = serde_json::json!({
        "run_id": run.id,
        "exit": exit as u8,
        "provenance": provenance,
        "cancel": provenance.cancel,
        "scenarios": verdicts.iter().map(|(o, j)| serde_json::json!({
            "id": o.id,
            "name": o.name,
            "feature": o.feature,
            "tags": o.tags,
            "line": o.line,
            "status": status(j),
            "failure": match &o.verdict { Verdict::Passed => None, Verdict::Failed(m) => Some(m) },
            "judgement": match j {
                Judgement::Mismatch(m) => Some(m.clone()),
                Judgement::KnownFailure { id, reason } => Some(format!("known failure ({id}): {reason}")),
                _ => None,
            },
        })).collect::<Vec<_>>(),
        "not_run": not_run.iter().map(|n| serde_json::json!({
            "id": n.id,
            "tags": n.tags,
            "name": n.name,
            "feature": n.feature,
            "decision": match &n.decision { Decision::Skip(_) => "skipped", Decision::Refuse(_) => "refused", Decision::Run => "run" },
            "reason": match &n.decision { Decision::Skip(w) | Decision::Refuse(w) => w.as_str(), Decision::Run => "" },
        })).collect::<Vec<_>>(),
    });
    std::fs::write(
        run.dir.join("summary.json"),
        serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?,
    )?;
    let junit_path = run.dir.join("junit.xml");
    if let Ok(xml) = std::fs::read_to_string(&junit_path) {
        let cwd = std::env::current_dir().unwrap_or_default();
        let marks: Vec<junit::Mark> = verdicts
            .iter()
            .filter_map(|(o, j)| match j {
                Judgement::KnownFailure { id, reason } => Some(junit::Mark {
                    path: o
                        .path
                        .as_deref()
                        .map(|p| {
                            Path::new(p)
                                .strip_prefix(&cwd)
                                .map(|r| r.display().to_string())
                                .unwrap_or_else(|_| p.to_string())
                        })
                        .unwrap_or_default(),
                    line: o.line,
                    message: format!("known failure ({id}): {reason}"),
                }),
                _ => None,
            })
            .collect();
        let skipped: Vec<(String, String)> = not_run
            .iter()
            .map(|n| {
                let reason = match &n.decision {
                    Decision::Skip(w) | Decision::Refuse(w) => w.clone(),
                    Decision::Run => String::new(),
                };
                (n.id.clone().unwrap_or_else(|| n.name.clone()), reason)
            })
            .collect();
        let props = [
            ("suite_commit", provenance.suite_commit.clone()),
            ("profile", provenance.profile.clone()),
            ("tag_expression", provenance.tag_expression.clone()),
            ("run_id", provenance.run_id.clone()),
            (
                "focus_server_sw_version",
                provenance.focus_server_version.clone(),
            ),
            ("cluster_version", provenance.cluster_version.clone()),
            ("cluster_server", provenance.cluster_server.clone()),
            ("profile_overrides", provenance.overrides.clone()),
            ("focus_server_tls", provenance.tls.clone()),
            ("started", provenance.started.clone()),
            ("finished", provenance.finished.clone()),
        ];
        match junit::mark_known_failures(&xml, &marks)
            .and_then(|x| junit::add_not_run(&x, &skipped))
            .and_then(|x| junit::add_properties(&x, &props))
        {
            Ok(xml) => std::fs::write(&junit_path, xml)?,
            // Left as cucumber wrote it; the other reports are still published.
            Err(e) => {
                tracing::warn!(path = %junit_path.display(), error = %e, "junit.xml not post-processed")
            }
        }
    }
    for f in [
        "junit.xml",
        "cucumber.json",
        "ledger.jsonl",
        "summary.json",
        "metrics.json",
    ] {
        let from = run.dir.join(f);
        if from.is_file() {
            std::fs::copy(&from, run.output_root.join(f))?;
        }
    }
    Ok(())
}

/// The tag expression as the user wrote it (argument or `CUCUMBER_FILTER_TAGS`).
fn tag_expression_text(default: Option<&str>) -> String {
    let args: Vec<String> = std::env::args().collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--tags=") {
            return v.to_string();
        }
        if (a == "--tags" || a == "-t")
            && let Some(v) = args.get(i + 1)
        {
            return v.clone();
        }
    }
    std::env::var("CUCUMBER_FILTER_TAGS")
        .ok()
        .or_else(|| default.map(String::from))
        .unwrap_or_else(|| "(all scenarios)".into())
}

/// Where, what and when: asked of the target while it still runs.
pub(crate) async fn provenance(suite: &Suite, started: jiff::Timestamp) -> Provenance {
    let suite_commit = crate::cli::suite_commit();
    let focus_server_version = match suite.api.live_metadata().await {
        Ok(r) => r
            .body
            .get("sw_version")
            .and_then(|v| v.as_str())
            .map(String::from)
            .unwrap_or_else(|| format!("unknown (/live_metadata answered {})", r.status)),
        Err(e) => format!("unknown ({e})"),
    };
    let cluster_version = suite
        .cluster
        .version()
        .await
        .unwrap_or_else(|e| format!("unknown ({e})"));
    Provenance {
        suite_commit,
        profile: suite.config.name.clone(),
        cancel: suite.config.profile.target.cancel.describe().to_string(),
        tag_expression: tag_expression_text(suite.config.profile.default_tags.as_deref()),
        run_id: suite.run.id.clone(),
        focus_server_version,
        cluster_version,
        started: started.to_string(),
        finished: jiff::Timestamp::now().to_string(),
        cluster_server: suite.cluster.server().to_string(),
        overrides: overrides_text(&suite.config),
        tls: tls_text(&suite.config),
    }
}

/// The `FOCUS_*` overrides of the profile, for the banner and the provenance.
pub(crate) fn overrides_text(config: &Config) -> String {
    if config.overrides.is_empty() {
        return "none".into();
    }
    config
        .overrides
        .iter()
        .map(|(var, key, value)| format!("{var}={value} (sets {key})"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How the Focus Server's certificate is checked, for the banner and the provenance.
pub(crate) fn tls_text(config: &Config) -> String {
    let t = &config.profile.target;
    if !t.api_url.as_deref().unwrap_or("https").starts_with("https") {
        "plain http (no TLS)".into()
    } else if !t.tls_verify {
        "VERIFICATION OFF (target.tls_verify = false): the server's identity is not checked".into()
    } else {
        match &t.tls_ca {
            Some(ca) => format!("verified against the CA {}", ca.display()),
            None => "verified against the system roots".into(),
        }
    }
}

/// The report's rows: every scenario that ran, as judged, and every one not run.
fn report_rows(
    verdicts: &[(ScenarioOutcome, Judgement)],
    not_run: &[NotRun],
    run_dir: &Path,
) -> Vec<report::Row> {
    let scope_of = |tags: &[String]| ScenarioTags::parse(tags).scope;
    let mut rows: Vec<report::Row> = verdicts
        .iter()
        .map(|(o, j)| {
            let (status, note, known_issue) = match j {
                Judgement::Passed => (report::Status::Passed, String::new(), None),
                Judgement::Failed(m) | Judgement::Mismatch(m) => {
                    (report::Status::Failed, m.clone(), None)
                }
                Judgement::KnownFailure { id, reason } => (
                    report::Status::KnownFailure,
                    format!("{id}: {reason}"),
                    Some(id.clone()),
                ),
            };
            let id = o.id.clone().unwrap_or_else(|| o.name.clone());
            let hebrew = ScenarioTags::parse(&o.tags).hebrew;
            let diagnostics = crate::report::diagnostics::relative_path(&id, hebrew, o.line);
            report::Row {
                diagnostics: run_dir
                    .join(&diagnostics)
                    .is_file()
                    .then(|| diagnostics.display().to_string()),
                id,
                name: o.name.clone(),
                feature: o.feature.clone(),
                hebrew,
                scope: scope_of(&o.tags),
                status,
                note,
                tags: o.tags.clone(),
                path: o.path.clone(),
                line: o.line,
                known_issue,
            }
        })
        .collect();
    for n in not_run {
        let (status, note) = match &n.decision {
            Decision::Skip(w) => (report::Status::Skipped, w.clone()),
            Decision::Refuse(w) => (report::Status::Refused, w.clone()),
            Decision::Run => continue,
        };
        rows.push(report::Row {
            id: n.id.clone().unwrap_or_else(|| n.name.clone()),
            name: n.name.clone(),
            feature: n.feature.clone(),
            hebrew: ScenarioTags::parse(&n.tags).hebrew,
            scope: scope_of(&n.tags),
            status,
            note,
            diagnostics: None,
            tags: n.tags.clone(),
            path: None,
            line: 0,
            known_issue: None,
        });
    }
    rows
}

/// Writes allure-results/ and report.html (run directory and output root) and appends
/// to history.jsonl.
pub(crate) fn write_report(
    suite: &Suite,
    provenance: &Provenance,
    exit: Exit,
    verdicts: &[(ScenarioOutcome, Judgement)],
    timelines: &[crate::spec::outcome::Timeline],
    not_run: &[NotRun],
) -> io::Result<std::path::PathBuf> {
    let rows = report_rows(verdicts, not_run, &suite.run.dir);
    let allure_dir = suite.run.dir.join("allure-results");
    report::allure::write(
        &report::allure::AllureRun {
            provenance,
            rows: &rows,
            timelines,
            run_dir: &suite.run.dir,
            tms: suite.config.profile.reports.tms_url.as_ref(),
        },
        &allure_dir,
    )?;
    report::allure::publish_latest(&allure_dir, &suite.run.output_root.join("allure-results"))?;
    let scope_doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scope.md"))
        .unwrap_or_default();
    let latency = suite.metrics.all();
    let history_path = suite.run.output_root.join("history.jsonl");
    report::append_history(
        &history_path,
        &report::HistoryEntry {
            run_id: suite.run.id.clone(),
            profile: suite.config.name.clone(),
            started: provenance.started.clone(),
            counts: report::counts(&rows),
            latency: latency.clone(),
            known_failures: rows
                .iter()
                .filter(|r| r.status == report::Status::KnownFailure)
                .map(|r| r.id.clone())
                .collect(),
        },
    )?;
    let history = report::read_history(&history_path, &suite.config.name);
    let scope = report::scope_items(&scope_doc);
    let samples = suite.metrics.samples_ms();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let t = &suite.config.profile.thresholds;
    let bounds: Vec<report::StageBound> = [
        (
            crate::spec::metrics::kind::CONFIGURE,
            "thresholds.configure_p99",
            ms(t.configure_p99),
        ),
        (
            crate::spec::metrics::kind::POD_START,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        // Each part of the pod start is bounded by the whole.
        (
            crate::spec::metrics::kind::JOB_TO_SCHEDULED,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        (
            crate::spec::metrics::kind::SCHEDULED_TO_STARTED,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        (
            crate::spec::metrics::kind::PORT_REACHABLE,
            "deadlines.port_reachable",
            ms(suite.config.profile.deadlines.port_reachable),
        ),
    ]
    .into_iter()
    .map(|(k, key, v)| (k.to_string(), key.to_string(), v))
    .collect();
    let page = |rows: &[report::Row]| {
        report::render(&report::Page {
            provenance,
            exit_code: exit as u8,
            verdict: exit.verdict(),
            scope: &scope,
            rows,
            latency: &latency,
            samples: &samples,
            bounds: &bounds,
            kubernetes_requests: suite.cluster.requests_sent(),
            history: &history,
        })
    };
    let path = suite.run.dir.join("report.html");
    std::fs::write(&path, page(&rows))?;
    // The latest copy sits two levels up: its diagnostics links point into the run.
    let latest_rows: Vec<report::Row> = rows
        .iter()
        .cloned()
        .map(|mut r| {
            r.diagnostics = r.diagnostics.map(|d| format!("runs/{}/{d}", suite.run.id));
            r
        })
        .collect();
    let latest = page(&latest_rows);
    std::fs::write(suite.run.output_root.join("report.html"), &latest)?;
    Ok(path)
}
