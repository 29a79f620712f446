//! The one runner, used by `tests/cucumber.rs` and by the `focus-scope` binary: load
//! the profile, start or reach the target, run the features through cucumber with
//! terminal, JUnit, Cucumber JSON and outcome writers, clean up, and decide the exit.
//! Publishing the run's reports is in `publish.rs`. Still ~800 lines: the verdict
//! (`judge`), the end-of-run sweep and the `plan`/`scope` subcommands move out next,
//! once the branches editing `run()` are merged (a bigger cut now would lose git's
//! rename tracking of this file).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cucumber::{World as _, WriterExt as _, writer};
use futures::FutureExt as _;

use crate::report;
use crate::run::exit::Exit;
use crate::run::plan::{Decision, Plan};
use crate::run::publish::{overrides_text, provenance, publish, tls_text, write_report};
use crate::run::suite::{self, RunInfo, Suite, TargetError};
use crate::safety::ledger::Ledger;
use crate::safety::ledger_mirror;
use crate::safety::lock::RunLock;
use crate::spec::known_issues::{Judgement, Register};
use crate::spec::outcome::{Outcomes, ScenarioOutcome, row_id};
use crate::spec::tags::ScenarioTags;
use crate::target::config::Config;
use crate::target::wait::within;
use crate::world::FocusWorld;

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
    // A no-op where `main` set it up already (with the `-v`s before `run` too).
    crate::output::init_logging(crate::cli::run_verbosity(&opts));
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
    let place = crate::safety::ledger::Place {
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
        crate::target::redact::url(&target.api_url),
        cluster.server(),
        run.id
    );
    if config.profile.target.kind == crate::target::config::TargetKind::Remote {
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
        held: crate::run::hold::Held::new(held_cap),
        lock: tokio::sync::Mutex::new(Some(lock)),
        stopping: Default::default(),
    });
    let mirror = tokio::spawn({
        let s = suite.clone();
        async move {
            ledger_mirror::follow(&s.cluster, &s.ledger, s.config.profile.deadlines.request).await
        }
    });
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
                tracing::error!("{e:#}");
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
                // Taken before the first step; the after hook gives them back in stages.
                let tags = feature
                    .tags
                    .iter()
                    .chain(rule.iter().flat_map(|r| &r.tags))
                    .chain(&scenario.tags);
                // A panic here is reported as a failed Before hook: the scenario fails.
                let alone = crate::run::exclusive::declared(tags).unwrap_or_else(|e| panic!("{e}"));
                match crate::run::exclusive::Held::acquire(alone).await {
                    Ok(held) => world.locks = held,
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
                    let hebrew = ScenarioTags::parse(&feature.tags).hebrew;
                    world
                        .write_diagnostics(hebrew, scenario.position.line)
                        .await;
                }
                use crate::run::exclusive::Stage;
                // Each lock goes back as soon as its next holder can no longer be
                // affected by this scenario (`Resource::free_after`); a failed undo has
                // poisoned its resource before.
                let undone = world.undo_faults().await;
                world.locks.release(Stage::FaultsUndone);
                let locks = &mut world.locks;
                let cleaned = world
                    .suite
                    .cleanup_scenario(&world.scenario, || locks.release(Stage::ObjectsGone))
                    .await;
                // A panic here is reported as a failed After hook: cleanup failures are failures.
                // The pods are gone (or the cleanup failed, and waits no longer): the rest.
                world.locks.release(Stage::PodsGone);
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
                    crate::target::config::humantime::format(&run_deadline)
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
            tracing::warn!("{e:#}");
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
        tracing::error!(error = %e, "could not write metrics.json");
    }
    embedded.shutdown().await;
    if let Err(e) = publish(&run, &verdicts, &not_run, exit, &provenance) {
        tracing::error!(error = %e, "could not publish the reports");
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
        Err(e) => tracing::error!(error = %e, "could not write report.html"),
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
        Ok(Err(e)) => tracing::warn!(error = %e, "the ledger's ConfigMap mirror"),
        Err(e) => tracing::warn!("{e}"),
    }
    if let Some(lock) = suite.lock.lock().await.take() {
        match within(deadline, "releasing the run lock", lock.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("{e}"),
            Err(e) => tracing::warn!("{e}"),
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
        if let Err(e) = suite.faults().undo(f).await {
            tracing::error!(error = format!("{e:#}"), "could not undo {f:?}");
        }
    }
    // What `cleanup` would find by the run's label (a fault object a failed undo
    // left, a cordon applied by a patch that timed out): removed now, and reported.
    let label = crate::target::names::label_value(&suite.run.id);
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
        if let Err(e) = suite.cleanup_scenario(s, || {}).await {
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
            let hebrew = ScenarioTags::parse(&tags).hebrew;
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
                let id = ScenarioTags::parse(&sc.tags)
                    .id
                    .unwrap_or_else(|| "?".into());
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
