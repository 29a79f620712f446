//! End to end through the real ingress shape: a subset of the suite against a sandbox
//! served over HTTPS with a self-signed certificate under `/focus-server`, as the real
//! environments are (`tls_verify = false` in their profiles).

mod support;

use std::time::Duration;

use focus_sandbox::{SandboxOptions, kube_sim::SimConfig};
use support::{config_dir_with, path_str, remote_profile, run_suite, start_sandbox};

#[test]
fn a_subset_passes_over_self_signed_https_under_the_prefix() {
    let (rt, sandbox) = start_sandbox(SandboxOptions {
        sim: SimConfig::fast(),
        tls: true,
        prefix: Some("/focus-server".into()),
        ..SandboxOptions::default()
    });
    let api = sandbox.api_url();
    assert!(
        api.starts_with("https://") && api.ends_with("/focus-server"),
        "{api}"
    );
    let profile = |verify: bool| {
        remote_profile(
            &sandbox,
            "protected = false\nexclusive = true\nfaults = \"sandbox\"",
            &format!("tls_verify = {verify}\ncancel = \"endpoint\""),
        )
    };
    let dir = config_dir_with("ingress", &profile(false));
    let run = run_suite(
        &[
            "--tags",
            "@k8s and @lifecycle and not @id:k8s-pod-failure-reason and not @id:k8s-idle-removed or @id:api-metadata-describes-investigation",
        ],
        &[
            ("FOCUS_ENV", "ingress"),
            ("FOCUS_CONFIG_DIR", &path_str(dir.path())),
        ],
        Duration::from_secs(180),
    );
    assert_eq!(run.code, Some(0), "{}", run.all_output());
    assert!(run.results().len() >= 5, "{:?}", run.results());

    // Verifying the self-signed certificate must fail the preflight, clearly.
    let strict = config_dir_with("strict", &profile(true));
    let run = run_suite(
        &[],
        &[
            ("FOCUS_ENV", "strict"),
            ("FOCUS_CONFIG_DIR", &path_str(strict.path())),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(4), "{}", run.all_output());
    rt.block_on(sandbox.shutdown());
}
