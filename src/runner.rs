//! The one runner, used by `tests/cucumber.rs` and by the `focus-scope` binary: load
//! the profile, start or reach the target, run the features through cucumber with
//! terminal, JUnit, Cucumber JSON and outcome writers, clean up, and decide the exit.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cucumber::{World as _, WriterExt as _, cli, writer};
use futures::FutureExt as _;

use crate::config::Config;
use crate::exit::Exit;
use crate::junit;
use crate::ledger::Ledger;
use crate::outcome::{Outcomes, ScenarioOutcome, Verdict, row_id};
use crate::plan::{Decision, NotRun, Plan};
use crate::register::{Judgement, Register};
use crate::suite::{self, RunInfo, Suite, TargetError};
use crate::world::FocusWorld;

/// Options of the suite on top of cucumber's own (`--tags`, `--name`, `-c`, …).
#[derive(cucumber::cli::Args, Debug, Clone, Default)]
pub struct SuiteCli {
    /// Accepted and ignored: libtest's name filters (`cargo test <filter>`).
    #[arg(hide = true)]
    pub libtest_filters: Vec<String>,
    /// Accepted and ignored: libtest's flags.
    #[arg(long, hide = true)]
    pub nocapture: bool,
    #[arg(long, hide = true)]
    pub test_threads: Option<usize>,
    #[arg(long, hide = true)]
    pub show_output: bool,
    #[arg(long, hide = true)]
    pub exact: bool,
    #[arg(long, hide = true)]
    pub quiet: bool,
    /// Permit `@destructive` scenarios (fault injection, quota, saturation) on a protected profile.
    #[arg(long)]
    pub allow_destructive: bool,
}

/// Features shipped with the suite (`FOCUS_FEATURES` overrides; `--input` too).
pub fn features_dir() -> PathBuf {
    std::env::var_os("FOCUS_FEATURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/features")))
}

/// Where runs write (`FOCUS_OUTPUT_DIR` overrides): `<root>/runs/<run-id>/`, and the
/// latest run's reports directly under `<root>`.
pub fn output_root() -> PathBuf {
    std::env::var_os("FOCUS_OUTPUT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/focus-scope"))
        })
}

fn new_run(root: &Path) -> io::Result<RunInfo> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let id = format!("{stamp}-{}", std::process::id());
    let dir = root.join("runs").join(&id);
    std::fs::create_dir_all(&dir)?;
    Ok(RunInfo {
        id,
        dir,
        output_root: root.to_path_buf(),
    })
}

fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    eprintln!("focus-scope: {message}");
    eprintln!("focus-scope: {}", Exit::TABLE);
    exit
}

/// Runs the suite with the process' arguments and environment.
pub async fn run() -> Exit {
    let mut opts = cli::Opts::<_, _, _, SuiteCli>::parsed();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, e),
    };
    let register_path = config.dir.join("known-issues.toml");
    let register = if register_path.is_file() {
        match Register::load(&register_path) {
            Ok(r) => r,
            Err(e) => return fail(Exit::Config, e),
        }
    } else {
        Register::empty()
    };
    // The plan applies the tag and name filters itself (see plan.rs).
    let plan = match Plan::new(
        &config.profile,
        opts.tags_filter.take(),
        opts.re_filter.take(),
        opts.custom.allow_destructive,
    ) {
        Ok(p) => p,
        Err(e) => return fail(Exit::Config, format!("{}: {e}", config.file.display())),
    };
    let run = match new_run(&output_root()) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                Exit::Config,
                format!(
                    "cannot create the run directory under {}: {e}",
                    output_root().display()
                ),
            );
        }
    };
    let (target, api, cluster, embedded) = match suite::start_target(&config, &run).await {
        Ok(t) => t,
        Err(TargetError::Config(m)) => return fail(Exit::Config, m),
        Err(TargetError::Unreachable(m)) => return fail(Exit::Unreachable, m),
    };
    let ledger = match Ledger::create(&run.dir.join("ledger.jsonl"), &run.id) {
        Ok(l) => l,
        Err(e) => return fail(Exit::Config, e),
    };
    eprintln!(
        "focus-scope: profile {} · target {} · run {}",
        config.name, target.api_url, run.id
    );
    let suite = Arc::new(Suite {
        config,
        run: run.clone(),
        target,
        api,
        cluster,
        ledger,
        inflight: Default::default(),
        metrics: Default::default(),
    });
    if let Err(e) = suite::install(suite.clone()) {
        return fail(Exit::Config, format!("{e:#}"));
    }

    let outcomes = Outcomes::default();
    let (junit, json) = match (
        File::create(run.dir.join("junit.xml")),
        File::create(run.dir.join("cucumber.json")),
    ) {
        (Ok(j), Ok(c)) => (j, c),
        (Err(e), _) | (_, Err(e)) => {
            return fail(
                Exit::Config,
                format!("cannot write reports in {}: {e}", run.dir.display()),
            );
        }
    };
    let writer = writer::Basic::raw(io::stdout(), writer::Coloring::Auto, 0)
        .summarized()
        .tee::<FocusWorld, _>(writer::JUnit::for_tee(junit, 0))
        .tee::<FocusWorld, _>(writer::Json::for_tee(json))
        .tee::<FocusWorld, _>(
            outcomes
                .writer()
                .discard_stats_writes()
                .discard_arbitrary_writes(),
        )
        .normalized();
    let finished = FocusWorld::cucumber()
        .before(|_feature, _rule, scenario, world| {
            async move {
                let seq = SCENARIO_SEQ.fetch_add(1, Ordering::Relaxed);
                let id = row_id(&scenario.tags, scenario).unwrap_or_else(|| scenario.name.clone());
                world.scenario = format!("{id}#{seq}@{}", scenario.position.line);
                world.scenario_id = id;
            }
            .boxed_local()
        })
        .after(|_feature, _rule, scenario, _finished, world| {
            async move {
                let Some(world) = world else { return };
                let undone = world.undo_faults().await;
                let cleaned = world.suite.cleanup_scenario(&world.scenario).await;
                // A panic here is reported as a failed After hook: cleanup failures are failures.
                if let Err(e) = undone.and(cleaned) {
                    panic!("cleanup after `{}` failed: {e:#}", scenario.name);
                }
            }
            .boxed_local()
        })
        .with_writer(writer)
        .fail_on_skipped()
        .with_cli(opts)
        .filter_run(features_dir(), {
            let plan = plan.clone();
            move |f, r, sc| plan.admit(f, r, sc)
        })
        .await;
    let parse_failed = writer::Stats::parsing_errors(&finished) > 0;
    let verdicts = judge_all(&outcomes, &register, &suite.config.name);
    let exit = judge(&verdicts, &plan, parse_failed);
    let not_run = plan.not_run();
    let exit = match sweep(&suite).await {
        Ok(()) => exit,
        Err(e) => fail(Exit::Failures, format!("{e:#}")),
    };
    let metrics = serde_json::json!({
        "run_id": run.id,
        "latency": suite.metrics.all(),
        "kubernetes_requests": suite.cluster.requests_sent(),
    });
    for (kind, s) in suite.metrics.all() {
        eprintln!(
            "focus-scope: latency {kind}: p50 {} ms · p95 {} ms · p99 {} ms · max {} ms ({} samples)",
            s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.count
        );
    }
    if let Err(e) = std::fs::write(
        run.dir.join("metrics.json"),
        serde_json::to_vec_pretty(&metrics).unwrap_or_default(),
    ) {
        eprintln!("focus-scope: could not write metrics.json: {e}");
    }
    embedded.shutdown().await;
    if let Err(e) = publish(&run, &verdicts, &not_run, exit) {
        eprintln!("focus-scope: could not publish the reports: {e}");
    }
    eprintln!(
        "focus-scope: reports in {} (latest also in {})",
        run.dir.display(),
        run.output_root.display()
    );
    exit
}

static SCENARIO_SEQ: AtomicU64 = AtomicU64::new(0);

fn judge(all: &[(ScenarioOutcome, Judgement)], plan: &Plan, parse_failed: bool) -> Exit {
    let not_run = plan.not_run();
    if parse_failed {
        return fail(
            Exit::Failures,
            "a feature file could not be parsed (see above)",
        );
    }
    for n in &not_run {
        let (word, why) = match &n.decision {
            Decision::Skip(w) => ("SKIPPED", w),
            Decision::Refuse(w) => ("REFUSED", w),
            Decision::Run => continue,
        };
        eprintln!(
            "focus-scope:   {word} {} ({}): {why}",
            n.id.as_deref().unwrap_or("no @id"),
            n.name
        );
    }
    if plan.selected() == 0 {
        return fail(
            Exit::Config,
            "no scenario selected: the tag filter or name filter matched nothing",
        );
    }
    if all.is_empty() {
        let refused = not_run
            .iter()
            .any(|n| matches!(n.decision, Decision::Refuse(_)));
        return if refused {
            fail(
                Exit::Refused,
                format!(
                    "refused: the profile is protected and every selected scenario is @destructive ({} refused); add --allow-destructive to run them",
                    not_run.len()
                ),
            )
        } else {
            fail(
                Exit::Config,
                format!(
                    "nothing to run: every selected scenario was skipped ({}) for a missing precondition",
                    not_run.len()
                ),
            )
        };
    }
    let mut failed = 0;
    let mut known = 0;
    for (o, j) in all {
        let id = o.id.as_deref().unwrap_or("no @id");
        match j {
            Judgement::Passed => {}
            Judgement::Failed(m) | Judgement::Mismatch(m) => {
                failed += 1;
                eprintln!("focus-scope:   FAILED {id} ({}): {m}", o.name);
            }
            Judgement::KnownFailure { id: key, reason } => {
                known += 1;
                eprintln!("focus-scope:   KNOWN FAILURE ({key}) {id}: {reason}");
            }
        }
    }
    eprintln!(
        "focus-scope: {} scenarios selected · {} passed · {failed} failed · {known} known failures · {} not run (skipped or refused)",
        plan.selected(),
        all.len() - failed - known,
        plan.not_run().len()
    );
    if failed == 0 {
        Exit::Passed
    } else {
        Exit::Failures
    }
}

/// Each outcome as the known-issues register judges it for this profile.
fn judge_all(
    outcomes: &Outcomes,
    register: &Register,
    profile: &str,
) -> Vec<(ScenarioOutcome, Judgement)> {
    outcomes
        .snapshot()
        .into_iter()
        .map(|o| {
            let j = register.judge(profile, &o);
            (o, j)
        })
        .collect()
}

/// Last line of defence: whatever the run ledgered and did not clean is removed now,
/// and its presence fails the run (a scenario leaked).
async fn sweep(suite: &Suite) -> anyhow::Result<()> {
    let left = suite.ledger.all_open();
    if left.is_empty() {
        return Ok(());
    }
    let mut scenarios: Vec<String> = left.iter().map(|(s, _)| s.clone()).collect();
    scenarios.dedup();
    for s in &scenarios {
        suite.cleanup_scenario(s).await?;
    }
    anyhow::bail!(
        "investigations were still open after their scenarios and were removed at the end: {}",
        left.iter()
            .map(|(_, j)| j.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Writes `summary.json`, marks known failures and not-run scenarios as skipped in
/// `junit.xml`, and copies the run's reports to the output root (latest).
fn publish(
    run: &RunInfo,
    verdicts: &[(ScenarioOutcome, Judgement)],
    not_run: &[NotRun],
    exit: Exit,
) -> io::Result<()> {
    let status = |j: &Judgement| match j {
        Judgement::Passed => "passed",
        Judgement::Failed(_) | Judgement::Mismatch(_) => "failed",
        Judgement::KnownFailure { .. } => "known-failure",
    };
    let summary = serde_json::json!({
        "run_id": run.id,
        "exit": exit as u8,
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
        let xml = junit::add_not_run(&junit::mark_known_failures(&xml, &marks), &skipped);
        std::fs::write(&junit_path, xml)?;
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
