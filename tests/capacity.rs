//! The 200-investigation requirement against clusters that cannot meet it (too few GPU
//! slices; too few pod IPs): the scenario fails saying how far it got and why, and
//! nothing of the run remains.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use focus_scope::safety::ledger::{Entry, Ledger};
use support::run_suite;

/// Every investigation the run opened was deleted and seen gone; returns how many.
fn all_opened_were_cleaned(run: &support::MetaRun) -> usize {
    let ledger = Ledger::read(&run.output_dir.path().join("ledger.jsonl")).expect("ledger");
    let opened: BTreeSet<String> = ledger
        .iter()
        .filter_map(|e| match e {
            Entry::Opened { job_id, .. } => Some(job_id.clone()),
            _ => None,
        })
        .collect();
    let cleaned: BTreeSet<String> = ledger
        .iter()
        .filter_map(|e| match e {
            Entry::Cleaned { job_id, .. } => Some(job_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(opened, cleaned, "every opened investigation was cleaned");
    opened.len()
}

#[test]
fn forty_gpu_slices_reach_forty_of_two_hundred_and_leave_nothing() {
    let run = run_suite(
        &["--tags", "@id:k8s-200-in-parallel"],
        &[("FOCUS_SANDBOX_CLUSTER", "clusters/gpu-40.toml")],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert_eq!(run.failed_ids(), vec!["k8s-200-in-parallel".to_string()]);
    assert!(run.stderr.contains("reached 40 of 200"), "{}", run.stderr);
    assert!(
        run.stderr.contains("FailedScheduling")
            && run.stderr.contains("Insufficient nvidia.com/gpu.shared"),
        "the first reason must be the scheduler's, naming the resource: {}",
        run.stderr
    );
    assert_eq!(
        all_opened_were_cleaned(&run),
        200,
        "all 200 configures were answered"
    );
}

/// Pod IP (CIDR) exhaustion (PZ-13268): 120 pod IPs for 200 investigations of two pods.
#[test]
fn exhausted_pod_ips_stop_the_two_hundred_with_the_cni_reason_and_leave_nothing() {
    let run = run_suite(
        &["--tags", "@id:k8s-200-in-parallel"],
        &[("FOCUS_SANDBOX_CLUSTER", "clusters/pod-ips-120.toml")],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, Some(1), "{}", run.all_output());
    assert_eq!(run.failed_ids(), vec!["k8s-200-in-parallel".to_string()]);
    let reached: Vec<usize> = regex::Regex::new(r"reached (\d+) of 200")
        .expect("regex")
        .captures_iter(&run.stderr)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    assert!(
        !reached.is_empty() && reached.iter().all(|n| *n > 0 && *n < 120),
        "the ceiling is reported and below the 120 pod IPs: {reached:?}\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("FailedCreatePodSandBox")
            && run.stderr.contains("no IP addresses available"),
        "the first reason must be the CNI's, naming the IP exhaustion: {}",
        run.stderr
    );
    assert_eq!(
        all_opened_were_cleaned(&run),
        200,
        "all 200 configures were answered"
    );
}
