//! Unit tests of the module's pure parts.

use super::*;

#[test]
fn job_ids_come_from_exact_prefixes() {
    assert_eq!(job_id_of("grpc-job-1-16"), Some("1-16"));
    assert_eq!(job_id_of("cleanup-job-1-160"), Some("1-160"));
    assert_eq!(job_id_of("grpc-service-2-3"), Some("2-3"));
    assert_eq!(job_id_of("grpc-job-"), None);
    assert_eq!(job_id_of("panda-panda-focus-server"), None);
}

/// A pod of the exact job name, as a Job controller makes it.
fn pod(owner: Option<&str>, controller_uid: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "grpc-job-1-1-abcde",
            "labels": {"job-name": "grpc-job-1-1", "batch.kubernetes.io/controller-uid": controller_uid},
            "ownerReferences": owner.map(|uid| vec![serde_json::json!({
                "apiVersion": "batch/v1", "kind": "Job", "name": "grpc-job-1-1", "uid": uid
            })]).unwrap_or_default(),
        }
    }))
    .expect("pod")
}

#[test]
fn an_orphan_is_the_runs_only_when_its_controller_uid_is_the_runs_job() {
    assert!(pod_of_owned_job(&pod(Some("ours"), "ours"), "ours"));
    assert!(pod_of_owned_job(&pod(None, "ours"), "ours"));
    // Another user's Job of the same (reused) name orphaned its pods: never ours.
    assert!(!pod_of_owned_job(&pod(None, "theirs"), "ours"));
    assert!(!pod_of_owned_job(&pod(Some("theirs"), "theirs"), "ours"));
}
