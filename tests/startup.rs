//! Clean startup, both paths: an environment that holds another user's investigation
//! fails the clean-startup scenario where the profile says it is exclusive, and is
//! reported (never touched) where it is shared.

mod support;

use std::time::Duration;

use focus_sandbox::{SandboxOptions, kube_sim::SimConfig};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use support::{
    config_dir_with, open_foreign_investigation, path_str, remote_profile, run_suite, start_sandbox,
};

#[test]
fn a_foreign_investigation_fails_an_exclusive_startup_and_is_reported_on_a_shared_one() {
    let (rt, sandbox) = start_sandbox(SandboxOptions {
        sim: SimConfig::fast(),
        ..SandboxOptions::default()
    });
    let job_id = open_foreign_investigation(&rt, &sandbox.api_url());
    let profile = |exclusive: bool| {
        remote_profile(
            &sandbox,
            &format!("protected = false\nexclusive = {exclusive}\nfaults = \"sandbox\""),
            "cancel = \"endpoint\"",
        )
    };

    let exclusive = config_dir_with("exclusive", &profile(true));
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

    let shared = config_dir_with("shared", &profile(false));
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
