//! How far the environment gets when many investigations are opened at once: what a
//! batch reached, and the first reason the environment stopped, in its own words.
//! The batch itself (bounded concurrency, one shared pod watch) is `run::batch`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;

use crate::spec::investigation::OpenedInvestigation;
use crate::target::focus_api::ApiResponse;
use crate::target::kube::Cluster;

/// Whether a refusal of configure says that a quota or resource is exhausted, in the
/// server's words (`words`, the profile's `expect.quota_refusal`): a 503 for another
/// reason (overload, a missing stream) is no quota refusal.
pub fn refused_for_quota(resp: &ApiResponse, words: &regex::Regex) -> Result<(), String> {
    if resp.status != 503 {
        return Err(format!("expected a 503 refusal: {}", resp.describe()));
    }
    let said = resp.error_text();
    if words.is_match(&said) {
        Ok(())
    } else {
        Err(format!(
            "the 503 does not say the quota is exhausted (expect.quota_refusal `{words}`): {}",
            resp.describe()
        ))
    }
}

/// What a batch reached.
#[derive(Debug, Default)]
pub struct CapacityReport {
    pub wanted: usize,
    pub opened: Vec<OpenedInvestigation>,
    /// Answers other than 200.
    pub refused: Vec<ApiResponse>,
    /// job_ids whose pod ran and whose stream port accepted TCP.
    pub reachable: BTreeSet<String>,
    /// Why an investigation did not get there, per job_id (pod or port).
    pub stuck: BTreeMap<String, String>,
    pub elapsed: Duration,
    /// POST /configure latencies of the batch.
    pub configure: Vec<Duration>,
    /// Configure answered → pod Running, of the pods that ran.
    pub pod_start: Vec<Duration>,
    /// Kubernetes API requests the suite sent for the batch (cleanup excluded).
    pub k8s_requests: u64,
}

impl CapacityReport {
    /// Investigations simultaneously Running with a reachable stream port.
    pub fn ceiling(&self) -> usize {
        self.reachable.len()
    }

    pub fn distinct_ports(&self) -> bool {
        let ports: BTreeSet<u16> = self.opened.iter().map(|o| o.stream_port).collect();
        let ids: BTreeSet<&str> = self.opened.iter().map(|o| o.job_id.as_str()).collect();
        ports.len() == self.opened.len() && ids.len() == self.opened.len()
    }

    /// The first reason the batch stopped short, in the environment's own words:
    /// the API's refusal, a FailedScheduling/FailedCreate event, or the stuck step.
    pub async fn first_reason(&self, cluster: &Cluster) -> String {
        if let Some(r) = self.refused.first() {
            return format!("{} from the API: {}", r.status, r.error_text());
        }
        let Some((job_id, why)) = self.stuck.iter().next() else {
            return "no reason: every investigation got there".into();
        };
        let warnings: Vec<Event> = cluster
            .list_kind(&ListParams::default().fields("type=Warning"))
            .await
            .unwrap_or_default();
        // The stream pod's own words first (the scheduler, the quota, the CNI's
        // FailedCreatePodSandBox when pod IPs run out), then its cleanup job's.
        let about = |e: &Event, job: &str| {
            e.involved_object
                .name
                .as_deref()
                .is_some_and(|n| names_job_or_its_pod(n, job))
        };
        let objects = crate::target::names::InvestigationObjects::of(job_id);
        let stream = |e: &&Event| about(e, &objects.stream_job);
        let mine = |e: &&Event| about(e, &objects.cleanup_job);
        let any_stuck = |e: &&Event| {
            self.stuck
                .keys()
                .any(|j| about(e, &format!("grpc-job-{j}")))
        };
        let ev = warnings
            .iter()
            .find(stream)
            .or_else(|| warnings.iter().find(mine))
            .or_else(|| warnings.iter().find(any_stuck));
        match ev {
            Some(e) => format!(
                "{} {}: {}",
                e.reason.as_deref().unwrap_or("?"),
                e.involved_object.name.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or("")
            ),
            None => format!("{job_id}: {why}"),
        }
    }
}

/// Whether `name` is the Job `job` or one of its pods (`<job>-<suffix>`), never
/// another Job whose name merely starts the same (`grpc-job-1-16` vs `grpc-job-1-160`).
fn names_job_or_its_pod(name: &str, job: &str) -> bool {
    name == job
        || name
            .strip_prefix(job)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|suffix| !suffix.is_empty() && !suffix.contains('-'))
}

#[cfg(test)]
mod tests {
    use super::{names_job_or_its_pod, refused_for_quota};
    use crate::target::focus_api::ApiResponse;

    fn answer(status: u16, error: &str) -> ApiResponse {
        ApiResponse {
            method: "POST",
            path: "/configure".into(),
            request_body: None,
            status,
            body: serde_json::json!({ "error": error }),
            latency: std::time::Duration::ZERO,
            headers: Vec::new(),
        }
    }

    /// The old step passed any 503; one for another reason than the quota fails.
    #[test]
    fn only_a_503_in_the_quota_words_is_a_quota_refusal() {
        let words = regex::Regex::new("exceeded quota").expect("regex");
        assert!(refused_for_quota(&answer(503, "pods: exceeded quota: gpu"), &words).is_ok());
        let e = refused_for_quota(
            &answer(503, "Service overloaded: the job could not be launched"),
            &words,
        )
        .expect_err("a 503 for overload is no quota refusal");
        assert!(e.contains("expect.quota_refusal"), "{e}");
        assert!(refused_for_quota(&answer(500, "exceeded quota"), &words).is_err());
    }

    #[test]
    fn events_are_matched_to_their_job_exactly() {
        assert!(names_job_or_its_pod("grpc-job-1-16", "grpc-job-1-16"));
        assert!(names_job_or_its_pod("grpc-job-1-16-x7k2p", "grpc-job-1-16"));
        assert!(!names_job_or_its_pod("grpc-job-1-160", "grpc-job-1-16"));
        assert!(!names_job_or_its_pod(
            "grpc-job-1-160-x7k2p",
            "grpc-job-1-16"
        ));
        assert!(!names_job_or_its_pod("grpc-job-1-16-", "grpc-job-1-16"));
    }
}
