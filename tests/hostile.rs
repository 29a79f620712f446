//! A hostile shared environment: the sandbox started separately, as a real
//! environment is, with other users' objects and a second cluster within reach. Each
//! test shows one guarantee of docs/real-environments.md ("Guarantees").

mod common;

use std::path::Path;
use std::time::Duration;

use common::{MetaRun, config_dir_with, path_str, run_suite, start_sandbox};
use focus_sandbox::SandboxOptions;
use focus_sandbox::kube_sim::{KubeSim, SimConfig};

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
