//! Small read endpoints and the sandbox control API (`/_sandbox/...`): fiber,
//! recordings, defects, pod failures, pod network exhaustion, idle time, counters. Documented in the crate README.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::catalogue::Recording;
use crate::defects::Defect;
use crate::error::AppError;
use crate::manifests::PodFailure;
use crate::manifests::sim::POD_CIDR_EXHAUSTED;
use crate::request::TimeWindow;
use crate::state::AppState;

/// `GET /channels`.
pub fn channels(s: &AppState) -> Value {
    json!({
        "lowest_channel": s.config().lowest_channel,
        "highest_channel": s.config().highest_channel,
    })
}

/// `POST /recordings_in_time_range`: `[start, end]` pairs overlapping the window.
pub fn recordings_in_time_range(s: &AppState, w: TimeWindow) -> Result<Value, AppError> {
    if w.start_time < 0 || w.end_time < 0 {
        return Err(AppError::BadRequest(
            "Invalid time range: start_time and end_time must not be negative".into(),
        ));
    }
    if w.start_time >= w.end_time {
        return Err(AppError::BadRequest(format!(
            "Invalid time range: start_time ({}) must be before end_time ({})",
            w.start_time, w.end_time
        )));
    }
    let now = Timestamp::now().as_second();
    Ok(json!(s.catalogue().in_range(w.start_time, w.end_time, now)))
}

/// Body of `PUT /_sandbox/fiber`.
#[derive(Debug, Deserialize)]
pub struct FiberRequest {
    /// Connect (true) or disconnect (false) the fiber.
    pub connected: bool,
}

/// `GET /_sandbox/fiber`.
pub fn fiber(s: &AppState) -> Value {
    let c = s.catalogue();
    json!({ "connected": c.fiber_connected, "prr": c.prr })
}

/// `PUT /_sandbox/fiber`.
pub fn set_fiber(s: &AppState, req: FiberRequest) -> Value {
    let now = Timestamp::now().as_second();
    s.update_catalogue(|c| c.set_fiber(req.connected, now));
    fiber(s)
}

/// Body of `PUT /_sandbox/recordings`: `[[start, end], ...]` (end -1 = ongoing) and
/// an optional PRR for all of them.
#[derive(Debug, Deserialize)]
pub struct RecordingsRequest {
    /// `[start, end]` pairs, epoch seconds.
    pub recordings: Vec<[i64; 2]>,
    /// PRR (Hz) of these recordings (default: the server's).
    #[serde(default)]
    pub prr: Option<f64>,
}

/// `GET /_sandbox/recordings`: every recording, the implicit ongoing one included.
pub fn recordings(s: &AppState) -> Value {
    let all: Vec<[i64; 2]> = s.catalogue().all().iter().map(Recording::pair).collect();
    json!({ "recordings": all })
}

/// `PUT /_sandbox/recordings`: replaces the finished recordings (the ongoing one
/// still follows the fiber).
pub fn set_recordings(s: &AppState, req: RecordingsRequest) -> Result<Value, AppError> {
    let prr = req.prr.unwrap_or(s.config().prr);
    if !(prr.is_finite() && prr > 0.0) {
        return Err(AppError::BadRequest("prr must be a positive number".into()));
    }
    let mut list = Vec::with_capacity(req.recordings.len());
    for [start, end] in req.recordings {
        if end != -1 && end < start {
            return Err(AppError::BadRequest(format!(
                "recording [{start}, {end}] ends before it starts"
            )));
        }
        list.push(Recording {
            start,
            end: (end != -1).then_some(end),
            prr,
        });
    }
    s.update_catalogue(|c| c.recordings = list);
    Ok(recordings(s))
}

/// `DELETE /_sandbox/recordings`: back to the default catalogue.
pub fn reset_recordings(s: &AppState) -> Value {
    let cfg = s.config().clone();
    s.update_catalogue(|c| c.reset_recordings(&cfg, Timestamp::now()));
    recordings(s)
}

/// `GET /_sandbox/defects`.
pub fn defects(s: &AppState) -> Value {
    let enabled: Vec<&str> = s.defects().iter().map(|d| d.name()).collect();
    let available: Vec<Value> = Defect::ALL
        .iter()
        .map(|d| json!({ "name": d.name(), "breaks": d.breaks() }))
        .collect();
    json!({ "enabled": enabled, "available": available })
}

/// `PUT|DELETE /_sandbox/defects/{name}`.
pub fn set_defect(s: &AppState, name: &str, on: bool) -> Result<Value, AppError> {
    let d: Defect = name
        .parse()
        .map_err(|e: crate::defects::UnknownDefect| AppError::NotFound(e.to_string()))?;
    s.set_defect(d, on);
    Ok(defects(s))
}

/// `DELETE /_sandbox/defects`.
pub fn clear_defects(s: &AppState) -> Value {
    s.clear_defects();
    defects(s)
}

/// The `marker` query of `GET`/`DELETE` on a next-investigation setting: the setting
/// armed for configures carrying that marker (none: the unmarked one).
#[derive(Debug, Default, Deserialize)]
pub struct MarkerQuery {
    /// A request marker ([`crate::names::MARKER_HEADER`]).
    pub marker: Option<String>,
}

/// Body of `PUT /_sandbox/next-pod-failure`.
#[derive(Debug, Deserialize)]
pub struct PodFailureRequest {
    /// `image-pull`, `crash` or `oom`.
    pub kind: PodFailure,
    /// Only the next configure carrying this marker takes it (none: the next configure).
    #[serde(default)]
    pub marker: Option<String>,
}

/// `GET /_sandbox/next-pod-failure`.
pub fn pod_failure(s: &AppState, marker: Option<&str>) -> Value {
    json!({ "kind": s.next_pod_failure(marker), "marker": marker })
}

/// `PUT /_sandbox/next-pod-failure`: the next investigation's processing pod fails
/// (kube-sim only: 400 against a real cluster).
pub fn set_pod_failure(s: &AppState, req: PodFailureRequest) -> Result<Value, AppError> {
    if !s.config().sim_conventions {
        return Err(AppError::BadRequest(
            "pod failures need kube-sim (sim_conventions is off against a real cluster)".into(),
        ));
    }
    let marker = req.marker.as_deref();
    s.set_next_pod_failure(marker, Some(req.kind));
    Ok(pod_failure(s, marker))
}

/// `DELETE /_sandbox/next-pod-failure`.
pub fn clear_pod_failure(s: &AppState, marker: Option<&str>) -> Value {
    s.set_next_pod_failure(marker, None);
    pod_failure(s, marker)
}

/// Body of `PUT /_sandbox/next-idle-timeout`.
#[derive(Debug, Deserialize)]
pub struct IdleTimeoutRequest {
    /// The next investigation's idle time, whole seconds (≥ 1).
    pub secs: u64,
    /// Only the next configure carrying this marker takes it (none: the next configure).
    #[serde(default)]
    pub marker: Option<String>,
}

/// `GET /_sandbox/next-idle-timeout`.
pub fn idle_timeout(s: &AppState, marker: Option<&str>) -> Value {
    json!({ "secs": s.next_idle_secs(marker), "marker": marker })
}

/// `PUT /_sandbox/next-idle-timeout`: the next investigation's cleanup job waits this
/// long instead of `idle_timeout_secs`, so an idle-removal scenario waits seconds while
/// every other investigation keeps the long idle time.
pub fn set_idle_timeout(s: &AppState, req: IdleTimeoutRequest) -> Result<Value, AppError> {
    if req.secs == 0 {
        return Err(AppError::BadRequest("secs must be at least 1".into()));
    }
    let marker = req.marker.as_deref();
    s.set_next_idle_secs(marker, Some(req.secs));
    Ok(idle_timeout(s, marker))
}

/// `DELETE /_sandbox/next-idle-timeout`.
pub fn clear_idle_timeout(s: &AppState, marker: Option<&str>) -> Value {
    s.set_next_idle_secs(marker, None);
    idle_timeout(s, marker)
}

/// `GET /_sandbox/counters`.
pub fn counters(s: &AppState) -> Value {
    json!(s.counters_snapshot())
}

/// `GET /_sandbox/state`: profile, defects, fiber, settings.
pub fn state(s: &AppState) -> Value {
    json!({
        "profile": s.profile().name(),
        "namespace": s.namespace(),
        "prefix": s.prefix(),
        "defects": s.defects().iter().map(|d| d.name()).collect::<Vec<_>>(),
        "fiber_connected": s.catalogue().fiber_connected,
        "config": s.config(),
        "counters": s.counters_snapshot(),
    })
}

/// `GET /_sandbox/pod-network-exhausted`: the nodes whose pod CIDR has no free address.
pub async fn pod_network_exhausted(s: &AppState) -> Result<Value, AppError> {
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(s.client().clone());
    let exhausted: Vec<String> = nodes
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|n| {
            n.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(POD_CIDR_EXHAUSTED))
                .is_some_and(|v| v == "true")
        })
        .filter_map(|n| n.metadata.name)
        .collect();
    Ok(json!({ "exhausted_nodes": exhausted }))
}

/// `PUT /_sandbox/pod-network-exhausted` (`true`) and `DELETE` (`false`): every node's
/// pod CIDR runs out of addresses, or has them again (kube-sim only: 400 against a
/// real cluster). Answers the nodes exhausted now.
pub async fn set_pod_network_exhausted(s: &AppState, on: bool) -> Result<Value, AppError> {
    if !s.config().sim_conventions {
        return Err(AppError::BadRequest(
            "pod network exhaustion needs kube-sim (sim_conventions is off against a real cluster)"
                .into(),
        ));
    }
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(s.client().clone());
    let value = if on { json!("true") } else { Value::Null };
    let patch = json!({"metadata": {"annotations": { POD_CIDR_EXHAUSTED: value }}});
    for n in nodes.list(&Default::default()).await?.items {
        let Some(name) = n.metadata.name else {
            continue;
        };
        nodes
            .patch(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await?;
    }
    pod_network_exhausted(s).await
}
