//! The target's vocabulary: the names of an investigation's objects and its slot, the
//! GPU slice resource, the labels the run puts on what it creates, and an object's
//! identity as the run first saw it. The layers above speak of the target in these
//! words (re-exported where they are used: `spec::investigation`, `spec::footprint`,
//! `safety::faults`, `safety::ledger`).

use serde::{Deserialize, Serialize};

/// The three objects Focus Server creates per investigation, by exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvestigationObjects {
    pub job_id: String,
    /// batch/v1 Job running the stream server (`grpc-job-<job_id>`).
    pub stream_job: String,
    /// batch/v1 Job that removes an investigation nobody connects to.
    pub cleanup_job: String,
    /// v1 Service exposing the stream port as a NodePort.
    pub service: String,
}

impl InvestigationObjects {
    pub fn of(job_id: &str) -> InvestigationObjects {
        InvestigationObjects {
            job_id: job_id.to_string(),
            stream_job: focus_sandbox::names::grpc_job_name(job_id),
            cleanup_job: focus_sandbox::names::cleanup_job_name(job_id),
            service: focus_sandbox::names::grpc_service_name(job_id),
        }
    }

    /// The two Jobs, whose pods carry `job-name=<job>`.
    pub fn jobs(&self) -> [&str; 2] {
        [&self.stream_job, &self.cleanup_job]
    }
}

/// The marker a scenario's configures carry to the sandbox
/// (`focus_sandbox::names::MARKER_HEADER`): the sandbox gives a next-investigation
/// setting armed for it (a pod failure, a short idle time) only to those configures,
/// so the scenario arming it runs beside others. The scenario key with every character
/// outside `[A-Za-z0-9._-]` made `-`: safe in a header and a query, and as unique as
/// the key (its sequence number is kept whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SandboxMarker(String);

impl SandboxMarker {
    pub fn of_scenario(scenario: &str) -> SandboxMarker {
        SandboxMarker(
            scenario
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                        c
                    } else {
                        '-'
                    }
                })
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The slot named by a job id (`<slot>-<n>`), when it names one.
pub fn slot_of(job_id: &str) -> Option<u16> {
    job_id.split('-').next()?.parse().ok()
}

/// The extended resource of one GPU slice.
pub const GPU_SLICE: &str = "nvidia.com/gpu.shared";

/// Label every object the suite creates itself carries (never an investigation's).
pub const RUN_LABEL: &str = "focus-scope/run-id";
pub const SCENARIO_LABEL: &str = "focus-scope/scenario";
/// On a Deployment the run scaled: its replicas before (restored by the undo).
pub const ORIGINAL_REPLICAS: &str = "focus-scope/original-replicas";

/// A Kubernetes label value from free text (≤ 63 chars of `[A-Za-z0-9._-]`).
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// One Kubernetes object of an investigation as the run first saw it: its identity,
/// which a later object of the same name (another user's) does not share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnedObject {
    /// `Job`, `Service`.
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// `metadata.creationTimestamp` (RFC 3339), when the object had one.
    #[serde(default)]
    pub created: Option<String>,
}
