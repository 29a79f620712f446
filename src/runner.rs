//! The one runner, used by `tests/cucumber.rs` and by the `focus-scope` binary: load
//! the profile, start or reach the target, run the features through cucumber with
//! terminal, JUnit, Cucumber JSON and outcome writers, clean up, and decide the exit.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cucumber::{World as _, WriterExt as _, writer};
use futures::FutureExt as _;

use crate::config::Config;
use crate::exit::Exit;
use crate::junit;
use crate::ledger::Ledger;
use crate::ledger_mirror;
use crate::lock::RunLock;
use crate::outcome::{Outcomes, ScenarioOutcome, Verdict, row_id};
use crate::plan::{Decision, NotRun, Plan};
use crate::register::{Judgement, Register};
use crate::report::{self, Provenance};
use crate::suite::{self, RunInfo, Suite, TargetError};
use crate::wait::within;
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
    // Two runs started in the same second as PID 1 (two in-cluster Jobs) still differ.
    let id = format!("{stamp}-{}-{}", std::process::id(), random_suffix());
    let dir = root.join("runs").join(&id);
    std::fs::create_dir_all(&dir)?;
    Ok(RunInfo {
        id,
        dir,
        output_root: root.to_path_buf(),
    })
}

/// Six hex digits from the process' randomly keyed hasher (no RNG dependency).
fn random_suffix() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:06x}", h.finish() & 0xff_ffff)
}

fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    eprintln!("focus-scope: {message}");
    eprintln!("focus-scope: {}", Exit::TABLE);
    exit
}

/// Runs the suite with the process' arguments and environment.
pub async fn run(mut opts: crate::cli::RunArgs) -> Exit {
    let started = jiff::Timestamp::now();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, e),
    };
    // Before anything is sent: the operator sees what the environment changed.
    if !config.overrides.is_empty() {
        let protected = if config.profile.protected {
            "PROTECTED "
        } else {
            ""
        };
        eprintln!(
            "focus-scope: {protected}profile {} overridden by the environment: {}",
            config.name,
            overrides_text(&config)
        );
    }
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
    // Runs against one environment exclude each other for their whole length.
    let d = &config.profile.deadlines;
    let lock = match within(
        d.lock_wait + d.startup,
        "the run lock",
        RunLock::acquire(&cluster, &run.id, d.lease, d.lock_wait),
    )
    .await
    {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return fail(Exit::Unreachable, e),
        Err(e) => return fail(Exit::Unreachable, e),
    };
    let ledger = match Ledger::create(&run.dir.join("ledger.jsonl"), &run.id) {
        Ok(l) => l,
        Err(e) => return fail(Exit::Config, e),
    };
    // What existed before the run is never the run's, whatever its timestamps say.
    let baseline = match cluster.investigation_ids().await {
        Ok(ids) => ids.into_iter().collect(),
        Err(e) => {
            return fail(
                Exit::Unreachable,
                format!("cannot list investigations: {e}"),
            );
        }
    };
    let place = crate::ledger::Place {
        profile: config.name.clone(),
        server: cluster.server().to_string(),
        namespace: cluster.namespace().to_string(),
    };
    if let Err(e) = ledger.baseline(baseline, place) {
        return fail(Exit::Config, e);
    }
    eprintln!(
        "focus-scope: profile {} · target {} · cluster {} · run {}",
        config.name,
        crate::redact::url(&target.api_url),
        cluster.server(),
        run.id
    );
    if config.profile.target.kind == crate::config::TargetKind::Remote {
        eprintln!("focus-scope: Focus Server TLS: {}", tls_text(&config));
    }
    let lock_lost = lock.lost();
    let held_cap = config.profile.limits.max_held_investigations;
    let suite = Arc::new(Suite {
        config,
        run: run.clone(),
        target,
        api,
        cluster,
        ledger,
        inflight: Default::default(),
        metrics: Default::default(),
        held: crate::hold::Held::new(held_cap),
        lock: tokio::sync::Mutex::new(Some(lock)),
        stopping: Default::default(),
    });
    let mirror = tokio::spawn(ledger_mirror::follow(suite.clone()));
    if let Err(e) = suite::install(suite.clone()) {
        return fail(Exit::Config, format!("{e:#}"));
    }
    // SIGINT/SIGTERM: delete every investigation the run opened, then exit 130.
    tokio::spawn({
        let suite = suite.clone();
        async move {
            interrupted().await;
            eprintln!(
                "focus-scope: interrupted: no new configure or fault; deleting every investigation this run opened"
            );
            suite.stop().await;
            if let Err(e) = sweep(&suite).await {
                eprintln!("focus-scope: {e:#}");
            }
            finish_mirror_and_lock(&suite).await;
            eprintln!(
                "focus-scope: ledger {}; `focus-scope cleanup --run {}` finishes what is left",
                suite.ledger.path().display(),
                suite.run.id
            );
            std::process::exit(130);
        }
    });

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
    let writer = writer::Basic::raw(crate::output::Stdout, writer::Coloring::Auto, 0)
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
    let run_deadline = suite.config.profile.deadlines.run;
    let finished = FocusWorld::cucumber()
        .before(|feature, rule, scenario, world| {
            async move {
                // Held from before the first step until after cleanup (the after hook).
                let tags = feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&scenario.tags);
                match crate::exclusive::declared(tags) {
                    Ok(alone) => world.locks = crate::exclusive::Held::acquire(alone).await,
                    // A panic here is reported as a failed Before hook.
                    Err(e) => panic!("{e}"),
                }
                let seq = SCENARIO_SEQ.fetch_add(1, Ordering::Relaxed);
                let id = row_id(&scenario.tags, scenario).unwrap_or_else(|| scenario.name.clone());
                world.scenario = format!("{id}#{seq}@{}", scenario.position.line);
                world.scenario_id = id;
                world.scenario_name = scenario.name.clone();
            }
            .boxed_local()
        })
        .after(|feature, _rule, scenario, finished, world| {
            async move {
                let Some(world) = world else { return };
                // Before anything is undone or deleted: the evidence as the failure left it.
                if matches!(
                    finished,
                    cucumber::event::ScenarioFinished::StepFailed(..)
                        | cucumber::event::ScenarioFinished::BeforeHookFailed(..)
                ) {
                    let hebrew = feature.tags.iter().any(|t| t == "lang-he");
                    world
                        .write_diagnostics(hebrew, scenario.position.line)
                        .await;
                }
                let undone = world.undo_faults().await;
                let cleaned = world.suite.cleanup_scenario(&world.scenario).await;
                // A panic here is reported as a failed After hook: cleanup failures are failures.
                // Only now may a scenario that conflicts with this one begin.
                world.locks = Default::default();
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
        });
    // The global deadline: past it the scenarios still running are abandoned, and
    // everything the run opened is cleaned up below as on any other ending.
    // Losing the run lock stops the run as the deadline does: no run goes on unlocked.
    let finished = tokio::select! {
        f = tokio::time::timeout(run_deadline, finished) => Ok(f),
        why = lock_lost => Err(why),
    };
    let parse_failed = finished.as_ref().is_ok_and(|f| {
        f.as_ref()
            .is_ok_and(|f| writer::Stats::parsing_errors(f) > 0)
    });
    let verdicts = judge_all(&outcomes, &register, &suite.config.name);
    let exit = match finished {
        Err(why) => fail(
            Exit::Unreachable,
            format!(
                "lost the run lock: {why}; the scenarios were stopped and everything the run opened is being cleaned up"
            ),
        ),
        Ok(Ok(_)) => judge(&verdicts, &plan, parse_failed),
        Ok(Err(_)) => {
            eprintln!(
                "focus-scope: {} scenarios finished before the deadline",
                verdicts.len()
            );
            fail(
                Exit::Deadline,
                format!(
                    "the run exceeded its deadline of {} (deadlines.run); unfinished scenarios were abandoned and everything the run opened is being cleaned up",
                    crate::config::humantime::format(&run_deadline)
                ),
            )
        }
    };
    let not_run = plan.not_run();
    // Abandoned scenarios (deadline, lost lock) send nothing new from here on.
    suite.stop().await;
    let provenance = provenance(&suite, started).await;
    let exit = match sweep(&suite).await {
        Ok(()) => exit,
        // Abandoned scenarios leave their investigations to the sweep: expected.
        Err(e) if exit == Exit::Deadline || exit == Exit::Unreachable => {
            eprintln!("focus-scope: {e:#}");
            exit
        }
        Err(e) => fail(Exit::Failures, format!("{e:#}")),
    };
    mirror.abort();
    finish_mirror_and_lock(&suite).await;
    let metrics = serde_json::json!({
        "run_id": run.id,
        "latency": suite.metrics.all(),
        "kubernetes_requests": suite.cluster.requests_sent(),
        "held_investigations": {
            "cap": suite.held.cap(),
            "peak": suite.held.peak(),
        },
    });
    eprintln!(
        "focus-scope: investigations held at once: peak {} of at most {} (limits.max_held_investigations)",
        suite.held.peak(),
        suite.held.cap()
    );
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
    if let Err(e) = publish(&run, &verdicts, &not_run, exit, &provenance) {
        eprintln!("focus-scope: could not publish the reports: {e}");
    }
    let report = write_report(
        &suite,
        &provenance,
        exit,
        &verdicts,
        &outcomes.timelines(),
        &not_run,
    );
    eprintln!(
        "focus-scope: reports in {} (latest also in {})",
        run.dir.display(),
        run.output_root.display()
    );
    match report {
        Ok(path) => eprintln!("focus-scope: report {}", path.display()),
        Err(e) => eprintln!("focus-scope: could not write report.html: {e}"),
    }
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

/// The ledger mirror is deleted when nothing is outstanding (else brought up to date
/// for `focus-scope cleanup`), then the run lock is released.
async fn finish_mirror_and_lock(suite: &Suite) {
    let deadline = suite.config.profile.deadlines.request;
    let mirrored = within(deadline, "the ledger's ConfigMap mirror", async {
        if suite.ledger.has_outstanding() {
            ledger_mirror::write(&suite.cluster, &suite.ledger, false).await
        } else {
            ledger_mirror::remove(&suite.cluster, &suite.run.id).await
        }
    })
    .await;
    match mirrored {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("focus-scope: the ledger's ConfigMap mirror: {e}"),
        Err(e) => eprintln!("focus-scope: {e}"),
    }
    if let Some(lock) = suite.lock.lock().await.take() {
        match within(deadline, "releasing the run lock", lock.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("focus-scope: {e}"),
            Err(e) => eprintln!("focus-scope: {e}"),
        }
    }
}

/// Last line of defence: whatever the run ledgered and did not clean is removed now,
/// and its presence fails the run (a scenario leaked).
async fn sweep(suite: &Suite) -> anyhow::Result<()> {
    // Faults first (newest first): a scenario abandoned at the deadline or by a signal
    // did not undo its own.
    let faults = suite.ledger.faults_not_undone();
    for f in faults.iter().rev() {
        if let Err(e) = suite.undo(f).await {
            eprintln!("focus-scope: could not undo {f:?}: {e:#}");
        }
    }
    // What `cleanup` would find by the run's label (a fault object a failed undo
    // left, a cordon applied by a patch that timed out): removed now, and reported.
    let label = crate::faults::label_value(&suite.run.id);
    let mut labelled = suite
        .cluster
        .delete_labelled(&label, false)
        .await
        .unwrap_or_else(|e| vec![format!("(could not list the run's labelled objects: {e})")]);
    labelled.extend(
        suite
            .cluster
            .uncordon_labelled(&label)
            .await
            .unwrap_or_else(|e| vec![format!("(could not list the run's cordoned nodes: {e})")])
            .into_iter()
            .map(|n| format!("Node/{n} (uncordoned)")),
    );
    let labelled_left = (!labelled.is_empty()).then(|| {
        format!(
            "objects labelled with the run's id were left after its scenarios and were removed at the end: {}; `focus-scope cleanup --run {}` finishes anything still left",
            labelled.join(", "),
            suite.run.id
        )
    });
    let left = suite.ledger.all_open();
    if left.is_empty() {
        if let Some(m) = labelled_left {
            anyhow::bail!(m);
        }
        if !faults.is_empty() {
            anyhow::bail!(
                "faults were still in place after their scenarios and were undone at the end: {faults:?}"
            );
        }
        return Ok(());
    }
    let mut scenarios: Vec<String> = left.iter().map(|(s, _)| s.clone()).collect();
    scenarios.dedup();
    // Past a scenario whose cleanup fails: every other one is still cleaned.
    let mut not_removed = Vec::new();
    for s in &scenarios {
        if let Err(e) = suite.cleanup_scenario(s).await {
            not_removed.push(format!("{e:#}"));
        }
    }
    let ids = left
        .iter()
        .map(|(_, j)| j.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !not_removed.is_empty() {
        anyhow::bail!(
            "investigations were still open after their scenarios ({ids}); these could not be removed: {}; `focus-scope cleanup --run {}` retries them",
            not_removed.join("; "),
            suite.run.id
        );
    }
    anyhow::bail!(
        "investigations were still open after their scenarios and were removed at the end: {ids}{}",
        labelled_left.map(|m| format!("; {m}")).unwrap_or_default()
    )
}

/// Writes `summary.json`, marks known failures and not-run scenarios as skipped in
/// `junit.xml`, and copies the run's reports to the output root (latest).
fn publish(
    run: &RunInfo,
    verdicts: &[(ScenarioOutcome, Judgement)],
    not_run: &[NotRun],
    exit: Exit,
    provenance: &Provenance,
) -> io::Result<()> {
    let status = |j: &Judgement| match j {
        Judgement::Passed => "passed",
        Judgement::Failed(_) | Judgement::Mismatch(_) => "failed",
        Judgement::KnownFailure { .. } => "known-failure",
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
        let xml = junit::add_properties(
            &junit::add_not_run(&junit::mark_known_failures(&xml, &marks), &skipped),
            &props,
        );
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

/// The commit the suite was built from: `FOCUS_SUITE_COMMIT` (the image sets it), else
/// the checkout's HEAD, else "unknown".
pub fn suite_commit() -> String {
    std::env::var("FOCUS_SUITE_COMMIT").ok().unwrap_or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    })
}

/// Where, what and when: asked of the target while it still runs.
async fn provenance(suite: &Suite, started: jiff::Timestamp) -> Provenance {
    let suite_commit = suite_commit();
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
fn overrides_text(config: &Config) -> String {
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
fn tls_text(config: &Config) -> String {
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
    let scope_of = |tags: &[String]| -> Vec<String> {
        tags.iter()
            .filter_map(|t| t.strip_prefix("scope:").map(String::from))
            .collect()
    };
    let mut rows: Vec<report::Row> = verdicts
        .iter()
        .map(|(o, j)| {
            let (status, note, known_issue) = match j {
                Judgement::Passed => ("passed", String::new(), None),
                Judgement::Failed(m) | Judgement::Mismatch(m) => ("failed", m.clone(), None),
                Judgement::KnownFailure { id, reason } => {
                    ("known-failure", format!("{id}: {reason}"), Some(id.clone()))
                }
            };
            let id = o.id.clone().unwrap_or_else(|| o.name.clone());
            let hebrew = o.tags.iter().any(|t| t == "lang-he");
            let diagnostics = crate::diagnostics::relative_path(&id, hebrew, o.line);
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
                status: status.into(),
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
            Decision::Skip(w) => ("skipped", w.clone()),
            Decision::Refuse(w) => ("refused", w.clone()),
            Decision::Run => continue,
        };
        rows.push(report::Row {
            id: n.id.clone().unwrap_or_else(|| n.name.clone()),
            name: n.name.clone(),
            feature: n.feature.clone(),
            hebrew: n.tags.iter().any(|t| t == "lang-he"),
            scope: scope_of(&n.tags),
            status: status.into(),
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
fn write_report(
    suite: &Suite,
    provenance: &Provenance,
    exit: Exit,
    verdicts: &[(ScenarioOutcome, Judgement)],
    timelines: &[crate::outcome::Timeline],
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
                .filter(|r| r.status == "known-failure")
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
            crate::metrics::kind::CONFIGURE,
            "thresholds.configure_p99",
            ms(t.configure_p99),
        ),
        (
            crate::metrics::kind::POD_START,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        // Each part of the pod start is bounded by the whole.
        (
            crate::metrics::kind::JOB_TO_SCHEDULED,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        (
            crate::metrics::kind::SCHEDULED_TO_STARTED,
            "thresholds.pod_start_p99",
            ms(t.pod_start_p99),
        ),
        (
            crate::metrics::kind::PORT_REACHABLE,
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

/// `focus-scope scope`: the scope matrix of the latest run (scope item → scenarios in
/// English and Hebrew → last result), read from its `summary.json`.
pub fn print_scope_matrix() -> Exit {
    let root = output_root();
    let summary: serde_json::Value = match std::fs::read(root.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(s) => s,
        None => {
            return fail(
                Exit::Config,
                format!(
                    "no run to show: {} has no summary.json (run the suite first)",
                    root.display()
                ),
            );
        }
    };
    let scope_doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scope.md"))
        .unwrap_or_default();
    let tags_of = |v: &serde_json::Value| -> Vec<String> {
        v["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect()
    };
    let mut rows: Vec<(String, Vec<String>, bool, String)> = Vec::new();
    for (list, status_key) in [("scenarios", "status"), ("not_run", "decision")] {
        for s in summary[list].as_array().into_iter().flatten() {
            let tags = tags_of(s);
            let hebrew = tags.iter().any(|t| t == "lang-he");
            rows.push((
                s["id"].as_str().unwrap_or("?").into(),
                tags,
                hebrew,
                s[status_key].as_str().unwrap_or("?").into(),
            ));
        }
    }
    crate::say!(
        "scope matrix of run {} ({})",
        summary["run_id"].as_str().unwrap_or("?"),
        root.display()
    );
    for item in report::scope_items(&scope_doc) {
        crate::say!("\n{} — {}", item.key, item.item);
        let tag = format!("scope:{}", item.key);
        for (label, hebrew) in [("en", false), ("he", true)] {
            let mine: Vec<String> = rows
                .iter()
                .filter(|(_, tags, h, _)| *h == hebrew && tags.contains(&tag))
                .map(|(id, _, _, st)| format!("{id} [{st}]"))
                .collect();
            let shown = if mine.is_empty() {
                "(not run)".to_string()
            } else {
                mine.join(", ")
            };
            crate::say!("  {label}: {shown}");
        }
    }
    crate::say!("\nreport: {}", root.join("report.html").display());
    Exit::Passed
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// `focus-scope plan [--tags EXPR] [--allow-destructive]`: what a run of the selected
/// profile would do with each scenario (and Examples row), decided before anything is
/// sent — nothing is contacted.
pub fn print_plan(tags: Option<&str>, allow: bool) -> Exit {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(Exit::Config, e),
    };
    let text = tags
        .map(String::from)
        .or_else(|| std::env::var("CUCUMBER_FILTER_TAGS").ok());
    let tags = match text {
        None => None,
        Some(text) => match text.parse() {
            Ok(t) => Some(t),
            Err(e) => {
                return fail(
                    Exit::Config,
                    format!("`{text}` is not a tag expression: {e}"),
                );
            }
        },
    };
    let plan = match Plan::new(&config.profile, tags, None, allow) {
        Ok(p) => p,
        Err(e) => return fail(Exit::Config, format!("{}: {e}", config.file.display())),
    };
    let mut files = Vec::new();
    let mut stack = vec![features_dir()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "feature") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut run = 0;
    for path in files {
        let feature = match cucumber::gherkin::Feature::parse_path(
            &path,
            cucumber::gherkin::GherkinEnv::default(),
        ) {
            Ok(f) => f,
            Err(e) => return fail(Exit::Config, format!("{}: {e}", path.display())),
        };
        let scenarios: Vec<(
            Option<&cucumber::gherkin::Rule>,
            &cucumber::gherkin::Scenario,
        )> = feature
            .scenarios
            .iter()
            .map(|s| (None, s))
            .chain(
                feature
                    .rules
                    .iter()
                    .flat_map(|r| r.scenarios.iter().map(move |s| (Some(r), s))),
            )
            .collect();
        for (rule, sc) in scenarios {
            // One line per Examples row, as the run counts them.
            let rows = sc
                .examples
                .iter()
                .filter_map(|e| e.table.as_ref())
                .map(|t| t.rows.len().saturating_sub(1))
                .sum::<usize>()
                .max(1);
            let before = plan.not_run().len();
            if plan.admit(&feature, rule, sc) {
                run += rows;
                let id = sc
                    .tags
                    .iter()
                    .find_map(|t| t.strip_prefix("id:"))
                    .unwrap_or("?");
                crate::say!(
                    "RUN     {id} ({rows} row{}) — {}",
                    if rows == 1 { "" } else { "s" },
                    path.display()
                );
            } else if let Some(n) = plan.not_run().get(before) {
                let (word, why) = match &n.decision {
                    Decision::Skip(w) => ("SKIP   ", w.as_str()),
                    Decision::Refuse(w) => ("REFUSE ", w.as_str()),
                    Decision::Run => ("RUN    ", ""),
                };
                crate::say!("{word} {} — {why}", n.id.as_deref().unwrap_or("?"));
            }
        }
    }
    let not_run = plan.not_run();
    crate::say!(
        "profile {}: {run} scenario runs would run, {} skipped, {} refused",
        config.name,
        not_run
            .iter()
            .filter(|n| matches!(n.decision, Decision::Skip(_)))
            .count(),
        not_run
            .iter()
            .filter(|n| matches!(n.decision, Decision::Refuse(_)))
            .count()
    );
    Exit::Passed
}
