//! The 200-investigation requirement against a cluster that cannot meet it: the
//! scenario fails saying how far it got and why, and nothing of the run remains.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::run_suite;
use focus_scope::ledger::{Entry, Ledger};

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
    // Every investigation the run opened was deleted and seen gone.
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
    assert_eq!(opened.len(), 200, "all 200 configures were answered");
    assert_eq!(opened, cleaned, "every opened investigation was cleaned");
}
