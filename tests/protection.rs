//! A protected profile refuses destructive scenarios unless the run allows them.

mod support;

use std::time::Duration;

use focus_sandbox::{SandboxOptions, kube_sim::SimConfig};
use support::{config_dir_with, path_str, remote_profile, run_suite, start_sandbox};

#[test]
fn a_protected_profile_refuses_limits_without_the_flag() {
    let (rt, sandbox) = start_sandbox(SandboxOptions {
        sim: SimConfig::fast(),
        ..SandboxOptions::default()
    });
    let profile = remote_profile(
        &sandbox,
        "protected = true\nexclusive = false\nfaults = \"kubernetes\"",
        "",
    );
    let dir = config_dir_with("guarded", &profile);
    let run = run_suite(
        &["--tags", "@limits"],
        &[
            ("FOCUS_ENV", "guarded"),
            ("FOCUS_CONFIG_DIR", &path_str(dir.path())),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(3), "{}", run.all_output());
    assert!(
        run.stderr.contains("refused") && run.stderr.contains("--allow-destructive"),
        "the refusal says why and how to permit it: {}",
        run.stderr
    );
    // Nothing was opened: the ledger holds no configure.
    let ledger =
        std::fs::read_to_string(run.output_dir.path().join("ledger.jsonl")).unwrap_or_default();
    assert!(
        !ledger.contains("\"intent\""),
        "no configure was sent: {ledger}"
    );
    rt.block_on(sandbox.shutdown());
}
