//! A hostile shared environment: the sandbox started separately, as a real
//! environment is, with other users' objects and a second cluster within reach. Each
//! test shows one guarantee of docs/real-environments.md ("Guarantees").

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use focus_sandbox::SandboxOptions;
use focus_sandbox::kube_sim::{KubeSim, SimConfig};
use focus_scope::target::kube::{Cluster, ReplayEnd};
use support::{
    MetaRun, config_dir_with, manifest_dir, open_foreign_investigation, path_str, run_capped,
    run_suite, sandbox_cluster, start_sandbox,
};

const WALL: Duration = Duration::from_secs(60);

/// A protected remote profile for the sandbox's API; `binding` holds the target keys
/// that name (or fail to name) its cluster.
fn protected_profile(api_url: &str, binding: &str) -> String {
    format!(
        r#"protected = true
exclusive = false
faults = "kubernetes"
[target]
kind = "remote"
api_url = "{api_url}"
namespace = "panda"
{binding}
[deadlines]
request = "10s"
object_appears = "10s"
pod_running = "20s"
port_reachable = "20s"
deletion = "30s"
startup = "30s"
"#
    )
}

/// Requests the suite (its User-Agent) sent to a kube-sim.
fn suite_requests(sim: &KubeSim) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| {
            r.user_agent
                .as_deref()
                .is_some_and(|ua| ua.starts_with("focus-scope/"))
        })
        .map(|r| format!("{} {} {:?}", r.verb, r.resource, r.name))
        .collect()
}

fn run_with(config: &Path, profile: &str, env: &[(&str, &str)]) -> MetaRun {
    let dir = path_str(config);
    let mut all = vec![("FOCUS_ENV", profile), ("FOCUS_CONFIG_DIR", dir.as_str())];
    all.extend_from_slice(env);
    run_suite(&["--tags", "@id:system-clean-startup"], &all, WALL)
}

/// Two clusters: the profile's (the sandbox's) and another one the operator's
/// kubectl points at. A profile that names no cluster, or whose cluster is not the
/// one its kubeconfig leads to, is refused before anything is sent to either.
#[test]
fn a_profile_is_bound_to_its_cluster() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let own = sandbox.sim().expect("the sandbox's kube-sim");
    let other = rt
        .block_on(KubeSim::start(SimConfig::default()))
        .expect("a second cluster");
    let kc = tempfile::tempdir().expect("kubeconfig dir");
    let other_kubeconfig = kc.path().join("other");
    other
        .write_kubeconfig(&other_kubeconfig)
        .expect("write kubeconfig");
    let other_kc = path_str(&other_kubeconfig);
    let api = sandbox.api_url();

    // No binding at all, the ambient kubeconfig on the other cluster.
    let config = config_dir_with("unbound", &protected_profile(&api, ""));
    let run = run_with(config.path(), "unbound", &[("KUBECONFIG", &other_kc)]);
    assert_eq!(run.code, Some(2), "{}", run.all_output());
    assert!(
        run.stderr.contains("unbound.toml") && run.stderr.contains("target.kube_context"),
        "the error names the file and the key: {}",
        run.stderr
    );

    // Bound to the sandbox's cluster, redirected by FOCUS_KUBECONFIG to the other one.
    let binding = format!(
        "kubeconfig = \"{}\"\ncluster_server = \"{}\"",
        path_str(sandbox.kubeconfig_path()),
        own.url()
    );
    let config = config_dir_with("bound", &protected_profile(&api, &binding));
    let run = run_with(
        config.path(),
        "bound",
        &[("FOCUS_KUBECONFIG", &other_kc), ("KUBECONFIG", &other_kc)],
    );
    assert_eq!(run.code, Some(2), "{}", run.all_output());
    assert!(
        run.stderr.contains("target.cluster_server")
            && run.stderr.contains(&own.url())
            && run.stderr.contains(&other.url()),
        "the error names both servers: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("FOCUS_KUBECONFIG") && run.stderr.contains("PROTECTED"),
        "the banner says a protected profile was overridden: {}",
        run.stderr
    );

    for (name, sim) in [("the profile's", own), ("the other", &other)] {
        let sent = suite_requests(sim);
        assert!(sent.is_empty(), "{name} cluster received {sent:?}");
    }
    rt.block_on(other.shutdown());
}

/// A profile bound to the sandbox's cluster (kubeconfig and cluster_server).
fn bound_profile(sandbox: &focus_sandbox::Sandbox, api_url: &str, head: &str) -> String {
    let binding = format!(
        "kubeconfig = \"{}\"\ncluster_server = \"{}\"",
        path_str(sandbox.kubeconfig_path()),
        sandbox.sim().expect("kube-sim").url()
    );
    protected_profile(api_url, &binding).replacen("protected = true\nexclusive = false\n", head, 1)
}

/// `focus-scope cleanup <args>` with the profile and output directory given.
fn cleanup(config: &Path, output: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
    cmd.arg("cleanup")
        .args(args)
        .env("FOCUS_ENV", "shared")
        .env("FOCUS_CONFIG_DIR", config)
        .env("FOCUS_OUTPUT_DIR", output)
        .current_dir(manifest_dir());
    let out = run_capped(cmd, WALL);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn line(v: serde_json::Value) -> String {
    format!("{v}\n")
}

/// Objects of an investigation that exist, as `Kind/name uid`.
fn objects_of(rt: &tokio::runtime::Runtime, cluster: &Cluster, job_id: &str) -> Vec<String> {
    let o = focus_scope::target::names::InvestigationObjects::of(job_id);
    rt.block_on(cluster.identities(&o))
        .expect("identities")
        .into_iter()
        .map(|o| format!("{}/{} {}", o.kind, o.name, o.uid))
        .collect()
}

/// Another user's investigations under job ids a crashed run had ledgered (with the
/// uids of its own, long gone, objects), in a forged ConfigMap mirror, and in a ledger
/// of another cluster: `cleanup` refuses while the run's Lease is live, and neither
/// `cleanup --run` nor `cleanup --all` deletes anything of theirs.
#[test]
fn cleanup_touches_only_what_the_ledger_proves_the_run_owns() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let reused = open_foreign_investigation(&rt, &sandbox.api_url());
    let mirrored = open_foreign_investigation(&rt, &sandbox.api_url());
    let before: Vec<String> = [&reused, &mirrored]
        .iter()
        .flat_map(|j| objects_of(&rt, &cluster, j))
        .collect();
    assert_eq!(
        before.len(),
        6,
        "premise not met: two investigations of 3 objects: {before:?}"
    );

    let config = config_dir_with(
        "shared",
        &bound_profile(
            &sandbox,
            &sandbox.api_url(),
            "protected = true\nexclusive = false\n",
        ),
    );
    let output = tempfile::tempdir().expect("output");
    let server = sandbox.sim().expect("kube-sim").url();
    let place = |server: &str| serde_json::json!({"profile": "shared", "server": server, "namespace": "panda"});
    let ledger = |run: &str, server: &str, job_id: &str, garbage: bool| {
        let dir = output.path().join("runs").join(run);
        std::fs::create_dir_all(&dir).expect("run dir");
        let mut baseline = serde_json::json!({"event": "baseline", "run_id": run, "job_ids": [], "at": "2026-01-01T00:00:00Z"});
        for (k, v) in place(server).as_object().expect("place") {
            baseline[k] = v.clone();
        }
        let stale = |kind: &str, name: String| serde_json::json!({"kind": kind, "name": name, "uid": format!("uid-of-{run}-{kind}"), "created": "2026-01-01T00:00:00Z"});
        let o = focus_scope::target::names::InvestigationObjects::of(job_id);
        let mut text = line(baseline);
        if garbage {
            text.push_str("{ this line is not a ledger entry\n");
        }
        text += &line(
            serde_json::json!({"event": "opened", "run_id": run, "scenario": "s", "job_id": job_id, "at": "2026-01-01T00:00:00Z"}),
        );
        text += &line(
            serde_json::json!({"event": "seen", "run_id": run, "job_id": job_id, "at": "2026-01-01T00:00:00Z",
            "objects": [stale("Job", o.stream_job.clone()), stale("Job", o.cleanup_job.clone()), stale("Service", o.service.clone())]}),
        );
        std::fs::write(dir.join("ledger.jsonl"), text).expect("ledger");
    };
    ledger("old-run", &server, &reused, true);
    ledger(
        "far-run",
        "https://k8s.elsewhere.example:6443",
        &reused,
        false,
    );

    // A forged mirror: names the other investigation, records no uid of it.
    let forged: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "focus-scope-ledger-forged", "labels": {
            "focus-scope/ledger": "true", "focus-scope/run-id": "forged"}},
        "data": {"ledger.jsonl": format!("{}{}",
            line(serde_json::json!({"event": "baseline", "run_id": "forged", "job_ids": [], "at": "2026-01-01T00:00:00Z"})),
            line(serde_json::json!({"event": "opened", "run_id": "forged", "scenario": "s", "job_id": mirrored, "at": "2026-01-01T00:00:00Z"})))}
    }))
    .expect("configmap");
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(sandbox.client(), "panda");
    rt.block_on(cms.create(&kube::api::PostParams::default(), &forged))
        .expect("plant the forged mirror");

    // The crashed run's lock is still live: it is running, not crashed.
    let lease: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "focus-scope-run-lock"},
        "spec": {"holderIdentity": "old-run", "leaseDurationSeconds": 300,
                 "renewTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}
    }))
    .expect("lease");
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(sandbox.client(), "panda");
    rt.block_on(leases.create(&kube::api::PostParams::default(), &lease))
        .expect("plant a live lease");
    let (code, text) = cleanup(config.path(), output.path(), &["--run", "old-run"]);
    assert_eq!(code, Some(4), "a live run is not cleaned: {text}");
    assert!(
        text.contains("old-run") && text.contains("--force"),
        "{text}"
    );

    let (code, text) = cleanup(
        config.path(),
        output.path(),
        &["--run", "old-run", "--force"],
    );
    assert_ne!(code, Some(0), "a name now another's is reported: {text}");
    assert!(text.contains("left alone"), "{text}");
    let (code, text) = cleanup(config.path(), output.path(), &["--all", "--force"]);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("line 2") && text.contains("not a ledger entry"),
        "an unparseable line is reported with its number: {text}"
    );
    assert!(
        text.contains("https://k8s.elsewhere.example:6443") && text.contains(&server),
        "a ledger of another cluster is refused, naming both: {text}"
    );
    let after: Vec<String> = [&reused, &mirrored]
        .iter()
        .flat_map(|j| objects_of(&rt, &cluster, j))
        .collect();
    assert_eq!(after, before, "another user's objects were touched\n{text}");
}

/// What a fake Focus Server answers: status line, extra headers, JSON body.
type Answer = (&'static str, Vec<(&'static str, String)>, String);

/// A hostile Focus Server on loopback (one thread): `/ack` answers 200, every
/// configure gets `configure()`'s answer, anything else 404.
fn fake_focus_server(
    configure: impl Fn() -> Answer + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let serve = std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            loop {
                let mut request = String::new();
                if reader.read_line(&mut request).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let (status, headers, answer) = if request.starts_with("GET /ack") {
                    ("200 OK", vec![], "{}".to_string())
                } else if request.starts_with("POST /configure") {
                    configure()
                } else {
                    (
                        "404 Not Found",
                        vec![],
                        r#"{"detail":"Not Found"}"#.to_string(),
                    )
                };
                let extra: String = headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}\r\n"))
                    .collect();
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (url, serve)
}

fn server_answering_409_with(job_id: String) -> (String, std::thread::JoinHandle<()>) {
    fake_focus_server(move || {
        (
            "409 Conflict",
            vec![],
            serde_json::json!({"error": "busy", "job_id": job_id}).to_string(),
        )
    })
}

/// A 4xx answer that names an existing investigation's job_id: the run does not
/// claim it, ledgers it as not claimed, and leaves that investigation alone.
#[test]
fn a_job_id_in_an_error_answer_is_never_claimed() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let theirs = open_foreign_investigation(&rt, &sandbox.api_url());
    let before = objects_of(&rt, &cluster, &theirs);
    assert_eq!(before.len(), 3, "premise not met: {before:?}");
    let (api, _server) = server_answering_409_with(theirs.clone());
    let config = config_dir_with(
        "shared",
        &bound_profile(&sandbox, &api, "protected = false\nexclusive = false\n"),
    );
    let dir = path_str(config.path());
    let run = run_suite(
        &["--tags", "@id:k8s-live-investigation-opens"],
        &[("FOCUS_ENV", "shared"), ("FOCUS_CONFIG_DIR", dir.as_str())],
        WALL,
    );
    assert_eq!(
        run.code,
        Some(1),
        "the scenario fails: {}",
        run.all_output()
    );
    let ledger = std::fs::read_to_string(run.output_dir.path().join("ledger.jsonl"))
        .expect("the run's ledger");
    let entries = focus_scope::safety::ledger::Ledger::parse(&ledger);
    assert!(
        !entries
            .iter()
            .any(|e| matches!(e, focus_scope::safety::ledger::Entry::Opened { .. })),
        "claimed from an error answer:\n{ledger}"
    );
    assert!(
        entries.iter().any(|e| matches!(e, focus_scope::safety::ledger::Entry::NotClaimed { job_id, status: 409, .. } if *job_id == theirs)),
        "the job_id is ledgered as not claimed:\n{ledger}"
    );
    assert_eq!(
        objects_of(&rt, &cluster, &theirs),
        before,
        "their investigation was touched\n{}",
        run.all_output()
    );
}

/// Someone takes the run lock over in the middle of a run: the run stops (exit 4,
/// "lost the run lock") instead of going on unlocked, and cleans up what it opened.
#[test]
fn a_run_that_loses_its_lock_stops() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let profile = bound_profile(
        &sandbox,
        &sandbox.api_url(),
        "protected = false\nexclusive = false\n",
    )
    .replace("[deadlines]\n", "[deadlines]\nlease = \"3s\"\n")
        + "[limits]\nsoak_duration = \"40s\"\n";
    let config = config_dir_with("shared", &profile);
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(sandbox.client(), "panda");
    let taker = std::thread::spawn({
        let rt_handle = rt.handle().clone();
        move || {
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(mut l)) = rt_handle.block_on(leases.get_opt("focus-scope-run-lock"))
                {
                    if let Some(spec) = l.spec.as_mut() {
                        spec.holder_identity = Some("someone-else".into());
                    }
                    if rt_handle
                        .block_on(leases.replace("focus-scope-run-lock", &Default::default(), &l))
                        .is_ok()
                    {
                        return Some(started.elapsed());
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            None
        }
    });
    let dir = path_str(config.path());
    let started = std::time::Instant::now();
    let run = run_suite(
        &["--tags", "@id:system-soak"],
        &[("FOCUS_ENV", "shared"), ("FOCUS_CONFIG_DIR", dir.as_str())],
        WALL,
    );
    let taken_at = taker.join().expect("the taker thread").unwrap_or_else(|| {
        panic!(
            "premise not met: the run never took its lock\n{}",
            run.all_output()
        )
    });
    assert_eq!(run.code, Some(4), "{}", run.all_output());
    assert!(run.stderr.contains("lost the run lock"), "{}", run.stderr);
    assert!(
        started.elapsed() < taken_at + Duration::from_secs(20),
        "the run went on for {:?} after losing its lock",
        started.elapsed() - taken_at
    );
    let left = rt
        .block_on(cluster.investigation_ids())
        .expect("investigations");
    assert!(left.is_empty(), "the stopped run left {left:?}");
}

const PLANTED: &str = "pl4nted-S3cret";

/// Secrets planted everywhere a run can meet them: the API URL's userinfo (an
/// override of a protected profile), a bearer token and a cookie in the server's
/// response headers, a container env PASSWORD and a token annotation on the
/// investigation's Job. A scenario fails, so diagnostics are written. No output file
/// and neither output stream holds the secret; the override is in the provenance.
#[test]
fn planted_secrets_reach_no_output() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(sandbox.client(), "panda");
    let handle = rt.handle().clone();
    let (api, _server) = fake_focus_server(move || {
        // As a Focus Server does: the Job first, then the answer.
        let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "grpc-job-7-1", "annotations": {"vault.example/api-token": PLANTED}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "grpc", "image": "busybox",
                "env": [{"name": "PASSWORD", "value": PLANTED}]}]}}}
        }))
        .expect("job");
        let _ = handle.block_on(jobs.create(&kube::api::PostParams::default(), &job));
        (
            "200 OK",
            vec![
                ("Authorization", format!("Bearer {PLANTED}")),
                ("Set-Cookie", format!("session={PLANTED}")),
            ],
            serde_json::json!({"status": "", "job_id": "7-1", "stream_port": "12307",
                "stream_url": "http://127.0.0.1", "view_type": "0"})
            .to_string(),
        )
    });
    let with_userinfo = api.replacen("http://", &format!("http://scope:{PLANTED}@"), 1);
    let profile = bound_profile(&sandbox, &api, "protected = true\nexclusive = false\n")
        .replace("object_appears = \"10s\"", "object_appears = \"2s\"")
        .replace("pod_running = \"20s\"", "pod_running = \"2s\"");
    let config = config_dir_with("shared", &profile);
    let dir = path_str(config.path());
    let run = run_suite(
        &["--tags", "@id:k8s-live-investigation-opens"],
        &[
            ("FOCUS_ENV", "shared"),
            ("FOCUS_CONFIG_DIR", dir.as_str()),
            ("FOCUS_API_URL", with_userinfo.as_str()),
        ],
        WALL,
    );
    assert_eq!(
        run.code,
        Some(1),
        "premise not met: the scenario fails\n{}",
        run.all_output()
    );
    let diagnostics: Vec<_> = support::files_under(run.output_dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("diagnostics"))
        .collect();
    assert!(
        !diagnostics.is_empty(),
        "premise not met: diagnostics were written"
    );
    let diag = std::fs::read_to_string(&diagnostics[0]).expect("diagnostics");
    assert!(
        diag.contains("PASSWORD") && diag.to_ascii_lowercase().contains("set-cookie"),
        "premise not met: the planted places are in the diagnostics\n{diag}"
    );
    assert!(!run.all_output().contains(PLANTED), "{}", run.all_output());
    for file in support::files_under(run.output_dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
        assert!(
            !text.contains(PLANTED),
            "{} holds the secret:\n{text}",
            file.display()
        );
    }
    let summary = run.summary.as_ref().expect("summary.json");
    let overrides = summary["provenance"]["overrides"]
        .as_str()
        .unwrap_or_default();
    assert!(
        overrides.contains("FOCUS_API_URL") && overrides.contains(&api[7..]),
        "the override is recorded without its userinfo: {overrides}"
    );
    for report in ["junit.xml", "report.html"] {
        let file = support::files_under(run.output_dir.path())
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == report))
            .unwrap_or_else(|| panic!("no {report}"));
        let text = std::fs::read_to_string(&file).expect("report");
        assert!(
            text.contains("FOCUS_API_URL"),
            "{report} records the override of the protected profile"
        );
    }
}

/// The ingress' certificate is trusted through `target.tls_ca` (a private CA, here
/// the sandbox's self-signed one) with full verification; without it the same
/// server is refused, and the provenance says how the certificate was checked.
#[test]
fn a_private_ca_is_trusted_through_tls_ca() {
    let (_rt, sandbox) = start_sandbox(SandboxOptions {
        tls: true,
        ..Default::default()
    });
    let api = sandbox.api_url();
    assert!(api.starts_with("https://"), "premise not met: {api}");
    let profile = bound_profile(&sandbox, &api, "protected = true\nexclusive = false\n");
    let config = config_dir_with(
        "shared",
        &profile.replace("[deadlines]", "tls_ca = \"ca.pem\"\n[deadlines]"),
    );
    std::fs::write(
        config.path().join("ca.pem"),
        sandbox.cert_pem().expect("the sandbox's certificate"),
    )
    .expect("write the CA");
    let run = run_with(config.path(), "shared", &[]);
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    let tls = run.summary.as_ref().expect("summary")["provenance"]["tls"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(tls.contains("ca.pem"), "{tls}");

    let config = config_dir_with("shared", &profile);
    let run = run_with(config.path(), "shared", &[]);
    assert_eq!(
        run.code,
        Some(4),
        "an untrusted certificate is refused: {}",
        run.all_output()
    );
}

/// SIGINT in the middle of the 200 batch against a sandbox holding another user's
/// investigation: the run stops sending, deletes what it opened and exits 130;
/// afterwards nothing of the run remains (no investigation, no pod carrying its
/// label), and the other user's investigation does.
/// The suite against `sandbox` through a shared, unprotected profile, running `tags`.
fn spawn_shared_run(
    sandbox: &focus_sandbox::Sandbox,
    tags: &str,
) -> (std::process::Child, tempfile::TempDir, tempfile::TempDir) {
    let config = config_dir_with(
        "shared",
        &bound_profile(
            sandbox,
            &sandbox.api_url(),
            "protected = false\nexclusive = false\n",
        ),
    );
    let output = tempfile::tempdir().expect("output");
    let child = Command::new(env!("CARGO_BIN_EXE_focus-scope"))
        .args(["--tags", tags])
        .env("FOCUS_ENV", "shared")
        .env("FOCUS_CONFIG_DIR", config.path())
        .env("FOCUS_OUTPUT_DIR", output.path())
        .env("FOCUS_FEATURES", manifest_dir().join("features/en"))
        .env_remove("CUCUMBER_FILTER_TAGS")
        .current_dir(manifest_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the suite");
    (child, config, output)
}

/// Sends SIGINT and expects the interrupted exit (130); answers the run's stderr.
fn interrupt(child: std::process::Child) -> String {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().expect("the suite ends");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    stderr
}

/// Objects carrying a run label, of every kind a run creates or marks.
fn run_labelled(rt: &tokio::runtime::Runtime, sandbox: &focus_sandbox::Sandbox) -> Vec<String> {
    use k8s_openapi::api::core::v1::{Node, Pod, ResourceQuota, Service};
    let lp = kube::api::ListParams::default().labels("focus-scope/run-id");
    let mut found = Vec::new();
    let pods: kube::Api<Pod> = kube::Api::namespaced(sandbox.client(), "panda");
    let quotas: kube::Api<ResourceQuota> = kube::Api::namespaced(sandbox.client(), "panda");
    let services: kube::Api<Service> = kube::Api::namespaced(sandbox.client(), "panda");
    let nodes: kube::Api<Node> = kube::Api::all(sandbox.client());
    rt.block_on(async {
        for p in pods.list(&lp).await.expect("pods").items {
            found.push(format!("Pod/{}", p.metadata.name.unwrap_or_default()));
        }
        for q in quotas.list(&lp).await.expect("quotas").items {
            found.push(format!(
                "ResourceQuota/{}",
                q.metadata.name.unwrap_or_default()
            ));
        }
        for s in services.list(&lp).await.expect("services").items {
            found.push(format!("Service/{}", s.metadata.name.unwrap_or_default()));
        }
        for n in nodes.list(&lp).await.expect("nodes").items {
            found.push(format!("Node/{}", n.metadata.name.unwrap_or_default()));
        }
        for n in nodes.list(&Default::default()).await.expect("nodes").items {
            if n.spec.and_then(|s| s.unschedulable).unwrap_or(false) {
                found.push(format!(
                    "cordoned Node/{}",
                    n.metadata.name.unwrap_or_default()
                ));
            }
        }
    });
    found
}

#[test]
fn sigint_mid_gpu_fill_leaves_nothing_of_the_run() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let theirs = open_foreign_investigation(&rt, &sandbox.api_url());
    let (child, _config, _output) = spawn_shared_run(&sandbox, "@id:k8s-gpu-exhausted");
    let started = std::time::Instant::now();
    // The fault in place, by identity: the run's GPU filler pods exist.
    while !run_labelled(&rt, &sandbox)
        .iter()
        .any(|o| o.starts_with("Pod/focus-scope-gpu-filler-"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "premise not met: the run never filled the GPU slices"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = interrupt(child);
    let left = rt
        .block_on(cluster.investigation_ids())
        .expect("investigations");
    assert_eq!(
        left,
        std::collections::BTreeSet::from([theirs]),
        "only the other user's investigation remains\n{stderr}"
    );
    let labelled = run_labelled(&rt, &sandbox);
    assert!(
        labelled.is_empty(),
        "left by the run: {labelled:?}\n{stderr}"
    );
}

#[test]
fn sigint_mid_batch_leaves_nothing_of_the_run() {
    let (rt, sandbox) = start_sandbox(SandboxOptions::default());
    let cluster = sandbox_cluster(&rt, &sandbox);
    let theirs = open_foreign_investigation(&rt, &sandbox.api_url());
    let (child, _config, output) = spawn_shared_run(&sandbox, "@id:k8s-200-in-parallel");
    let started = std::time::Instant::now();
    loop {
        let opened = support::files_under(output.path())
            .into_iter()
            .filter(|p| p.ends_with("ledger.jsonl"))
            .map(|p| {
                focus_scope::safety::ledger::Ledger::read(&p)
                    .unwrap_or_default()
                    .iter()
                    .filter(|e| matches!(e, focus_scope::safety::ledger::Entry::Opened { .. }))
                    .count()
            })
            .sum::<usize>();
        if opened >= 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "premise not met: the batch never opened 40 investigations"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = interrupt(child);
    let left = rt
        .block_on(cluster.investigation_ids())
        .expect("investigations");
    assert_eq!(
        left,
        std::collections::BTreeSet::from([theirs]),
        "only the other user's investigation remains\n{stderr}"
    );
    let labelled = run_labelled(&rt, &sandbox);
    assert!(
        labelled.is_empty(),
        "left by the run: {labelled:?}\n{stderr}"
    );
}

/// A Job of another actor, created and deleted again at once.
async fn create_and_delete_job(kubeconfig: &Path, name: &str) {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kube config");
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(kube::Client::try_from(config).expect("client"), "panda");
    let job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("job");
    jobs.create(&Default::default(), &job)
        .await
        .expect("create");
    jobs.delete(name, &kube::api::DeleteParams::background())
        .await
        .expect("delete");
}

/// "No investigation objects were created" goes by identity, never by the cluster's
/// clock (issue 15). A historic window without recordings is refused 404 while the
/// defect `launch-before-lookup` leaves its investigation behind. With the cluster's
/// clock 2 s behind the runner's, the old check (creation timestamps since the request)
/// hides that leftover; 2 s ahead, it blames another user's investigation opened just
/// before the request. The watch finds the leftover either way, never the older
/// investigation, and also a Job created and deleted while it watched, which no list
/// after the request shows (the old check kept only objects that still existed).
#[test]
fn creations_are_told_by_identity_whatever_the_cluster_clock() {
    for offset_ms in [-2000_i64, 2000] {
        let mut sim = SimConfig::fast();
        sim.clock_offset_ms = offset_ms;
        let (rt, sandbox) = start_sandbox(SandboxOptions {
            defects: vec![focus_sandbox::Defect::LaunchBeforeLookup],
            sim,
            ..Default::default()
        });
        let cluster = sandbox_cluster(&rt, &sandbox);
        let foreign = open_foreign_investigation(&rt, &sandbox.api_url());
        let url = format!("{}/configure", sandbox.api_url());
        let (created, old) = rt.block_on(async {
            let watch = cluster.watch_creations().await.expect("watch");
            let sent = jiff::Timestamp::now();
            let status = reqwest::Client::new()
                .post(&url)
                .json(&serde_json::json!({
                    "displayTimeAxisDuration": 30, "nfftSelection": 1024, "displayInfo": {"height": 1000},
                    "channels": {"min": 11, "max": 60}, "frequencyRange": {"min": 10, "max": 500},
                    "start_time": 1000, "end_time": 2000, "view_type": 0
                }))
                .send()
                .await
                .expect("configure")
                .status();
            assert_eq!(status.as_u16(), 404, "a window in 1970 has no recordings");
            create_and_delete_job(sandbox.kubeconfig_path(), "grpc-job-99-1").await;
            let created = watch.finish().await.expect("the watch");
            let old = cluster
                .investigation_objects_since(sent)
                .await
                .expect("list");
            (created, old)
        });
        let ids: Vec<&str> = created.iter().map(|c| c.job_id.as_str()).collect();
        let leftover: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| *id != "99-1" && *id != foreign)
            .collect();
        assert!(
            !leftover.is_empty(),
            "clock {offset_ms} ms: the leftover was not found: {created:?}"
        );
        assert!(
            !ids.contains(&foreign.as_str()),
            "clock {offset_ms} ms: the older investigation {foreign} was blamed: {created:?}"
        );
        assert!(
            created.iter().any(|c| c.object == "Job/grpc-job-99-1"),
            "clock {offset_ms} ms: the Job created and deleted meanwhile was missed: {created:?}"
        );
        let old_ids: Vec<&str> = old.iter().map(|(_, id)| id.as_str()).collect();
        assert!(
            !old_ids.contains(&"99-1"),
            "a list after the request cannot see the Job deleted meanwhile: {old:?}"
        );
        if offset_ms < 0 {
            assert!(
                leftover.iter().all(|id| !old_ids.contains(id)),
                "the timestamp check was expected to hide the leftover: {old:?}"
            );
        } else {
            assert!(
                old_ids.contains(&foreign.as_str()),
                "the timestamp check was expected to blame {foreign}: {old:?}"
            );
        }
    }
}

/// The creations check ends each kind's replay at kube-sim's bookmark after the replay
/// (issue 17) instead of waiting out its 1 s window, and still tells a Job and a
/// Service created and deleted between its two lists: their events come before the
/// bookmark. A ConfigMap created last puts the list after the request past every Job
/// and Service change, so only a bookmark can end the replays early. kube-sim also
/// bookmarks the end of the window, ≥ 1 s after the watch opened; the early bookmark
/// comes within milliseconds, so the bound below cannot flake.
#[test]
fn the_creations_check_ends_at_the_bookmark_and_sees_what_came_and_went() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (_sim, cluster, client, _dir) = support::simulated_cluster().await;
        support::create_panda_namespace(&client).await;
        let watch = cluster.watch_creations().await.expect("lists before");
        let (job, service) = create_investigation_objects(&client, "7-1").await;
        let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
            kube::Api::namespaced(client.clone(), "panda");
        let services: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(client.clone(), "panda");
        let gone = kube::api::DeleteParams::background();
        jobs.delete("grpc-job-7-1", &gone)
            .await
            .expect("delete job");
        services
            .delete("grpc-service-7-1", &gone)
            .await
            .expect("delete service");
        let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), "panda");
        let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "later"}}))
            .expect("configmap");
        configmaps
            .create(&Default::default(), &cm)
            .await
            .expect("configmap");
        let replayed = watch.finish_replayed().await.expect("the check");
        for end in [replayed.jobs, replayed.services] {
            assert!(
                matches!(end, ReplayEnd::Bookmark { after } if after < Duration::from_secs(1)),
                "the replay did not end at the bookmark after it: {end:?}"
            );
        }
        let uids: std::collections::BTreeSet<&str> =
            replayed.created.iter().map(|c| c.uid.as_str()).collect();
        assert_eq!(
            uids,
            [job.as_str(), service.as_str()].into_iter().collect(),
            "created and deleted between the lists: {:?}",
            replayed.created
        );
    });
}

/// A Job and a Service under the investigation's names, created by a client of the
/// test's own (another user, or an earlier holder of names the server hands out again).
async fn create_investigation_objects(client: &kube::Client, job_id: &str) -> (String, String) {
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(client.clone(), "panda");
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(client.clone(), "panda");
    let job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("grpc-job-{job_id}")},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("job");
    let service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("grpc-service-{job_id}")},
        "spec": {"type": "NodePort", "ports": [{"port": 5000}]}
    }))
    .expect("service");
    let j = jobs.create(&Default::default(), &job).await.expect("job");
    let s = services
        .create(&Default::default(), &service)
        .await
        .expect("service");
    (
        j.metadata.uid.expect("job uid"),
        s.metadata.uid.expect("service uid"),
    )
}

/// The 200 batch takes its objects' identities from watches (issue 17). An object of
/// the investigation's names that was there when the configure was sent is never taken
/// as the run's (a name handed out again, whose earlier holder's deletion the watch may
/// not have seen yet); the objects created after it are.
#[test]
fn identities_from_watches_never_take_an_earlier_holder_of_the_names() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (_sim, cluster, client, _dir) = support::simulated_cluster().await;
        support::create_panda_namespace(&client).await;
        let objects = focus_scope::target::names::InvestigationObjects::of("9-1");
        let (old_job, old_service) = create_investigation_objects(&client, "9-1").await;
        let watched = cluster.watch_objects().await.expect("watches");
        // The configure is sent now: what the watches hold is not its.
        let before = watched.uids();
        assert!(before.contains(&old_job) && before.contains(&old_service));
        assert!(
            watched
                .claim_identities(&objects, &before, Duration::from_millis(500))
                .await
                .is_err(),
            "the earlier holder's objects were taken as the configure's"
        );
        // The server hands the names out again: the old objects go, new ones come.
        let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
            kube::Api::namespaced(client.clone(), "panda");
        let services: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(client.clone(), "panda");
        jobs.delete(&objects.stream_job, &kube::api::DeleteParams::default())
            .await
            .expect("delete job");
        services
            .delete(&objects.service, &kube::api::DeleteParams::default())
            .await
            .expect("delete service");
        tokio::time::timeout(Duration::from_secs(10), async {
            while jobs
                .get_opt(&objects.stream_job)
                .await
                .expect("get")
                .is_some()
            {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the old Job is gone");
        let (new_job, new_service) = create_investigation_objects(&client, "9-1").await;
        let claimed = watched
            .claim_identities(&objects, &before, Duration::from_secs(10))
            .await
            .expect("the new objects are watched");
        let uids: std::collections::BTreeSet<String> =
            claimed.iter().map(|o| o.uid.clone()).collect();
        assert_eq!(uids, [new_job, new_service].into_iter().collect());
    });
}
