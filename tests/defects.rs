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
//!
//! Two legs: `embedded` (the suite's own sandbox, `faults = "sandbox"`, cancel through
//! the endpoint, exclusive) and `remote` (the `focus-sandbox` binary started as its own
//! process, as an operator starts it, targeted through a profile shaped like staging:
//! `kind = "remote"`, `cancel = "kubernetes"`, `exclusive = false`,
//! `faults = "kubernetes"`). Each leg has its own expected failures and inverse map.
//! `DEFECT_MATRIX_ONLY=remote/slot-leak,embedded` runs only the named legs or
//! `leg/defect` pairs (and their controls), for iterating on one entry;
//! `remote/control` runs a leg's whole control alone.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cucumber::gherkin;
use serde::Deserialize;

use support::{config_dir_with, feature_files, manifest_dir, path_str, run_suite};

const WALL: Duration = Duration::from_secs(300);
/// Meta-runs in parallel (the machine has 2 cores; runs are mostly waiting).
const PARALLEL: usize = 4;
/// Defects whose runs take longest, longest first (measured: 20–130 s, the rest under
/// 15 s): started first, in this order, so they do not end the matrix alone.
const LONG: &[&str] = &[
    "slow-kubelet",
    "no-stream-job",
    "no-gpu-request",
    "orphan-pods-on-cancel",
    "leak-service-on-cancel",
    "wrong-job-policy",
    "wrong-stream-url",
    "no-idle-cleanup",
    "pinned-node",
];
/// How long the separately started sandbox may take to print its API address.
const SANDBOX_START: Duration = Duration::from_secs(60);
/// How long the other user's investigation may take to open its stream port.
const FOREIGN_CONNECT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    defect: BTreeMap<String, DefectCase>,
    #[serde(default)]
    unproven: BTreeMap<String, String>,
    remote: RemoteLeg,
}

/// The remote leg: the same defects seen through a staging-shaped profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteLeg {
    /// Tags of scenarios that cannot run on the remote shape: every run of the leg
    /// (control included) adds `and not @<tag>` for each.
    exclude: Vec<String>,
    /// Why they cannot (for docs/defects.md).
    excluded_because: String,
    /// Where the leg differs from the embedded one: a defect's failures, message or
    /// run filter there. Every other defect not listed unobservable fails there what it
    /// fails embedded, less the excluded scenarios.
    #[serde(default)]
    defect: BTreeMap<String, RemoteCase>,
    /// Defects the leg cannot observe, with the reason.
    #[serde(default)]
    unobservable: BTreeMap<String, String>,
    /// Scenarios of the leg no defect fails there, with the reason.
    #[serde(default)]
    unproven: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteCase {
    /// Stable ids of exactly the scenarios (rows) that must fail on this leg. Absent:
    /// the embedded leg's, less the scenarios the leg excludes (see [`resolve_remote`]).
    #[serde(default)]
    fails: Vec<String>,
    /// The failure regex on this leg, where it differs from the embedded leg's.
    #[serde(default)]
    names: Option<String>,
    /// The run filter on this leg, where it differs from the embedded leg's (a check
    /// that only this leg's branch makes, e.g. the server's reaction to a deletion
    /// through Kubernetes).
    #[serde(default)]
    tags: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Embedded,
    Remote,
}

impl Leg {
    fn name(self) -> &'static str {
        match self {
            Leg::Embedded => "embedded",
            Leg::Remote => "remote",
        }
    }
}

/// One meta-run of the matrix.
struct Job {
    leg: Leg,
    defect: Option<String>,
    tags: String,
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

/// Completes the remote leg: every defect of the matrix is either unobservable there
/// (with its reason) or has its expected failures there, stated or derived from the
/// embedded leg's (those the leg runs). A derived set that is empty must be stated
/// unobservable instead.
fn resolve_remote(matrix: &mut Matrix, tags: &BTreeMap<String, BTreeSet<String>>) {
    let leg_ids = remote_ids(matrix, tags);
    let unknown: Vec<&String> = matrix
        .remote
        .defect
        .keys()
        .chain(matrix.remote.unobservable.keys())
        .filter(|d| !matrix.defect.contains_key(*d))
        .collect();
    assert!(
        unknown.is_empty(),
        "remote leg entries that are no defect of the matrix: {unknown:?}"
    );
    for (name, d) in &matrix.defect {
        if matrix.remote.unobservable.contains_key(name) {
            assert!(
                !matrix.remote.defect.contains_key(name),
                "{name} is both observed ([remote.defect.{name}]) and unobservable on the remote leg"
            );
            continue;
        }
        let case = matrix.remote.defect.entry(name.clone()).or_default();
        if case.fails.is_empty() {
            case.fails = d
                .fails
                .iter()
                .filter(|id| leg_ids.contains(*id))
                .cloned()
                .collect();
        }
        assert!(
            !case.fails.is_empty(),
            "{name} fails no scenario the remote leg runs: list it in [remote.unobservable] with the reason"
        );
    }
}

/// Every scenario id of the English features (`@id`, or `@id/<case>` per Examples row)
/// with its effective tags (feature, rule, scenario and Examples tags).
fn scenario_tags(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut ids = BTreeMap::new();
    for p in feature_files(dir) {
        let f = gherkin::Feature::parse_path(&p, gherkin::GherkinEnv::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut scenarios: Vec<(&gherkin::Scenario, &[String])> =
            f.scenarios.iter().map(|s| (s, &[][..])).collect();
        for r in &f.rules {
            scenarios.extend(r.scenarios.iter().map(|s| (s, r.tags.as_slice())));
        }
        for (sc, rule_tags) in scenarios {
            let id = focus_scope::spec::tags::ScenarioTags::parse(&sc.tags)
                .id
                .unwrap_or_else(|| panic!("{}: scenario `{}` has no @id", p.display(), sc.name));
            let tags: BTreeSet<String> = f
                .tags
                .iter()
                .chain(rule_tags)
                .chain(&sc.tags)
                .cloned()
                .collect();
            if sc.examples.is_empty() {
                ids.insert(id.to_string(), tags.clone());
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
                    let mut row_tags = tags.clone();
                    row_tags.extend(ex.tags.iter().cloned());
                    assert!(
                        ids.insert(format!("{id}/{}", row[col]), row_tags).is_none(),
                        "duplicate case {id}/{}",
                        row[col]
                    );
                }
            }
        }
    }
    ids
}

/// The scenarios that run on the remote leg: those without an excluded tag.
fn remote_ids(matrix: &Matrix, tags: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    tags.iter()
        .filter(|(_, t)| !matrix.remote.exclude.iter().any(|x| t.contains(x)))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The inverse map of one leg: the ids its defects fail and the ids it lists unproven
/// name real scenarios of the leg, and together cover every one of them.
fn check_inverse_map<'a>(
    leg: &str,
    ids: &BTreeSet<String>,
    caught: impl Iterator<Item = &'a String>,
    unproven: &BTreeMap<String, String>,
) {
    let caught: BTreeSet<&String> = caught.collect();
    let stale: Vec<_> = caught
        .iter()
        .map(|s| s.as_str())
        .chain(unproven.keys().map(String::as_str))
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "{leg} leg: the matrix names scenarios that do not exist or do not run on this leg: {stale:?}"
    );
    let uncovered: Vec<_> = ids
        .iter()
        .filter(|id| !caught.contains(id) && !unproven.contains_key(*id))
        .collect();
    assert!(
        uncovered.is_empty(),
        "{leg} leg: scenarios no defect fails and that are not listed as unproven: {uncovered:?}"
    );
}

/// `DEFECT_MATRIX_ONLY`: comma-separated legs, defects or `leg/defect` pairs to run.
fn selected(leg: Leg, defect: &str) -> bool {
    let Ok(only) = std::env::var("DEFECT_MATRIX_ONLY") else {
        return true;
    };
    only.split(',').map(str::trim).any(|item| {
        item == leg.name() || item == defect || item == format!("{}/{defect}", leg.name())
    })
}

#[test]
fn every_scenario_can_fail_and_every_defect_is_caught() {
    let mut matrix = load_matrix();
    let tags = scenario_tags(&manifest_dir().join("features/en"));
    resolve_remote(&mut matrix, &tags);
    let ids: BTreeSet<String> = tags.keys().cloned().collect();

    // The catalogue and the matrix agree, on both legs.
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
    // The inverse map of each leg is complete and names only its real scenarios.
    check_inverse_map(
        "embedded",
        &ids,
        matrix.defect.values().flat_map(|d| d.fails.iter()),
        &matrix.unproven,
    );
    check_inverse_map(
        "remote",
        &remote_ids(&matrix, &tags),
        matrix.remote.defect.values().flat_map(|d| d.fails.iter()),
        &matrix.remote.unproven,
    );

    // Per leg, the control: one run of the union of every defect's filter passes
    // without a defect, so every scenario a defect run may fail passes on a clean
    // sandbox (one sandbox instead of one per filter). It runs beside the defect runs;
    // the test reports a failed control first, since then no defect result means
    // anything.
    let mut jobs: Vec<Job> = Vec::new();
    for leg in [Leg::Embedded, Leg::Remote] {
        let defects: Vec<&String> = match leg {
            Leg::Embedded => matrix.defect.keys().collect(),
            Leg::Remote => matrix.remote.defect.keys().collect(),
        };
        // `<leg>/control` selects the leg's whole control alone.
        let whole_control = selected(leg, "control");
        let runs: Vec<&String> = defects
            .iter()
            .copied()
            .filter(|d| selected(leg, d))
            .collect();
        let defects: Vec<&String> = if whole_control { defects } else { runs.clone() };
        if defects.is_empty() {
            continue;
        }
        let tags_of = |d: &str| match leg {
            Leg::Remote => matrix.remote.defect[d]
                .tags
                .as_deref()
                .unwrap_or(&matrix.defect[d].tags),
            Leg::Embedded => &matrix.defect[d].tags,
        };
        let filters: BTreeSet<&str> = defects.iter().map(|d| tags_of(d)).collect();
        let control = filters
            .iter()
            .map(|f| format!("({f})"))
            .collect::<Vec<_>>()
            .join(" or ");
        jobs.push(Job {
            leg,
            defect: None,
            tags: leg_filter(&matrix, leg, &control),
        });
        jobs.extend(runs.into_iter().map(|d| Job {
            leg,
            defect: Some(d.clone()),
            tags: leg_filter(&matrix, leg, tags_of(d)),
        }));
    }
    // Popped from the end: the controls and the long runs first.
    jobs.sort_by_key(|j| match &j.defect {
        None => LONG.len() + 1,
        Some(d) => LONG
            .iter()
            .position(|l| l == d)
            .map_or(0, |i| LONG.len() - i),
    });
    let control_failure = Mutex::new(Vec::<String>::new());
    let failures = Mutex::new(Vec::<String>::new());
    let queue = Mutex::new(jobs);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    // The guard is dropped here: a `while let` over `lock().pop()`
                    // would hold it for the whole run and serialise the matrix.
                    let Some(job) = queue.lock().expect("queue").pop() else {
                        break;
                    };
                    let started = Instant::now();
                    let result = check_one(&matrix, &job);
                    eprintln!(
                        "defect matrix: {} {} took {:.1}s",
                        job.leg.name(),
                        job.defect.as_deref().unwrap_or("control"),
                        started.elapsed().as_secs_f64()
                    );
                    match (&job.defect, result) {
                        (None, Err(e)) => control_failure.lock().expect("control").push(e),
                        (Some(_), Err(e)) => failures.lock().expect("failures").push(e),
                        (_, Ok(_)) => {}
                    }
                }
            });
        }
    });
    // Failed controls first: then no defect result of their leg means anything.
    let mut all = control_failure.into_inner().expect("control");
    all.extend(failures.into_inner().expect("failures"));
    assert!(all.is_empty(), "defect matrix:\n{}", all.join("\n"));
}

/// A run filter on a leg: the remote leg leaves out the scenarios it cannot run.
fn leg_filter(matrix: &Matrix, leg: Leg, tags: &str) -> String {
    match leg {
        Leg::Embedded => tags.to_string(),
        Leg::Remote => {
            let mut f = format!("({tags})");
            for x in &matrix.remote.exclude {
                f.push_str(&format!(" and not @{x}"));
            }
            f
        }
    }
}

/// docs/defects.md is generated from the matrix and the features (which the test above
/// proves against the sandbox): `UPDATE_DEFECTS_DOC=1` rewrites it.
#[test]
fn the_defect_document_is_current() {
    let mut matrix = load_matrix();
    let tags = scenario_tags(&manifest_dir().join("features/en"));
    resolve_remote(&mut matrix, &tags);
    let doc = render_doc(&matrix, &tags);
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
fn check_one(matrix: &Matrix, job: &Job) -> Result<Vec<String>, String> {
    let defect = job.defect.as_deref();
    let label = match defect {
        Some(d) => format!("{} leg, defect {d}", job.leg.name()),
        None => format!("{} leg, control `{}`", job.leg.name(), job.tags),
    };
    let tags = job.tags.as_str();
    let run = match job.leg {
        Leg::Embedded => {
            let env: Vec<(&str, &str)> = defect
                .map(|d| vec![("FOCUS_SANDBOX_DEFECTS", d)])
                .unwrap_or_default();
            run_suite(&["--tags", tags], &env, WALL)
        }
        Leg::Remote => {
            let sandbox = RemoteSandbox::start(defect).map_err(|e| format!("{label}: {e}"))?;
            let config = config_dir_with("remote", &sandbox.profile);
            let dir = path_str(config.path());
            let run = run_suite(
                &["--tags", tags],
                &[("FOCUS_ENV", "remote"), ("FOCUS_CONFIG_DIR", dir.as_str())],
                WALL,
            );
            sandbox
                .check_foreign_untouched()
                .map_err(|e| format!("{label}: {e}"))?;
            run
        }
    };
    if std::env::var_os("DEFECT_MATRIX_VERBOSE").is_some() {
        eprintln!("{label}: {:?}", run.results());
        for sc in run
            .summary
            .as_ref()
            .and_then(|s| s["scenarios"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter(|s| s["status"] == "failed")
        {
            eprintln!("  {}: {}", sc["id"], sc["failure"]);
        }
    }
    let Some(_) = run.summary else {
        return Err(format!(
            "{label}: the run did not complete (exit {:?}):\n{}",
            run.code,
            tail(&run.all_output())
        ));
    };
    let failed: Vec<String> = run.failed_ids();
    let Some(d) = defect else {
        // A scenario the control skips would pass every defect run vacuously.
        let skipped: Vec<String> = run
            .results()
            .into_iter()
            .filter(|(_, s)| s != "passed")
            .map(|(i, s)| format!("{i} ({s})"))
            .collect();
        if !skipped.is_empty() && run.code == Some(0) {
            return Err(format!("{label}: the control did not run {skipped:?}"));
        }
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
    let (fails, names) = match job.leg {
        Leg::Embedded => (&matrix.defect[d].fails, &matrix.defect[d].names),
        Leg::Remote => {
            let r = &matrix.remote.defect[d];
            (
                &r.fails,
                r.names.as_ref().unwrap_or(&matrix.defect[d].names),
            )
        }
    };
    let want: BTreeSet<&str> = fails.iter().map(String::as_str).collect();
    let got: BTreeSet<&str> = failed.iter().map(String::as_str).collect();
    if want != got {
        return Err(format!(
            "{label}: expected exactly {want:?} to fail, got {got:?} (missing {:?}, unexpected {:?})",
            want.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        ));
    }
    let names =
        regex::Regex::new(names).map_err(|e| format!("{label}: `names` is not a regex: {e}"))?;
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
            "{label}: failures that do not name `{names}`: {silent:?}"
        ));
    }
    Ok(failed)
}

/// The `focus-sandbox` binary, started as its own process as an operator starts it
/// (its own kube-sim on its own loopback block, any free API port), and the remote
/// profile shaped like staging that targets it. Killed when dropped.
struct RemoteSandbox {
    child: Child,
    profile: String,
    /// A client connected to another user's investigation, for the whole run.
    foreign: Option<std::net::TcpStream>,
    /// That investigation's objects (`Kind/name` → uid) before the run.
    foreign_objects: BTreeMap<String, String>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl RemoteSandbox {
    fn start(defect: Option<&str>) -> Result<RemoteSandbox, String> {
        let bin = sandbox_binary()?;
        let base = embedded_profile();
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let kubeconfig = dir.path().join("kubeconfig");
        // The server's tunables the embedded sandbox takes from config/sandbox.toml, and
        // no control API: like staging, every fault goes through Kubernetes.
        let server = format!(
            "[server]\nmax_slots = {}\nidle_timeout_secs = {}\ncontrol_api = false\n\
             [sim]\nrequest_log_file = {:?}\n",
            remote_slots(&base),
            humantime_secs(base["sandbox"]["idle_timeout"].as_str().unwrap_or("30s")),
            path_str(&dir.path().join("requests.jsonl"))
        );
        let server_file = dir.path().join("sandbox.toml");
        std::fs::write(&server_file, server).map_err(|e| format!("write config: {e}"))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--port")
            .arg("0")
            .arg("--config")
            .arg(&server_file)
            .arg("--kubeconfig-out")
            .arg(&kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(d) = defect {
            cmd.arg("--defect").arg(d);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        // Read its banner, then keep draining its output so it never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + SANDBOX_START;
        let api_url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("Focus Server API:") {
                        break url.trim().to_string();
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} printed no API address within {SANDBOX_START:?} ({e})",
                        bin.display()
                    ));
                }
            }
        };
        let profile = remote_profile(&base, &api_url, &kubeconfig);
        let mut sandbox = RemoteSandbox {
            child,
            profile,
            foreign: None,
            foreign_objects: BTreeMap::new(),
            kubeconfig,
            _dir: dir,
        };
        let (stream, job_id) = another_users_investigation(&api_url)?;
        sandbox.foreign = stream;
        sandbox.foreign_objects = sandbox
            .investigation_objects()?
            .into_iter()
            .filter(|(name, _)| name.ends_with(&job_id))
            .collect();
        if sandbox.foreign_objects.is_empty() {
            return Err(format!(
                "premise not met: the other user's investigation {job_id} has no objects"
            ));
        }
        Ok(sandbox)
    }

    /// Every investigation object of the cluster: `Kind/name` → uid.
    fn investigation_objects(&self) -> Result<BTreeMap<String, String>, String> {
        let rt = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(async {
            let cluster = focus_scope::target::kube::Cluster::connect(
                Some(&self.kubeconfig),
                None,
                "panda",
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| format!("the remote sandbox's cluster: {e:#}"))?;
            cluster
                .investigation_object_uids()
                .await
                .map_err(|e| format!("list investigation objects: {e:#}"))
        })
    }

    /// The run sent no change naming one of the other user's objects (kube-sim's
    /// request log, by the suite's User-Agent). The server's own idle cleanup may
    /// remove them; the suite never may.
    fn check_foreign_untouched(&self) -> Result<(), String> {
        let path = self._dir.path().join("requests.jsonl");
        let log = std::fs::read_to_string(&path)
            .map_err(|e| format!("kube-sim request log {}: {e}", path.display()))?;
        let names: BTreeSet<&str> = self
            .foreign_objects
            .keys()
            .filter_map(|k| k.split_once('/').map(|(_, n)| n))
            .collect();
        let touched = suite_changes_to(&log, &names);
        if touched.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the run changed another user's investigation: {}",
                touched.join("; ")
            ))
        }
    }
}

/// The changes the suite (its User-Agent) sent, in a kube-sim request log (JSON lines),
/// to the objects named: deletes, patches, updates, and any collection delete.
fn suite_changes_to(log: &str, names: &BTreeSet<&str>) -> Vec<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| {
            r["user_agent"]
                .as_str()
                .is_some_and(|ua| ua.starts_with("focus-scope/"))
        })
        .filter(|r| {
            let verb = r["verb"].as_str().unwrap_or("");
            let named = r["name"].as_str().is_some_and(|n| names.contains(n));
            verb == "deletecollection" || (named && matches!(verb, "delete" | "patch" | "update"))
        })
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or("").to_string();
            format!("{} {}/{}", field("verb"), field("resource"), field("name"))
        })
        .collect()
}

/// The ownership check of the remote leg can fail: a delete by the suite of another
/// user's Job is reported; the server's own delete and the suite's reads are not.
#[test]
fn a_change_by_the_suite_to_another_users_object_is_reported() {
    let log = [
        r#"{"verb":"get","resource":"jobs","name":"grpc-job-1-1","user_agent":"focus-scope/0.1.0"}"#,
        r#"{"verb":"delete","resource":"jobs","name":"cleanup-job-1-1","user_agent":"focus-sandbox/0.1.0"}"#,
        r#"{"verb":"delete","resource":"jobs","name":"grpc-job-1-2","user_agent":"focus-scope/0.1.0"}"#,
        r#"{"verb":"delete","resource":"jobs","name":"grpc-job-1-1","user_agent":"focus-scope/0.1.0"}"#,
    ]
    .join("\n");
    let names = BTreeSet::from(["grpc-job-1-1", "cleanup-job-1-1"]);
    assert_eq!(
        suite_changes_to(&log, &names),
        vec!["delete jobs/grpc-job-1-1".to_string()]
    );
}

/// A shared environment holds other users' work: one live investigation opened before
/// the run, which every scenario must leave alone and work around. A client connects to
/// its stream port where it opens (a loopback address; a defect may break it), so the
/// server's idle cleanup keeps it for the run.
fn another_users_investigation(
    api_url: &str,
) -> Result<(Option<std::net::TcpStream>, String), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
    let answer = support::open_foreign(&rt, api_url);
    let job_id = answer["job_id"]
        .as_str()
        .ok_or_else(|| format!("the foreign investigation has no job_id: {answer}"))?
        .to_string();
    let addr = answer["stream_url"]
        .as_str()
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|h| h.parse::<std::net::Ipv4Addr>().ok())
        .filter(|ip| ip.is_loopback())
        .zip(
            answer["stream_port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok()),
        );
    let Some((ip, port)) = addr else {
        return Ok((None, job_id));
    };
    // Its port opens when its pod runs (well under a second on kube-sim).
    let deadline = Instant::now() + FOREIGN_CONNECT;
    while Instant::now() < deadline {
        if let Ok(s) = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from((ip, port)),
            Duration::from_secs(1),
        ) {
            return Ok((Some(s), job_id));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((None, job_id))
}

impl Drop for RemoteSandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `focus-sandbox` binary of this build: beside the suite binary (`cargo test` builds
/// it with the focus-sandbox package's tests; alone: `cargo build --bin focus-sandbox`).
fn sandbox_binary() -> Result<PathBuf, String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_focus-scope")).with_file_name("focus-sandbox");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|e| {
            format!(
                "{}: {e}; build it first: cargo build --bin focus-sandbox",
                bin.display()
            )
        })?;
    // A stale binary would test yesterday's sandbox.
    let newest_source = ["crates/focus-sandbox/src", "crates/kube-sim/src"]
        .iter()
        .flat_map(|d| support::files_under(&manifest_dir().join(d)))
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max();
    if newest_source.is_some_and(|s| s > built) {
        return Err(format!(
            "{} is older than the sandbox's sources: cargo build --bin focus-sandbox",
            bin.display()
        ));
    }
    Ok(bin)
}

/// The remote environment's stream slots: the embedded sandbox's, plus one for the
/// other user's investigation, so the 200-in-parallel scenario can open its own 200.
fn remote_slots(base: &toml::Table) -> i64 {
    base["limits"]["stream_slots"].as_integer().unwrap_or(200) + 1
}

fn embedded_profile() -> toml::Table {
    let path = manifest_dir().join("config/sandbox.toml");
    let text = std::fs::read_to_string(&path).expect("read config/sandbox.toml");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn humantime_secs(s: &str) -> u64 {
    s.trim_end_matches('s').parse().unwrap_or(30)
}

/// The embedded profile (config/sandbox.toml: its deadlines, limits, thresholds and
/// expectations) reshaped like staging: a remote target, cancel through Kubernetes,
/// shared, faults through the Kubernetes API only.
fn remote_profile(base: &toml::Table, api_url: &str, kubeconfig: &Path) -> String {
    let mut p = base.clone();
    p.remove("sandbox");
    p.insert(
        "description".into(),
        "focus-sandbox started separately, staging-shaped".into(),
    );
    p.insert("exclusive".into(), false.into());
    p.insert("faults".into(), "kubernetes".into());
    let mut target = toml::Table::new();
    target.insert("kind".into(), "remote".into());
    target.insert("api_url".into(), api_url.into());
    target.insert("kubeconfig".into(), path_str(kubeconfig).into());
    target.insert("namespace".into(), "panda".into());
    target.insert("cancel".into(), "kubernetes".into());
    p.insert("target".into(), target.into());
    if let Some(limits) = p.get_mut("limits").and_then(|l| l.as_table_mut()) {
        limits.insert("stream_slots".into(), remote_slots(base).into());
    }
    toml::to_string(&p).expect("profile as TOML")
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn render_doc(matrix: &Matrix, tags: &BTreeMap<String, BTreeSet<String>>) -> String {
    let ids: BTreeSet<String> = tags.keys().cloned().collect();
    let remote = remote_ids(matrix, tags);
    let mut out = String::from(
        "# Defect matrix\n\n<!-- Generated by `UPDATE_DEFECTS_DOC=1 cargo test --test defects the_defect_document`; do not edit. -->\n\n\
         Each defect of focus-sandbox (`--defect NAME`, `FOCUS_SANDBOX_DEFECTS`) breaks one rule\n\
         class at one injection point. `cargo test --test defects` runs the English features\n\
         against a sandbox with each defect (after a control run without it) and requires that\n\
         exactly the scenarios below fail, each with a message naming the rule. It does so on\n\
         two legs:\n\n\
         - **embedded**: the suite's own sandbox (`config/sandbox.toml`: cancel through the\n  \
         endpoint, exclusive, the sandbox fault driver);\n\
         - **remote**: the `focus-sandbox` binary started as its own process, targeted through\n  \
         a profile shaped like staging (`kind = \"remote\"`, `cancel = \"kubernetes\"`,\n  \
         `exclusive = false`, `faults = \"kubernetes\"`, its kubeconfig and `api_url`). Like\n  \
         staging it has no control API (`control_api = false`) and holds another user's\n  \
         investigation (a client connected to it), which every run must leave as it was\n  \
         (same objects, same uids).\n\n\
         ## Defect → scenarios that catch it\n\n| defect | breaks | run | caught by (embedded) | caught by (remote) |\n|---|---|---|---|---|\n",
    );
    let list = |fails: &[String]| {
        fails
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for (name, d) in &matrix.defect {
        let on_remote = match (
            matrix.remote.defect.get(name),
            matrix.remote.unobservable.get(name),
        ) {
            (Some(r), _) => match &r.tags {
                Some(t) => format!("run `{t}`: {}", list(&r.fails)),
                None => list(&r.fails),
            },
            (None, Some(why)) => format!("not observable: {why}"),
            (None, None) => "?".to_string(),
        };
        out.push_str(&format!(
            "| `{name}` | {} | `{}` | {} | {on_remote} |\n",
            d.breaks,
            d.tags,
            list(&d.fails)
        ));
    }
    out.push_str(
        "\n## Scenario → defects that fail it\n\n| scenario | failed by (embedded) | failed by (remote) |\n|---|---|---|\n",
    );
    for id in &ids {
        let by = |fails: &mut dyn Iterator<Item = (&String, &Vec<String>)>,
                  unproven: &BTreeMap<String, String>| {
            let by: Vec<String> = fails
                .filter(|(_, f)| f.contains(id))
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            if by.is_empty() {
                format!(
                    "unproven: {}",
                    unproven.get(id).map(String::as_str).unwrap_or("?")
                )
            } else {
                by.join(", ")
            }
        };
        let embedded = by(
            &mut matrix.defect.iter().map(|(n, d)| (n, &d.fails)),
            &matrix.unproven,
        );
        let on_remote = if remote.contains(id) {
            by(
                &mut matrix.remote.defect.iter().map(|(n, d)| (n, &d.fails)),
                &matrix.remote.unproven,
            )
        } else {
            "excluded (see below)".to_string()
        };
        out.push_str(&format!("| `{id}` | {embedded} | {on_remote} |\n"));
    }
    out.push_str(&format!(
        "\n## Excluded from the remote leg\n\nScenarios tagged {} do not run on the remote leg: {}\n",
        matrix
            .remote
            .exclude
            .iter()
            .map(|t| format!("`@{t}`"))
            .collect::<Vec<_>>()
            .join(" or "),
        matrix.remote.excluded_because
    ));
    for (leg, unproven) in [
        ("embedded", &matrix.unproven),
        ("remote", &matrix.remote.unproven),
    ] {
        out.push_str(&format!("\n## Unproven ({leg})\n\n"));
        if unproven.is_empty() {
            out.push_str(
                "None: every scenario and Examples row of the leg is failed by at least one defect.\n",
            );
        } else {
            for (id, why) in unproven {
                out.push_str(&format!("- `{id}`: {why}\n"));
            }
        }
    }
    out
}
