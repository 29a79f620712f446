//! Clean startup, both paths: an environment that holds another user's investigation
//! fails the clean-startup scenario where the profile says it is exclusive, and is
//! reported (never touched) where it is shared.

mod common;

use std::time::Duration;

use common::{config_dir_with, path_str, run_suite};
use focus_sandbox::{Sandbox, SandboxOptions, kube_sim::SimConfig};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;

fn profile(api_url: &str, kubeconfig: &str, exclusive: bool) -> String {
    format!(
        r#"protected = false
exclusive = {exclusive}
faults = "sandbox"
[target]
kind = "remote"
api_url = "{api_url}"
kubeconfig = "{kubeconfig}"
namespace = "panda"
cancel = "endpoint"
[deadlines]
request = "10s"
object_appears = "10s"
pod_running = "20s"
port_reachable = "20s"
deletion = "20s"
startup = "30s"
"#
    )
}

#[test]
fn a_foreign_investigation_fails_an_exclusive_startup_and_is_reported_on_a_shared_one() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sandbox = rt
        .block_on(Sandbox::start(SandboxOptions {
            sim: SimConfig::fast(),
            ..SandboxOptions::default()
        }))
        .expect("sandbox");
    let api = sandbox.api_url();
    let kubeconfig = path_str(sandbox.kubeconfig_path());
    // Someone else's investigation, opened before the run.
    let foreign: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{api}/configure"))
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
    });
    let job_id = foreign["job_id"].as_str().expect("job_id").to_string();

    let exclusive = config_dir_with("exclusive", &profile(&api, &kubeconfig, true));
    let run = run_suite(
        &["--tags", "@id:system-clean-startup"],
        &[
            ("FOCUS_ENV", "exclusive"),
            ("FOCUS_CONFIG_DIR", &path_str(exclusive.path())),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert!(
        run.stderr.contains("not clean") && run.stderr.contains(&job_id),
        "the failure names the foreign investigation: {}",
        run.stderr
    );

    let shared = config_dir_with("shared", &profile(&api, &kubeconfig, false));
    let run = run_suite(
        &["--tags", "@id:system-clean-startup"],
        &[
            ("FOCUS_ENV", "shared"),
            ("FOCUS_CONFIG_DIR", &path_str(shared.path())),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    assert!(
        run.stderr.contains("foreign investigations present") && run.stderr.contains(&job_id),
        "the shared path reports the foreign investigation: {}",
        run.stderr
    );

    // Neither run touched it.
    let jobs: Api<Job> = Api::namespaced(sandbox.client(), "panda");
    let still = rt
        .block_on(jobs.get_opt(&format!("grpc-job-{job_id}")))
        .expect("get job");
    assert!(
        still.is_some(),
        "the foreign investigation survives the runs"
    );
    rt.block_on(sandbox.shutdown());
}
