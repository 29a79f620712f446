//! What the suite's tests share (`mod support;`): meta-runs (the suite binary run as a
//! user runs it, with its own output directory, so tests of the suite itself never
//! overwrite the latest reports), the sandbox and profiles they run against, the
//! feature-file walker, the real kubectl (the `test-support` crate, shared with
//! kube-sim's tests; deploy.rs takes its RBAC authorizer from there too) and the real
//! Allure command line.

#![allow(dead_code)]

pub mod allure;
pub use test_support::kubectl;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The result of one meta-run.
pub struct MetaRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub summary: Option<serde_json::Value>,
    pub output_dir: tempfile::TempDir,
}

impl MetaRun {
    /// `(stable id, status)` of every scenario in the run's summary.
    pub fn results(&self) -> Vec<(String, String)> {
        self.summary
            .as_ref()
            .and_then(|s| s["scenarios"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap_or("?").to_string(),
                    s["status"].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect()
    }

    pub fn failed_ids(&self) -> Vec<String> {
        self.results()
            .into_iter()
            .filter(|(_, s)| s == "failed")
            .map(|(i, _)| i)
            .collect()
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the suite binary with `args`, the given extra environment, English features
/// only (meta-runs are English only, for time), and a wall cap.
pub fn run_suite(args: &[&str], env: &[(&str, &str)], wall: Duration) -> MetaRun {
    run_suite_in(
        tempfile::tempdir().expect("temp output dir"),
        args,
        env,
        wall,
    )
}

/// [`run_suite`] writing into `output_dir`.
pub fn run_suite_in(
    output_dir: tempfile::TempDir,
    args: &[&str],
    env: &[(&str, &str)],
    wall: Duration,
) -> MetaRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_focus-scope"));
    cmd.args(args)
        .env_remove("FOCUS_ENV")
        .env_remove("CUCUMBER_FILTER_TAGS")
        .env("FOCUS_OUTPUT_DIR", output_dir.path())
        .env("FOCUS_FEATURES", manifest_dir().join("features/en"))
        .env("NO_COLOR", "1")
        .current_dir(manifest_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_capped(cmd, wall);
    let summary = std::fs::read(output_dir.path().join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    MetaRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary,
        output_dir,
    }
}

/// Runs a command, killing it when it exceeds `wall` (a hung run fails the test, not CI).
pub fn run_capped(cmd: Command, wall: Duration) -> Output {
    let mut wrapped = Command::new("timeout");
    wrapped
        .arg("--kill-after=5")
        .arg(format!("{}", wall.as_secs().max(1)))
        .arg(cmd.get_program());
    wrapped.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped.output().expect("run the suite binary")
}

/// Writes a profile into a fresh config directory and returns the directory.
pub fn config_dir_with(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp config dir");
    std::fs::write(dir.path().join(format!("{name}.toml")), text).expect("write profile");
    dir
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A sandbox started in this test process (its own kube-sim), with the runtime that
/// serves it while the suite binary runs against it as a remote environment.
pub fn start_sandbox(
    opts: focus_sandbox::SandboxOptions,
) -> (tokio::runtime::Runtime, focus_sandbox::Sandbox) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sandbox = rt
        .block_on(focus_sandbox::Sandbox::start(opts))
        .expect("sandbox");
    (rt, sandbox)
}

/// Opens a valid live investigation as another user would (not ledgered by any run);
/// returns its job_id.
pub fn open_foreign_investigation(rt: &tokio::runtime::Runtime, api_url: &str) -> String {
    open_foreign(rt, api_url)["job_id"]
        .as_str()
        .expect("job_id")
        .to_string()
}

/// [`open_foreign_investigation`], returning the whole configure answer.
pub fn open_foreign(rt: &tokio::runtime::Runtime, api_url: &str) -> serde_json::Value {
    // reqwest is built without a default crypto provider (tests that start no sandbox
    // in-process have none installed yet).
    let _ = rustls::crypto::ring::default_provider().install_default();
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{api_url}/configure"))
            .json(&serde_json::json!({
                "displayTimeAxisDuration": 30, "nfftSelection": 1024, "displayInfo": {"height": 1000},
                "channels": {"min": 11, "max": 60}, "frequencyRange": {"min": 10, "max": 500},
                "start_time": null, "end_time": null, "view_type": 0
            }))
            .send()
            .await
            .expect("configure")
            .json()
            .await
            .expect("json")
    })
}

/// A remote profile for a sandbox started in the test: `head` holds the top-level keys
/// (protected, exclusive, faults), `target` extra target keys.
pub fn remote_profile(sandbox: &focus_sandbox::Sandbox, head: &str, target: &str) -> String {
    format!(
        r#"{head}
[expect]
recordings_volume = {{ kind = "hostPath", path = "/prisma/root/recordings" }}
memory_request = "2Gi"
memory_limit = "2Gi"
quota_refusal = "exceeded quota"
[target]
kind = "remote"
api_url = "{}"
kubeconfig = "{}"
namespace = "panda"
{target}
[deadlines]
request = "10s"
object_appears = "10s"
pod_running = "20s"
port_reachable = "20s"
deletion = "30s"
startup = "30s"
"#,
        sandbox.api_url(),
        path_str(sandbox.kubeconfig_path())
    )
}

/// The Kubernetes handle of a sandbox started in the test (namespace `panda`).
pub fn sandbox_cluster(
    rt: &tokio::runtime::Runtime,
    sandbox: &focus_sandbox::Sandbox,
) -> focus_scope::target::kube::Cluster {
    rt.block_on(focus_scope::target::kube::Cluster::connect(
        Some(sandbox.kubeconfig_path()),
        None,
        "panda",
        Duration::from_secs(10),
    ))
    .expect("the sandbox's cluster")
}

/// Every `.feature` file under `dir`, recursively, in a stable (sorted) order.
pub fn feature_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = files_under(dir);
    out.retain(|p| p.extension().is_some_and(|e| e == "feature"));
    out
}

/// Every file under `dir`, recursively, in a stable (sorted) order; an unreadable
/// directory is passed over.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A fresh kube-sim, the suite's handle on it (namespace `panda`) and a client of the
/// test's own to arrange and inspect objects; keep the directory alive while they are used.
/// Creates the namespace the tests' investigations live in (`panda`).
pub async fn create_panda_namespace(client: &kube::Client) {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": "panda"}}))
        .expect("namespace");
    namespaces
        .create(&Default::default(), &ns)
        .await
        .expect("namespace");
}

pub async fn simulated_cluster() -> (
    focus_sandbox::kube_sim::KubeSim,
    focus_scope::target::kube::Cluster,
    kube::Client,
    tempfile::TempDir,
) {
    let sim = focus_sandbox::kube_sim::KubeSim::start(focus_sandbox::kube_sim::SimConfig::fast())
        .await
        .expect("kube-sim");
    let dir = tempfile::tempdir().expect("dir");
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).expect("kubeconfig");
    let cluster = focus_scope::target::kube::Cluster::connect(
        Some(&kc),
        None,
        "panda",
        Duration::from_secs(10),
    )
    .await
    .expect("cluster");
    let kubeconfig = kube::config::Kubeconfig::read_from(&kc).expect("kubeconfig readable");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("client config");
    let client = kube::Client::try_from(config).expect("client");
    (sim, cluster, client, dir)
}
