//! Named defects: ways to break the sandbox on purpose, one at a time.
//!
//! Each defect has exactly one injection point in the domain layer and breaks a
//! whole rule class (never a single value), so a scenario that tests the class
//! fails for every row. The defect matrix of the suite (`tests/defects.rs` in the
//! root package) relies on these names; they are stable.
//!
//! Past ~400 lines because every defect carries its doc, name and summary in one list,
//! which keeps the names the defect matrix relies on in one place.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rule::Rule;

/// A named way to break the sandbox. Kebab-case on the wire, on the command line
/// (`--defect NAME`) and in the control API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Defect {
    /// Time order is not checked: `start_time >= end_time` is accepted.
    /// Caught by the time-range scenarios (reversed and equal windows, PZ-13869/13552).
    SkipTimeOrderCheck,
    /// Time bounds are not checked: only one of `start_time`/`end_time`, or a
    /// negative timestamp, is accepted. Caught by the one-bound and negative-time
    /// scenarios (PZ-13907/13909).
    SkipTimeBoundsCheck,
    /// Timestamps in the future are accepted (bug PZ-13984). Caught by the
    /// future-window scenarios (PZ-14089).
    SkipFutureTimeCheck,
    /// The channel range is not checked: `channels.min` below the lowest channel,
    /// `channels.max` above the highest, or `min > max` is accepted.
    /// Caught by the channel-range scenarios (PZ-13876/13554).
    SkipChannelRangeCheck,
    /// The channel count limit (2222) is not checked. Caught by the channel-count
    /// boundary scenarios.
    SkipChannelCountCheck,
    /// Singlechannel view accepts `channels.min != channels.max` (bug PZ-13669).
    /// Caught by the singlechannel scenarios.
    SkipSinglechannelCheck,
    /// `frequencyRange` is not checked: above Nyquist, negative, or `min >= max`
    /// is accepted. Caught by the frequency/Nyquist scenarios (PZ-13877/13903/13555).
    SkipFrequencyCheck,
    /// `nfftSelection` is not checked against the per-view-type list.
    /// Caught by the NFFT scenarios (PZ-13874/13875/13901).
    SkipNfftCheck,
    /// `view_type` outside {0,1,2} is accepted (bug PZ-14093).
    /// Caught by the view-type scenarios (PZ-13878).
    SkipViewTypeCheck,
    /// `displayInfo.height <= 0` is accepted. Caught by the height scenarios.
    SkipHeightCheck,
    /// `displayTimeAxisDuration <= 0` is accepted. Caught by the duration scenarios.
    SkipDurationCheck,
    /// Parameters required per view type (`nfftSelection`, `displayTimeAxisDuration`,
    /// `frequencyRange` for multichannel/singlechannel; their absence for waterfall)
    /// are not checked. Caught by the missing-parameter scenarios.
    SkipRequiredParamsCheck,
    /// Schema errors (missing required fields, wrong JSON types, malformed JSON)
    /// are not answered with 422: the parser fails as an unhandled exception would,
    /// 500 `{"error":"Error parsing configuration"}`. Caught by the 422 scenarios.
    SkipSchemaCheck,
    /// A live investigation is opened while the fiber is disconnected.
    /// Caught by the "no live stream" scenarios.
    SkipLiveCheck,
    /// A historic investigation is opened for a window with no recordings.
    /// Caught by the "no historic data" scenarios (PZ-14019).
    SkipHistoricCheck,
    /// The investigation's Job requests no `nvidia.com/gpu.shared`.
    /// Caught by the GPU-slice resource scenario.
    NoGpuRequest,
    /// The investigation's Job has no memory request or limit.
    /// Caught by the memory-allocation resource scenario.
    NoMemoryLimit,
    /// Every response reports the base stream port (12300), which no slot maps to, whatever slot the
    /// investigation really got. Caught by the distinct-ports and
    /// nodePort-equals-stream_port scenarios.
    DuplicatePorts,
    /// The port check before launch is skipped: a NodePort held by another
    /// Service is not skipped, so the Service creation fails and the Job is left
    /// behind (PZ-13503). Caught by the port-busy scenarios.
    IgnorePortBusy,
    /// Cancelling does not delete the investigation's Service.
    /// Caught by the cancel scenarios (nothing remains after cancel).
    LeakServiceOnCancel,
    /// Cancelling deletes the Jobs with Orphan propagation: their pods remain.
    /// Caught by the cancel scenarios (pods are gone after cancel).
    OrphanPodsOnCancel,
    /// `stream_url` names an address that is not a cluster node's InternalIP.
    /// Caught by the IP-address validation scenarios.
    WrongStreamUrl,
    /// `GET /metadata/{job_id}` reports a different `stream_port` and
    /// `channel_amount` than the configure response. Caught by the metadata scenario (PZ-13563).
    MetadataMismatch,
    /// `POST /configure` answers only after a long delay (5 s).
    /// Caught by the configure latency scenarios.
    SlowConfigure,
    /// With `fail_after_jobs` (default 40) investigations open in the cluster, every
    /// further configure answers 503 (the real server "crashed at 40 jobs").
    /// Caught by the 200-investigations capacity scenario (PZ-14088).
    FailAfterNJobs,
    /// When several configures are in flight at once, the server "restarts":
    /// in-flight requests get 500 and its restart counter grows. Caught by the
    /// concurrent-load and stability scenarios.
    RestartUnderLoad,
    /// Slots are never reused: a slot once used stays busy after its
    /// investigation is gone. Caught by the slot-reuse scenarios.
    SlotLeak,
    /// Investigation pods take far beyond any deadline to start: they select a node
    /// label no node has, so they stay Pending (FailedScheduling) on any cluster.
    /// Caught by the pod-running scenarios.
    SlowKubelet,
    /// Inclusive limits are treated as exclusive (an off-by-one class): the lowest
    /// and highest channel, exactly 2222 channels, Nyquist itself, a frequency
    /// minimum of 0, the smallest and largest NFFT of a view, height 1 and duration 1
    /// are rejected. Caught by the boundary rows of the accepted outlines.
    ExclusiveBounds,
    /// The schema is strict where the contract is lax: unknown fields and a
    /// `view_type` sent as a numeric string get 422. Caught by the unknown-field and
    /// numeric-string view type rows.
    StrictSchema,
    /// The configure response breaks its invariants: `lines_dt` is height/duration and
    /// `stream_amount` is one too many. Caught by the response-contract scenarios.
    BadResponseShape,
    /// `/openapi.json` does not publish `DELETE /job/{job_id}`. Caught by the
    /// contract-drift scenario.
    OpenapiDrift,
    /// Configure finds no recording for any historic window (404), while
    /// `/recordings_in_time_range` still lists them. Caught by the historic happy
    /// path and the listing-agrees-with-configure scenarios.
    HistoricLookupBroken,
    /// `GET /metadata/{job_id}` is not routed: 404 `{"detail":"Not Found"}` for every
    /// id. Caught by the metadata scenarios (PZ-13563).
    MetadataRouteMissing,
    /// The grpc Job keeps Kubernetes' default policy: backoffLimit 6 and no
    /// ttlSecondsAfterFinished. Caught by the Job-spec and lost-pod scenarios.
    WrongJobPolicy,
    /// The grpc Job mounts no recordings storage. Caught by the storage scenario.
    NoRecordingsVolume,
    /// Configure answers 200 but never creates `grpc-job-<job_id>`. Caught by every
    /// scenario that looks for the investigation's Job or pod.
    NoStreamJob,
    /// The processing pod names its node itself (`spec.nodeName`, the node of its
    /// stream URL): the scheduler is bypassed, so a cordoned node still gets new
    /// investigations. Caught by the cordon scenario.
    PinnedNode,
    /// The cleanup job never removes an investigation nobody connected to: it stays
    /// until cancelled. Caught by the idle-removal scenario.
    NoIdleCleanup,
    /// A historic window is looked up only after its investigation was launched: a
    /// window without recordings is still refused 404, but the investigation's Jobs and
    /// Service stay behind (PZ-14019). Caught by the "launches nothing" checks of the
    /// no-recording scenarios.
    LaunchBeforeLookup,
    /// `GET /metadata/{job_id}` reports resources the investigation's Job was not
    /// given: two GPU slices and 1Gi of memory. Caught by the metadata-resources
    /// scenario.
    MetadataResourcesMismatch,
    /// The cleanup Job fails instead of completing (its pod exits 1 when the idle time
    /// ends; kube-sim only), and the server removes the investigation on any finished
    /// cleanup Job, so the investigation still goes. Caught by the idle-removal
    /// scenario's "cleanup Job succeeds" step.
    CleanupJobFails,
}

impl Defect {
    /// Every defect, in declaration order.
    pub const ALL: &'static [Defect] = &[
        Defect::SkipTimeOrderCheck,
        Defect::SkipTimeBoundsCheck,
        Defect::SkipFutureTimeCheck,
        Defect::SkipChannelRangeCheck,
        Defect::SkipChannelCountCheck,
        Defect::SkipSinglechannelCheck,
        Defect::SkipFrequencyCheck,
        Defect::SkipNfftCheck,
        Defect::SkipViewTypeCheck,
        Defect::SkipHeightCheck,
        Defect::SkipDurationCheck,
        Defect::SkipRequiredParamsCheck,
        Defect::SkipSchemaCheck,
        Defect::SkipLiveCheck,
        Defect::SkipHistoricCheck,
        Defect::NoGpuRequest,
        Defect::NoMemoryLimit,
        Defect::DuplicatePorts,
        Defect::IgnorePortBusy,
        Defect::LeakServiceOnCancel,
        Defect::OrphanPodsOnCancel,
        Defect::WrongStreamUrl,
        Defect::MetadataMismatch,
        Defect::SlowConfigure,
        Defect::FailAfterNJobs,
        Defect::RestartUnderLoad,
        Defect::SlotLeak,
        Defect::SlowKubelet,
        Defect::ExclusiveBounds,
        Defect::StrictSchema,
        Defect::BadResponseShape,
        Defect::OpenapiDrift,
        Defect::HistoricLookupBroken,
        Defect::MetadataRouteMissing,
        Defect::WrongJobPolicy,
        Defect::NoRecordingsVolume,
        Defect::NoStreamJob,
        Defect::PinnedNode,
        Defect::NoIdleCleanup,
        Defect::LaunchBeforeLookup,
        Defect::MetadataResourcesMismatch,
        Defect::CleanupJobFails,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Defect::SkipTimeOrderCheck => "skip-time-order-check",
            Defect::SkipTimeBoundsCheck => "skip-time-bounds-check",
            Defect::SkipFutureTimeCheck => "skip-future-time-check",
            Defect::SkipChannelRangeCheck => "skip-channel-range-check",
            Defect::SkipChannelCountCheck => "skip-channel-count-check",
            Defect::SkipSinglechannelCheck => "skip-singlechannel-check",
            Defect::SkipFrequencyCheck => "skip-frequency-check",
            Defect::SkipNfftCheck => "skip-nfft-check",
            Defect::SkipViewTypeCheck => "skip-view-type-check",
            Defect::SkipHeightCheck => "skip-height-check",
            Defect::SkipDurationCheck => "skip-duration-check",
            Defect::SkipRequiredParamsCheck => "skip-required-params-check",
            Defect::SkipSchemaCheck => "skip-schema-check",
            Defect::SkipLiveCheck => "skip-live-check",
            Defect::SkipHistoricCheck => "skip-historic-check",
            Defect::NoGpuRequest => "no-gpu-request",
            Defect::NoMemoryLimit => "no-memory-limit",
            Defect::DuplicatePorts => "duplicate-ports",
            Defect::IgnorePortBusy => "ignore-port-busy",
            Defect::LeakServiceOnCancel => "leak-service-on-cancel",
            Defect::OrphanPodsOnCancel => "orphan-pods-on-cancel",
            Defect::WrongStreamUrl => "wrong-stream-url",
            Defect::MetadataMismatch => "metadata-mismatch",
            Defect::SlowConfigure => "slow-configure",
            Defect::FailAfterNJobs => "fail-after-n-jobs",
            Defect::RestartUnderLoad => "restart-under-load",
            Defect::SlotLeak => "slot-leak",
            Defect::SlowKubelet => "slow-kubelet",
            Defect::ExclusiveBounds => "exclusive-bounds",
            Defect::StrictSchema => "strict-schema",
            Defect::BadResponseShape => "bad-response-shape",
            Defect::OpenapiDrift => "openapi-drift",
            Defect::HistoricLookupBroken => "historic-lookup-broken",
            Defect::MetadataRouteMissing => "metadata-route-missing",
            Defect::WrongJobPolicy => "wrong-job-policy",
            Defect::NoRecordingsVolume => "no-recordings-volume",
            Defect::NoStreamJob => "no-stream-job",
            Defect::PinnedNode => "pinned-node",
            Defect::NoIdleCleanup => "no-idle-cleanup",
            Defect::LaunchBeforeLookup => "launch-before-lookup",
            Defect::MetadataResourcesMismatch => "metadata-resources-mismatch",
            Defect::CleanupJobFails => "cleanup-job-fails",
        }
    }

    /// One line: what the defect breaks (the first line of its documentation).
    pub fn breaks(self) -> &'static str {
        match self {
            Defect::SkipTimeOrderCheck => "start_time >= end_time is accepted",
            Defect::SkipTimeBoundsCheck => "one-sided or negative time windows are accepted",
            Defect::SkipFutureTimeCheck => "future timestamps are accepted",
            Defect::SkipChannelRangeCheck => {
                "channels outside 1..highest or min > max are accepted"
            }
            Defect::SkipChannelCountCheck => "more than 2222 channels are accepted",
            Defect::SkipSinglechannelCheck => {
                "singlechannel with channels.min != channels.max is accepted"
            }
            Defect::SkipFrequencyCheck => {
                "frequencyRange outside 0 <= min < max <= Nyquist is accepted"
            }
            Defect::SkipNfftCheck => "nfftSelection is not checked per view type",
            Defect::SkipViewTypeCheck => "view_type outside {0,1,2} is accepted",
            Defect::SkipHeightCheck => "displayInfo.height <= 0 is accepted",
            Defect::SkipDurationCheck => "displayTimeAxisDuration <= 0 is accepted",
            Defect::SkipRequiredParamsCheck => "per-view-type required parameters are not checked",
            Defect::SkipSchemaCheck => "schema errors answer 500 instead of 422",
            Defect::SkipLiveCheck => "live investigations open without a fiber",
            Defect::SkipHistoricCheck => {
                "historic investigations open on windows without recordings"
            }
            Defect::NoGpuRequest => "the Job requests no nvidia.com/gpu.shared",
            Defect::NoMemoryLimit => "the Job has no memory request or limit",
            Defect::DuplicatePorts => {
                "every response reports stream port 12300, the base port no slot maps to"
            }
            Defect::IgnorePortBusy => "a NodePort held by another Service is not skipped",
            Defect::LeakServiceOnCancel => "cancel leaves the Service behind",
            Defect::OrphanPodsOnCancel => "cancel orphans the pods",
            Defect::WrongStreamUrl => "stream_url is not a node's InternalIP",
            Defect::MetadataMismatch => "metadata disagrees with the configure response",
            Defect::SlowConfigure => "configure answers after 5 s",
            Defect::FailAfterNJobs => "configure answers 503 once N investigations are open",
            Defect::RestartUnderLoad => "concurrent configures crash the server",
            Defect::SlotLeak => "slots are never reused",
            Defect::SlowKubelet => "investigation pods start far beyond any deadline",
            Defect::ExclusiveBounds => "values at inclusive limits are rejected",
            Defect::StrictSchema => "unknown fields and numeric-string view_type get 422",
            Defect::BadResponseShape => "lines_dt and stream_amount break their invariants",
            Defect::OpenapiDrift => "/openapi.json omits DELETE /job/{job_id}",
            Defect::HistoricLookupBroken => "historic configure finds no recording for any window",
            Defect::MetadataRouteMissing => "GET /metadata/{job_id} is not routed",
            Defect::WrongJobPolicy => "the grpc Job has backoffLimit 6 and no TTL",
            Defect::NoRecordingsVolume => "the grpc Job mounts no recordings storage",
            Defect::NoStreamJob => "configure never creates the grpc Job",
            Defect::PinnedNode => {
                "the Job's pod bypasses the scheduler: cordoned nodes still run it"
            }
            Defect::NoIdleCleanup => "an investigation nobody connects to is never removed",
            Defect::LaunchBeforeLookup => {
                "a historic window without recordings is refused but its investigation stays"
            }
            Defect::MetadataResourcesMismatch => "metadata reports resources the Job was not given",
            Defect::CleanupJobFails => {
                "the cleanup Job fails instead of completing; the investigation still goes"
            }
        }
    }

    /// The validation rule class this defect switches off, if it is a validation defect.
    pub fn disables(self) -> Option<Rule> {
        Some(match self {
            Defect::SkipTimeOrderCheck => Rule::TimeOrder,
            Defect::SkipTimeBoundsCheck => Rule::TimeBounds,
            Defect::SkipFutureTimeCheck => Rule::FutureTime,
            Defect::SkipChannelRangeCheck => Rule::ChannelRange,
            Defect::SkipChannelCountCheck => Rule::ChannelCount,
            Defect::SkipSinglechannelCheck => Rule::Singlechannel,
            Defect::SkipFrequencyCheck => Rule::Frequency,
            Defect::SkipNfftCheck => Rule::Nfft,
            Defect::SkipViewTypeCheck => Rule::ViewType,
            Defect::SkipHeightCheck => Rule::Height,
            Defect::SkipDurationCheck => Rule::Duration,
            Defect::SkipRequiredParamsCheck => Rule::RequiredParams,
            Defect::SkipSchemaCheck => Rule::Schema,
            Defect::SkipLiveCheck => Rule::LiveData,
            Defect::SkipHistoricCheck => Rule::HistoricData,
            _ => return None,
        })
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown defect name.
#[derive(Debug, thiserror::Error)]
#[error("unknown defect {0:?} (known: {known})", known = known_names())]
pub struct UnknownDefect(pub String);

fn known_names() -> String {
    Defect::ALL
        .iter()
        .map(|d| d.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| UnknownDefect(s.to_owned()))
    }
}

/// The set of defects in force.
pub type DefectSet = BTreeSet<Defect>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for d in Defect::ALL {
            assert_eq!(d.name().parse::<Defect>().ok(), Some(*d));
            let json = serde_json::to_value(d).ok();
            assert_eq!(json, Some(serde_json::Value::String(d.name().into())));
        }
        assert!("no-such-defect".parse::<Defect>().is_err());
    }

    #[test]
    fn every_validation_rule_has_a_defect() {
        for rule in Rule::ALL {
            assert!(
                Defect::ALL.iter().any(|d| d.disables() == Some(*rule)),
                "{rule:?} has no defect"
            );
        }
    }
}
