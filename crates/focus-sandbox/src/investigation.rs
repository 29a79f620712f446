//! Investigations: open (`POST /configure`), describe (`GET /metadata/{job_id}`)
//! and cancel (`DELETE /job/{job_id}`), all through the Kubernetes API.
//!
//! One module past ~400 lines: open, describe and cancel share the Job lookup
//! (`live_job`), rollback and object removal; the last ~90 lines are tests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde::Serialize;
use serde_json::{Value, json};

use crate::catalogue::{Catalogue, Recording};
use crate::config::ServerProfile;
use crate::defects::Defect;
use crate::error::AppError;
use crate::manifests::{self, JobPlan, annotations};
use crate::names::{self, JobId};
use crate::request::{ConfigureRequest, parse_configure, view_type};
use crate::rule::Rule;
use crate::slots::{self, Choice};
use crate::state::{AppState, bump};
use crate::validation::{self, Mode};

/// Message of the 503 when no live stream exists (as-required).
pub const LIVE_UNAVAILABLE: &str =
    "Live stream unavailable: the fiber is not connected (waiting for fiber)";
/// The real server's unclear 503 message without a fiber (as-observed, PZ-14713).
pub const OBSERVED_NO_FIBER: &str = "Cannot proceed: Missing required fiber metadata fields: prr";
/// Message of the 404 for a historic window without recordings.
pub const NO_RECORDING: &str = "No recording found in given time range";
/// Message of the 404 for an unknown job id.
pub const INVALID_JOB_ID: &str = "Invalid job_id";
/// An address that is no cluster node's (TEST-NET-1), for `wrong-stream-url`.
pub const WRONG_STREAM_IP: &str = "192.0.2.10";

/// The configure response (and the core of the metadata response).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigureResponse {
    /// "Config received" (as-required) or "" (as-observed).
    pub status: String,
    /// Frequency bin centres, Hz.
    pub frequencies_list: Vec<f64>,
    /// Seconds per line (`displayTimeAxisDuration / displayInfo.height`).
    pub lines_dt: f64,
    /// Channel number (as a string) → 0-based stream index.
    pub channel_to_stream_index: BTreeMap<String, u32>,
    /// Number of distinct streams.
    pub stream_amount: u32,
    /// `"<slot>-<seq>"`.
    pub job_id: String,
    /// `len(frequencies_list)`.
    pub frequencies_amount: usize,
    /// `len(channel_to_stream_index)`.
    pub channel_amount: usize,
    /// NodePort of the stream (12300 + slot).
    pub stream_port: u16,
    /// `"http://<node InternalIP>"`.
    pub stream_url: String,
    /// View type code.
    pub view_type: i64,
    /// Recording metadata (historic only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Most channels a response maps (protects against absurd ranges when checks are off).
const MAX_MAPPED_CHANNELS: i64 = 100_000;
/// Most frequency bins a response lists.
const MAX_BINS: usize = 65_536;
/// Streams of a multichannel investigation.
const STREAMS_PER_INVESTIGATION: i64 = 3;

/// Derives the response fields from a request. Pure.
pub fn describe(
    req: &ConfigureRequest,
    id: JobId,
    stream_port: u16,
    stream_url: String,
    prr: f64,
    recording: Option<&Recording>,
    profile: ServerProfile,
) -> ConfigureResponse {
    // Channels → streams.
    let mut map = BTreeMap::new();
    let stream_amount = if req.view_type == view_type::SINGLECHANNEL {
        map.insert(req.channels.min.to_string(), 0);
        1
    } else {
        let count = (i128::from(req.channels.max) - i128::from(req.channels.min) + 1)
            .clamp(0, i128::from(MAX_MAPPED_CHANNELS));
        let count = i64::try_from(count).unwrap_or(0);
        let streams = count.clamp(1, STREAMS_PER_INVESTIGATION);
        let block = (count + streams - 1) / streams;
        for i in 0..count {
            let stream = u32::try_from(i / block.max(1)).unwrap_or(0);
            map.insert(req.channels.min.saturating_add(i).to_string(), stream);
        }
        if count == 0 {
            0
        } else {
            u32::try_from(streams).unwrap_or(1)
        }
    };

    // Frequencies.
    let mut frequencies = Vec::new();
    if req.view_type != view_type::WATERFALL {
        let nyquist = prr / 2.0;
        #[allow(clippy::cast_precision_loss)]
        let (fmin, fmax) = match req.frequency_range {
            Some(f) => (f.min as f64, f.max as f64),
            None => (0.0, nyquist),
        };
        #[allow(clippy::cast_precision_loss)]
        let nfft = match req.nfft_selection {
            Some(n) if n > 1 => n as f64,
            _ => 1024.0,
        };
        let spacing = prr / nfft;
        if spacing.is_finite() && spacing > 0.0 {
            let mut k = 0.0_f64;
            while frequencies.len() < MAX_BINS {
                let f = fmin + k * spacing;
                if f >= fmax {
                    break;
                }
                frequencies.push((f * 10_000.0).round() / 10_000.0);
                k += 1.0;
            }
        }
    }

    // Time per line.
    #[allow(clippy::cast_precision_loss)]
    let lines_dt = match (req.display_time_axis_duration, req.height) {
        (Some(d), h) if d > 0 && h > 0 => d as f64 / h as f64,
        (Some(d), _) if d > 0 => d as f64,
        _ if prr > 0.0 => 1.0 / prr,
        _ => 0.0,
    };

    ConfigureResponse {
        status: match profile {
            ServerProfile::AsRequired => "Config received".into(),
            ServerProfile::AsObserved => String::new(),
        },
        frequencies_amount: frequencies.len(),
        frequencies_list: frequencies,
        lines_dt,
        channel_amount: map.len(),
        channel_to_stream_index: map,
        stream_amount,
        job_id: id.to_string(),
        stream_port,
        stream_url,
        view_type: req.view_type,
        metadata: recording.map(Catalogue::recording_metadata),
    }
}

/// Processing args of the pod (`--roi`, `-sg`, ...), without the time window.
fn processing_args(req: &ConfigureRequest, streams: u32, id: JobId) -> Vec<String> {
    let mut args = vec![
        "--roi".to_owned(),
        req.channels.min.to_string(),
        req.channels.max.to_string(),
        "--view-type".to_owned(),
        req.view_type.to_string(),
        "--grpc-streams-num".to_owned(),
        streams.to_string(),
        "--queue-name".to_owned(),
        format!("focus-{id}"),
    ];
    if let Some(n) = req.nfft_selection {
        args.extend(["-sg".to_owned(), n.to_string()]);
    }
    if let Some(f) = req.frequency_range {
        args.extend([
            "--sg-range".to_owned(),
            f.min.to_string(),
            f.max.to_string(),
        ]);
    }
    args
}

/// `POST /configure`; `marker` ([`crate::names::MARKER_HEADER`]) selects the
/// next-investigation settings armed for it.
pub async fn open(
    state: &AppState,
    body: &[u8],
    marker: Option<&str>,
) -> Result<ConfigureResponse, AppError> {
    let counters = state.counters();
    bump(&counters.configure_requests);
    let (_in_flight, in_flight) = state.enter_configure();
    let result = open_checked(state, body, marker, in_flight).await;
    if let Err(e) = &result {
        tracing::debug!(status = e.status().as_u16(), error = %e, body = %String::from_utf8_lossy(body), "configure rejected");
    }
    match &result {
        Ok(_) => bump(&counters.configure_ok),
        Err(e) if e.status().is_client_error() => bump(&counters.configure_rejected),
        Err(_) => bump(&counters.configure_failed),
    }
    result
}

async fn open_checked(
    state: &AppState,
    body: &[u8],
    marker: Option<&str>,
    in_flight: usize,
) -> Result<ConfigureResponse, AppError> {
    let cfg = state.config();
    let policy = state.policy();
    let profile = state.profile();

    if state.has(Defect::SlowConfigure) {
        tokio::time::sleep(Duration::from_millis(cfg.slow_configure_ms)).await;
    }
    if state.has(Defect::RestartUnderLoad) && in_flight >= cfg.restart_threshold {
        state.simulate_restart();
        crate::presence::restart_focus_server(state).await;
        return Err(AppError::Internal(
            "Focus Server restarted while handling the request".into(),
        ));
    }
    if state.has(Defect::StrictSchema) {
        crate::request::strict_schema(body)?;
    }
    let req = match parse_configure(body) {
        Err(AppError::Unprocessable(_)) if !policy.enforces(Rule::Schema) => {
            return Err(AppError::Internal("Error parsing configuration".into()));
        }
        other => other?,
    };
    let now = Timestamp::now().as_second();
    let mode = validation::check_fields(&req, &policy, cfg, now)?;

    let catalogue = state.catalogue();
    let (prr, recording) = match mode {
        Mode::Live => {
            if !catalogue.fiber_connected && policy.enforces(Rule::LiveData) {
                return Err(AppError::Unavailable(
                    match profile {
                        ServerProfile::AsRequired => LIVE_UNAVAILABLE,
                        ServerProfile::AsObserved => OBSERVED_NO_FIBER,
                    }
                    .into(),
                ));
            }
            (catalogue.prr, None)
        }
        // PZ-13759: the real server launched a negative window without looking it up.
        Mode::Historic { start, end }
            if (start < 0 || end < 0) && policy.has_gap(validation::Gap::NegativeTimes) =>
        {
            (cfg.prr, None)
        }
        Mode::Historic { start, end } => match catalogue
            .find(start, end, now, profile)
            .filter(|_| !state.has(Defect::HistoricLookupBroken))
        {
            Some(rec) => (rec.prr, Some(rec)),
            None if policy.enforces(Rule::HistoricData) => {
                if state.has(Defect::LaunchBeforeLookup) {
                    // The answer is the same 404 either way; what stays is the defect.
                    let _ = launch(state, &req, mode, cfg.prr, None, marker).await;
                }
                return Err(AppError::NotFound(NO_RECORDING.into()));
            }
            None => (cfg.prr, None),
        },
    };
    validation::check_frequency(&req, &policy, prr / 2.0)?;

    launch(state, &req, mode, prr, recording.as_ref(), marker).await
}

/// Ready nodes' InternalIPs, sorted by node name.
/// Ready nodes as `(name, InternalIP)`, by name.
async fn ready_nodes(state: &AppState) -> Result<Vec<(String, String)>, AppError> {
    let nodes: Api<Node> = Api::all(state.client().clone());
    let mut list = nodes.list(&ListParams::default()).await?.items;
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(list
        .into_iter()
        .filter_map(|n| {
            let status = n.status?;
            let ready = status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if !ready {
                return None;
            }
            let name = n.metadata.name?;
            status
                .addresses
                .unwrap_or_default()
                .into_iter()
                .find(|a| a.type_ == "InternalIP")
                .map(|a| (name, a.address))
        })
        .collect())
}

/// Removes a slot reservation when dropped.
struct Reservation {
    state: AppState,
    slot: u16,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.state.reserved().remove(&self.slot);
    }
}

enum CreateError {
    /// The Service's NodePort was taken (K8s 422 "provided port is already allocated").
    PortTaken,
    Failed(AppError),
}

fn is_port_taken(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            (s.is_invalid() || s.code == 422) && s.message.contains("already allocated")
        }
        _ => false,
    }
}

async fn launch(
    state: &AppState,
    req: &ConfigureRequest,
    mode: Mode,
    prr: f64,
    recording: Option<&Recording>,
    marker: Option<&str>,
) -> Result<ConfigureResponse, AppError> {
    let cfg = state.config();
    let profile = state.profile();
    // The real server does not check the port first; nor does `ignore-port-busy`.
    let observed_launch = profile == ServerProfile::AsObserved || state.has(Defect::IgnorePortBusy);
    let nodes = ready_nodes(state).await?;
    let mut excluded = BTreeSet::new();
    loop {
        let (id, reservation) = {
            let _guard = state.allocation_lock().await;
            // Reservations before the cluster: a configure that releases its
            // reservation after this snapshot created its objects before the listing
            // below, so each slot in use shows in one of the two. Read the other way
            // round, a slot released while the listing is under way shows in neither
            // and is handed out twice (only a port check would then catch it).
            let reserved = state.reserved().clone();
            let usage = slots::observe(state.client(), state.namespace()).await?;
            let open = usage.named_slots.len() + reserved.len();
            if state.has(Defect::FailAfterNJobs)
                && u64::try_from(open).unwrap_or(u64::MAX) >= cfg.fail_after_jobs
            {
                return Err(AppError::Unavailable(
                    "Service overloaded: the job could not be launched".into(),
                ));
            }
            let leaked = state.leaked().clone();
            let slot = slots::pick(
                &usage,
                Choice {
                    reserved: &reserved,
                    leaked: &leaked,
                    excluded: &excluded,
                    max_slots: cfg.max_slots,
                    base_port: cfg.base_stream_port,
                    check_ports: !observed_launch,
                },
            );
            let Some(slot) = slot else {
                return Err(AppError::Unavailable(format!(
                    "No free stream port: all {} stream ports ({}-{}) are taken",
                    cfg.max_slots,
                    cfg.port_of(1),
                    cfg.port_of(cfg.max_slots)
                )));
            };
            state.reserved().insert(slot);
            let seq = state.next_seq(usage.max_seq);
            (
                JobId { slot, seq },
                Reservation {
                    state: state.clone(),
                    slot,
                },
            )
        };
        let stream_url = if state.has(Defect::WrongStreamUrl) {
            format!("http://{WRONG_STREAM_IP}")
        } else {
            let Some((_, ip)) = nodes.get(usize::from(id.slot) % nodes.len().max(1)) else {
                return Err(AppError::Unavailable(
                    "No Ready cluster node to stream from".into(),
                ));
            };
            format!("http://{ip}")
        };
        let mut response = describe(
            req,
            id,
            cfg.port_of(id.slot),
            stream_url.clone(),
            prr,
            recording,
            profile,
        );
        if state.has(Defect::BadResponseShape) {
            response.lines_dt = if response.lines_dt > 0.0 {
                1.0 / response.lines_dt
            } else {
                1.0
            };
            response.stream_amount += 1;
        }
        let plan = JobPlan {
            id,
            node_port: cfg.port_of(id.slot),
            mode,
            args: processing_args(req, response.stream_amount, id),
            gpu: !state.has(Defect::NoGpuRequest),
            memory: (profile == ServerProfile::AsRequired && !state.has(Defect::NoMemoryLimit))
                .then(|| cfg.job_memory.clone()),
            cpu: (profile == ServerProfile::AsRequired).then(|| cfg.job_cpu.clone()),
            image: cfg.job_image.clone(),
            cleanup_image: cfg.cleanup_image.clone(),
            idle_secs: state
                .take_idle_secs(marker)
                .unwrap_or(cfg.idle_timeout_secs),
            configuration: req.raw.to_string(),
            stream_url,
            sim_conventions: cfg.sim_conventions,
            pod_failure: state.take_pod_failure(marker),
            never_start: state.has(Defect::SlowKubelet),
            default_job_policy: state.has(Defect::WrongJobPolicy),
            recordings_volume: !state.has(Defect::NoRecordingsVolume),
            stream_job: !state.has(Defect::NoStreamJob),
            // `pinned-node`: the pod names the node of its stream URL itself.
            node_name: state
                .has(Defect::PinnedNode)
                .then(|| nodes.get(usize::from(id.slot) % nodes.len().max(1)))
                .flatten()
                .map(|(name, _)| name.clone()),
            cleanup_fails: state.has(Defect::CleanupJobFails),
        };
        let created = if observed_launch {
            create_as_observed(state, &plan).await
        } else {
            create_checked(state, &plan).await
        };
        match created {
            Ok(()) => {
                if state.has(Defect::SlotLeak) {
                    state.leaked().insert(id.slot);
                }
                drop(reservation);
                let mut response = response;
                if state.has(Defect::DuplicatePorts) {
                    // The base port itself: no slot maps to it, whichever slot was handed out.
                    response.stream_port = cfg.port_of(0);
                }
                return Ok(response);
            }
            Err(CreateError::PortTaken) => {
                bump(&state.counters().ports_skipped);
                excluded.insert(id.slot);
            }
            Err(CreateError::Failed(e)) => return Err(e),
        }
    }
}

/// As required: the Service first (it claims the port), then the Jobs; anything
/// half-created is rolled back.
async fn create_checked(state: &AppState, plan: &JobPlan) -> Result<(), CreateError> {
    let client = state.client().clone();
    let ns = state.namespace();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client, ns);
    let pp = PostParams::default();
    let id = plan.id.to_string();

    if let Err(e) = services.create(&pp, &manifests::grpc_service(plan)).await {
        return Err(if is_port_taken(&e) {
            CreateError::PortTaken
        } else {
            CreateError::Failed(e.into())
        });
    }
    if plan.stream_job
        && let Err(e) = jobs.create(&pp, &manifests::grpc_job(plan)).await
    {
        rollback(state, &id, false).await;
        return Err(CreateError::Failed(e.into()));
    }
    if let Err(e) = jobs.create(&pp, &manifests::cleanup_job(plan)).await {
        rollback(state, &id, true).await;
        return Err(CreateError::Failed(e.into()));
    }
    Ok(())
}

/// As observed: Jobs first, then the Service; a taken port breaks the job (the
/// Service is missing, the Jobs stay, the response still says success — PZ-13503).
async fn create_as_observed(state: &AppState, plan: &JobPlan) -> Result<(), CreateError> {
    let client = state.client().clone();
    let ns = state.namespace();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client, ns);
    let pp = PostParams::default();
    if plan.stream_job {
        jobs.create(&pp, &manifests::grpc_job(plan))
            .await
            .map_err(|e| CreateError::Failed(e.into()))?;
    }
    jobs.create(&pp, &manifests::cleanup_job(plan))
        .await
        .map_err(|e| CreateError::Failed(e.into()))?;
    if let Err(e) = services.create(&pp, &manifests::grpc_service(plan)).await {
        tracing::warn!(job_id = %plan.id, error = %e, "service creation failed; the job is broken");
    }
    Ok(())
}

async fn rollback(state: &AppState, id: &str, grpc_job_created: bool) {
    bump(&state.counters().rollbacks);
    let client = state.client().clone();
    let ns = state.namespace();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client, ns);
    let dp = DeleteParams::background();
    if grpc_job_created {
        // Failures are logged; the response is an error either way.
        let _ = ignore_not_found(
            jobs.delete(&names::grpc_job_name(id), &dp)
                .await
                .map(|_| ()),
        );
    }
    let _ = ignore_not_found(
        services
            .delete(&names::grpc_service_name(id), &dp)
            .await
            .map(|_| ()),
    );
}

fn ignore_not_found(r: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match r {
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "delete failed");
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

/// The live processing Job of `job_id`, if it exists and is not being deleted.
async fn live_job(state: &AppState, job_id: &str) -> Result<Option<(JobId, Job)>, AppError> {
    let Some(id) = JobId::parse(job_id) else {
        return Ok(None);
    };
    if state.cancelled().contains(job_id) {
        return Ok(None);
    }
    let jobs: Api<Job> = Api::namespaced(state.client().clone(), state.namespace());
    Ok(jobs
        .get_opt(&names::grpc_job_name(job_id))
        .await?
        .filter(|j| j.metadata.deletion_timestamp.is_none())
        .map(|j| (id, j)))
}

/// `GET /metadata/{job_id}`.
pub async fn metadata(state: &AppState, job_id: &str) -> Result<Value, AppError> {
    let not_found = || AppError::NotFound(INVALID_JOB_ID.into());
    if state.profile() == ServerProfile::AsObserved {
        // The real server answers 404 even for running jobs (backlog).
        return Err(not_found());
    }
    let (id, job) = live_job(state, job_id).await?.ok_or_else(not_found)?;
    let ann = job.metadata.annotations.clone().unwrap_or_default();
    let raw = ann
        .get(annotations::CONFIGURATION)
        .ok_or_else(not_found)?
        .clone();
    let req = parse_configure(raw.as_bytes()).map_err(|_| not_found())?;
    let stream_url = ann
        .get(annotations::STREAM_URL)
        .cloned()
        .unwrap_or_default();
    let cfg = state.config();
    let catalogue = state.catalogue();
    let now = Timestamp::now().as_second();
    let (prr, recording) = match (req.start_time, req.end_time) {
        (Some(s), Some(e)) => match catalogue.find(s, e, now, state.profile()) {
            Some(r) => (r.prr, Some(r)),
            None => (cfg.prr, None),
        },
        _ => (catalogue.prr, None),
    };
    let mut response = describe(
        &req,
        id,
        cfg.port_of(id.slot),
        stream_url,
        prr,
        recording.as_ref(),
        state.profile(),
    );
    if state.has(Defect::MetadataMismatch) {
        response.stream_port = response.stream_port.saturating_add(1);
        response.channel_amount += 1;
    }
    let status = job_status(state, &job).await?;
    let mut body = serde_json::to_value(&response)
        .map_err(|e| AppError::Internal(format!("cannot encode metadata: {e}")))?;
    if let Value::Object(map) = &mut body {
        map.insert("job_status".into(), Value::from(status));
        map.insert("configuration".into(), req.raw);
        map.insert("resources".into(), allocated_resources(state, &job));
    }
    Ok(body)
}

/// What the investigation was allocated: the processing container's `requests` and
/// `limits` as its Job holds them (`metadata-resources-mismatch`: a GPU slice too
/// many and half the memory).
fn allocated_resources(state: &AppState, job: &Job) -> Value {
    let resources = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.resources.clone())
        .unwrap_or_default();
    let mut v = serde_json::json!({
        "requests": resources.requests.unwrap_or_default(),
        "limits": resources.limits.unwrap_or_default(),
    });
    if state.has(Defect::MetadataResourcesMismatch) {
        for which in ["requests", "limits"] {
            v[which]["nvidia.com/gpu.shared"] = Value::from("2");
            v[which]["memory"] = Value::from("1Gi");
        }
    }
    v
}

/// `pending`, `running`, `failed` or `completed`, from the Job and its pods.
async fn job_status(state: &AppState, job: &Job) -> Result<&'static str, AppError> {
    let status = job.status.clone().unwrap_or_default();
    for c in status.conditions.unwrap_or_default() {
        if c.status == "True" {
            match c.type_.as_str() {
                "Failed" | "FailureTarget" => return Ok("failed"),
                "Complete" | "SuccessCriteriaMet" => return Ok("completed"),
                _ => {}
            }
        }
    }
    if status.failed.unwrap_or(0) > 0 {
        return Ok("failed");
    }
    if status.succeeded.unwrap_or(0) > 0 {
        return Ok("completed");
    }
    let name = job.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(state.client().clone(), state.namespace());
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await?;
    let running = list.items.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|ph| ph == "Running")
    });
    Ok(if running { "running" } else { "pending" })
}

/// `DELETE /job/{job_id}`: issues the deletion of the three objects.
pub async fn cancel(state: &AppState, job_id: &str) -> Result<Value, AppError> {
    let Some((_, _job)) = live_job(state, job_id).await? else {
        return Err(AppError::NotFound(INVALID_JOB_ID.into()));
    };
    state.cancelled().insert(job_id.to_owned());
    let jobs_dp = if state.has(Defect::OrphanPodsOnCancel) {
        DeleteParams::orphan()
    } else {
        DeleteParams::background()
    };
    remove_objects(
        state,
        job_id,
        &jobs_dp,
        !state.has(Defect::LeakServiceOnCancel),
    )
    .await?;
    bump(&state.counters().cancelled);
    Ok(json!({ "job_id": job_id, "status": "cancelled" }))
}

/// Deletes an investigation's objects (missing ones are fine).
pub async fn remove_objects(
    state: &AppState,
    job_id: &str,
    jobs_dp: &DeleteParams,
    with_service: bool,
) -> Result<(), AppError> {
    let client = state.client().clone();
    let ns = state.namespace();
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let services: Api<Service> = Api::namespaced(client, ns);
    ignore_not_found(
        jobs.delete(&names::grpc_job_name(job_id), jobs_dp)
            .await
            .map(|_| ()),
    )?;
    ignore_not_found(
        jobs.delete(&names::cleanup_job_name(job_id), jobs_dp)
            .await
            .map(|_| ()),
    )?;
    if with_service {
        ignore_not_found(
            services
                .delete(
                    &names::grpc_service_name(job_id),
                    &DeleteParams::background(),
                )
                .await
                .map(|_| ()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Range;

    fn req(view: i64, min: i64, max: i64) -> ConfigureRequest {
        ConfigureRequest {
            display_time_axis_duration: Some(300),
            nfft_selection: Some(1024),
            height: 600,
            channels: Range { min, max },
            frequency_range: Some(Range { min: 0, max: 500 }),
            start_time: None,
            end_time: None,
            view_type: view,
            raw: Value::Null,
        }
    }

    fn counts(r: &ConfigureResponse) -> Vec<usize> {
        let mut c = vec![0; r.stream_amount as usize];
        for s in r.channel_to_stream_index.values() {
            c[*s as usize] += 1;
        }
        c
    }

    #[test]
    fn observed_shapes() {
        let id = JobId { slot: 1, seq: 1603 };
        let r = describe(
            &req(0, 1, 50),
            id,
            12301,
            "http://x".into(),
            2000.0,
            None,
            ServerProfile::AsRequired,
        );
        assert_eq!(r.job_id, "1-1603");
        assert_eq!(r.status, "Config received");
        assert_eq!(r.stream_amount, 3);
        assert_eq!(counts(&r), vec![17, 17, 16]);
        assert_eq!(r.channel_amount, 50);
        assert_eq!(r.frequencies_amount, 256);
        assert_eq!(r.frequencies_list.len(), r.frequencies_amount);
        assert!((r.lines_dt - 0.5).abs() < 1e-9);
        let r8 = describe(
            &req(0, 1, 8),
            id,
            12301,
            "http://x".into(),
            2000.0,
            None,
            ServerProfile::AsObserved,
        );
        assert_eq!(counts(&r8), vec![3, 3, 2]);
        assert_eq!(r8.status, "");
        let single = describe(
            &req(1, 7, 9),
            id,
            12301,
            "http://x".into(),
            2000.0,
            None,
            ServerProfile::AsObserved,
        );
        assert_eq!(single.stream_amount, 1);
        assert_eq!(single.channel_amount, 1);
        assert_eq!(single.channel_to_stream_index.get("7"), Some(&0));
    }

    #[test]
    fn absurd_inputs_do_not_panic() {
        let id = JobId { slot: 1, seq: 1 };
        let mut r = req(0, i64::MIN, i64::MAX);
        r.height = 0;
        r.nfft_selection = Some(0);
        r.frequency_range = Some(Range {
            min: i64::MIN,
            max: i64::MAX,
        });
        let d = describe(
            &r,
            id,
            1,
            String::new(),
            2000.0,
            None,
            ServerProfile::AsObserved,
        );
        assert!(d.channel_amount <= 100_000);
        assert!(d.frequencies_amount <= MAX_BINS);
        let mut r = req(0, 10, 1);
        r.display_time_axis_duration = Some(-5);
        let d = describe(
            &r,
            id,
            1,
            String::new(),
            0.0,
            None,
            ServerProfile::AsObserved,
        );
        assert_eq!(d.channel_amount, 0);
        assert!(d.lines_dt.is_finite());
    }
}
