//! The suite's shared context for one run: the configuration, the target (the
//! embedded sandbox or a remote environment), the API and cluster handles, the run's
//! output directory and ledger. Scenarios reach the target only through it.
//!
//! Size: the run's context plus opening, cancelling and cleaning up investigations,
//! and the views of it the lower layers' drivers take (`faults`, `system`,
//! `diagnostics`); the next cut moves the investigation lifecycle into `spec`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::safety::ledger::Ledger;
use crate::spec::investigation::{ConfigureRequest, OpenedInvestigation};
use crate::target::config::{CancelMethod, Config, TargetKind};
use crate::target::focus_api::{ApiResponse, FocusApi};
use crate::target::kube::Cluster;
use crate::target::names::{InvestigationObjects, SandboxMarker};
use crate::target::wait::within;

static SUITE: OnceLock<Arc<Suite>> = OnceLock::new();

/// Investigations deleted at once by a scenario's cleanup.
const CLEANUP_PARALLELISM: usize = 64;

/// The run's shared context, set once by the runner before the first scenario.
pub fn current() -> anyhow::Result<Arc<Suite>> {
    SUITE.get().cloned().ok_or_else(|| {
        anyhow!("the suite context is not started (run through focus_scope::run::runner)")
    })
}

pub(crate) fn install(suite: Arc<Suite>) -> anyhow::Result<()> {
    SUITE
        .set(suite)
        .map_err(|_| anyhow!("the suite context is already started in this process"))
}

/// Where this run writes: `<output>/runs/<run-id>/`.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub id: String,
    pub dir: PathBuf,
    pub output_root: PathBuf,
}

/// What the run is pointed at.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub api_url: String,
    pub kubeconfig: Option<PathBuf>,
    pub embedded_sandbox: bool,
}

#[derive(Debug)]
pub struct Suite {
    pub config: Config,
    pub run: RunInfo,
    pub target: TargetInfo,
    pub api: FocusApi,
    pub cluster: Cluster,
    pub ledger: Ledger,
    /// Configures in flight, by sequence number, with the time they were sent.
    pub inflight: InFlight,
    /// Latency samples of the run.
    pub metrics: crate::spec::metrics::Metrics,
    /// The places of the investigations the run holds (the profile's cap).
    pub held: crate::run::hold::Held,
    /// The run lock, held from the start to the end of the run.
    pub lock: tokio::sync::Mutex<Option<crate::safety::lock::RunLock>>,
    /// Set when the run stops: nothing new is sent from then on.
    pub stopping: crate::safety::Stopping,
}

/// Ends a configure's entry in [`InFlight`] when dropped.
struct InFlightEnd(Arc<Suite>, u64);

impl Drop for InFlightEnd {
    fn drop(&mut self) {
        self.0.inflight.end(self.1);
    }
}

/// Configures in flight across all scenarios of the run, so that a scenario can wait
/// until every configure sent before a moment has answered (and been ledgered).
#[derive(Debug, Default)]
pub struct InFlight {
    seq: std::sync::atomic::AtomicU64,
    sent: std::sync::Mutex<std::collections::BTreeMap<u64, std::time::Instant>>,
    changed: tokio::sync::Notify,
}

impl InFlight {
    fn begin(&self) -> u64 {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.sent.lock() {
            m.insert(n, std::time::Instant::now());
        }
        n
    }

    fn end(&self, n: u64) {
        if let Ok(mut m) = self.sent.lock() {
            m.remove(&n);
        }
        self.changed.notify_waiters();
    }

    fn any_sent_before(&self, t: std::time::Instant) -> bool {
        self.sent
            .lock()
            .map(|m| m.values().any(|s| *s <= t))
            .unwrap_or(false)
    }

    /// Waits until every configure sent at or before `t` has answered.
    pub async fn settle(&self, t: std::time::Instant) {
        loop {
            let notified = self.changed.notified();
            if !self.any_sent_before(t) {
                return;
            }
            notified.await;
        }
    }
}

/// A job_id that can name Kubernetes objects (`grpc-job-<job_id>`: a DNS label).
pub fn well_formed_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
}

/// A running embedded sandbox, kept alive for the run and shut down after it.
pub struct EmbeddedTarget(Option<focus_sandbox::Sandbox>);

impl EmbeddedTarget {
    pub async fn shutdown(self) {
        if let Some(s) = self.0 {
            s.shutdown().await;
        }
    }
}

/// Why the target could not be used; the runner maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Unreachable(String),
}

/// Starts (sandbox) or connects to (remote) the target and checks that both the API
/// and the cluster answer within the startup deadline.
pub async fn start_target(
    config: &Config,
    run: &RunInfo,
) -> Result<(TargetInfo, FocusApi, Cluster, EmbeddedTarget), TargetError> {
    let p = &config.profile;
    let d = &p.deadlines;
    let (info, embedded) = match p.target.kind {
        TargetKind::Sandbox => {
            let opts =
                sandbox_options(config, run).map_err(|e| TargetError::Config(format!("{e:#}")))?;
            let sandbox = within(
                d.startup,
                "the embedded sandbox to start",
                focus_sandbox::Sandbox::start(opts),
            )
            .await
            .map_err(|e| TargetError::Unreachable(e.to_string()))?
            .map_err(|e| {
                TargetError::Unreachable(format!("the embedded sandbox did not start: {e:#}"))
            })?;
            let info = TargetInfo {
                api_url: sandbox.api_url(),
                kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
                embedded_sandbox: true,
            };
            (info, EmbeddedTarget(Some(sandbox)))
        }
        TargetKind::Remote => {
            let api_url = p.target.api_url.clone().ok_or_else(|| {
                TargetError::Config(format!(
                    "{}: key `target.api_url` is required",
                    config.file.display()
                ))
            })?;
            let info = TargetInfo {
                api_url,
                kubeconfig: p.target.kubeconfig.clone(),
                embedded_sandbox: false,
            };
            (info, EmbeddedTarget(None))
        }
    };
    // The cluster first: a profile bound to another cluster than the one its
    // kubeconfig leads to is refused before anything is sent anywhere.
    let cluster = match p.target.kind {
        TargetKind::Sandbox => {
            Cluster::connect(
                info.kubeconfig.as_deref(),
                None,
                &p.target.namespace,
                d.request,
            )
            .await
        }
        TargetKind::Remote => Cluster::connect_target(config, d.request).await,
    }
    .map_err(|e| TargetError::Config(e.to_string()))?;
    let ca = config
        .tls_ca_pem()
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let api = FocusApi::with_ca(&info.api_url, d.request, p.target.tls_verify, ca.as_deref())
        .map_err(|e| TargetError::Config(e.to_string()))?;
    // Preflight: the API, then the cluster, answer within the startup deadline, or the run stops.
    let ack = within(d.startup, "Focus Server GET /ack", api.ack())
        .await
        .map_err(|e| {
            TargetError::Unreachable(format!(
                "Focus Server at {}: {e}",
                crate::target::redact::url(&info.api_url)
            ))
        })?
        .map_err(|e| TargetError::Unreachable(format!("Focus Server: {e}")))?;
    if ack.status != 200 {
        return Err(TargetError::Unreachable(format!(
            "Focus Server is not healthy: {}",
            ack.describe()
        )));
    }
    within(d.startup, "the Kubernetes API", cluster.version())
        .await
        .map_err(|e| TargetError::Unreachable(e.to_string()))?
        .map_err(|e| TargetError::Unreachable(format!("Kubernetes API: {e}")))?;
    Ok((info, api, cluster, embedded))
}

fn sandbox_options(
    config: &Config,
    run: &RunInfo,
) -> anyhow::Result<focus_sandbox::SandboxOptions> {
    let s = &config.profile.sandbox;
    let key = |k: &str| format!("{}: key `{k}`", config.file.display());
    let profile = s
        .profile
        .parse()
        .map_err(|e| anyhow!("{}: {e}", key("sandbox.profile")))?;
    let defects = s
        .defects
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|e| anyhow!("{}: {e}", key("sandbox.defects")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sim = match &s.cluster {
        Some(path) => {
            let path = config.dir.join(path);
            focus_sandbox::kube_sim::SimConfig::from_toml_file(&path)
                .with_context(|| format!("{} ({})", key("sandbox.cluster"), path.display()))?
        }
        None => focus_sandbox::kube_sim::SimConfig::default(),
    };
    Ok(focus_sandbox::SandboxOptions {
        profile,
        defects,
        sim,
        namespace: config.profile.target.namespace.clone(),
        // The sandbox has as many stream slots as the profile says the environment has,
        // and the profile's idle time.
        server: focus_sandbox::ServerConfig {
            max_slots: u16::try_from(config.profile.limits.stream_slots)
                .map_err(|_| anyhow!("{}: must fit 1..=65535", key("limits.stream_slots")))?,
            idle_timeout_secs: s.idle_timeout.as_secs().max(1),
            ..Default::default()
        },
        kubeconfig: None,
        kubeconfig_out: Some(run.dir.join("kubeconfig")),
        ..Default::default()
    })
}

impl Suite {
    /// The run's failure diagnostics (`report::diagnostics`), read from its cluster.
    pub fn diagnostics(&self) -> crate::report::diagnostics::Diagnostics<'_> {
        crate::report::diagnostics::Diagnostics {
            cluster: &self.cluster,
            deadline: self.config.profile.deadlines.request,
            run_id: &self.run.id,
            run_dir: &self.run.dir,
        }
    }

    /// The system-behaviour checks (`spec::system`) on the run's target.
    pub fn system(&self) -> crate::spec::system::System<'_> {
        crate::spec::system::System {
            api: &self.api,
            cluster: &self.cluster,
            profile: &self.config.profile,
        }
    }

    /// The fault drivers (`safety::faults`) on the run's target and ledger.
    pub fn faults(&self) -> crate::safety::faults::Faults<'_> {
        crate::safety::faults::Faults {
            config: &self.config,
            api: &self.api,
            cluster: &self.cluster,
            ledger: &self.ledger,
            run_id: &self.run.id,
            stopping: &self.stopping,
        }
    }

    /// Stops the run's scenarios from sending anything new, and waits (within the
    /// request deadline) until the configures already sent have answered and been
    /// ledgered.
    pub async fn stop(&self) {
        self.stopping.stop();
        if let Err(e) = within(
            self.config.profile.deadlines.request,
            "configures in flight to answer",
            self.inflight.settle(std::time::Instant::now()),
        )
        .await
        {
            // The sweep goes on; what those configures open is in the ledger's window.
            tracing::warn!(
                error = %e,
                "configures may still be in flight (`focus-scope cleanup --include-in-flight` covers them)"
            );
        }
    }

    /// Refuses new work once the run is stopping.
    pub fn check_not_stopping(&self) -> anyhow::Result<()> {
        self.stopping.check()
    }

    /// Sends a configure request once (never retried). Its intent is ledgered before
    /// the request and its job_id as soon as the answer names one, so the objects are
    /// owned by the scenario even when the answer breaks the contract.
    pub async fn open_investigation(
        self: &Arc<Self>,
        scenario: &str,
        request: &ConfigureRequest,
    ) -> anyhow::Result<(ApiResponse, Option<OpenedInvestigation>)> {
        self.open_investigation_watched(scenario, request, None)
            .await
    }

    /// [`Suite::open_investigation`] that reads the claimed objects' identities from
    /// `watched` (watches started before the request) instead of a GET per object;
    /// a GET only when the watches do not show them within `deadlines.object_appears`.
    pub(crate) async fn open_investigation_watched(
        self: &Arc<Self>,
        scenario: &str,
        request: &ConfigureRequest,
        watched: Option<&crate::target::kube::Mirror>,
    ) -> anyhow::Result<(ApiResponse, Option<OpenedInvestigation>)> {
        let place = self
            .held
            .take(self.config.profile.deadlines.held_wait)
            .await?;
        // In flight before the stop check: a stop either is seen here or waits for this
        // configure's answer to be ledgered (checking first let a SIGINT in between
        // sweep before the answer, leaving its investigation behind).
        let n = self.inflight.begin();
        if let Err(e) = self
            .check_not_stopping()
            .and_then(|()| self.ledger.intent(scenario).map_err(Into::into))
        {
            self.inflight.end(n);
            return Err(e);
        }
        // The send and its ledgering are a task of their own: a scenario abandoned
        // meanwhile (the run's deadline drops it) must not cut a configure the server
        // may already act on, or the sweep would not know what it opened.
        // The uids the watches hold as the configure is sent: none of them is its.
        let before = watched.map(|m| m.uids());
        let (suite, scenario_key, body) =
            (self.clone(), scenario.to_string(), request.json().clone());
        // Only the sandbox arms settings per scenario; elsewhere the request is as is.
        let marker = (self.config.profile.faults == crate::target::config::FaultDriver::Sandbox)
            .then(|| SandboxMarker::of_scenario(scenario));
        let answered = tokio::spawn(async move {
            // Ends the in-flight entry however the task ends (a panic too).
            let _in_flight = InFlightEnd(suite.clone(), n);
            let resp = suite.api.configure(&body, marker.as_ref()).await;
            let ledgered = suite.ledger_answer(&scenario_key, &resp, place);
            (resp, ledgered)
        })
        .await;
        let (resp, (claimed, ledgered)) =
            answered.map_err(|e| anyhow!("the configure's task ended abnormally: {e}"))?;
        ledgered?;
        // The objects' identities as first seen: only these are ever deleted as the run's.
        if let Some(job_id) = &claimed {
            let objects = InvestigationObjects::of(job_id);
            let deadline = self.config.profile.deadlines.object_appears;
            let seen = match (watched, &before) {
                (Some(m), Some(before)) => {
                    match m.claim_identities(&objects, before, deadline).await {
                        Ok(seen) => seen,
                        // Not an object that was there when the configure was sent.
                        Err(_) => {
                            let mut seen = self.cluster.claim_identities(&objects).await?;
                            seen.retain(|o| !before.contains(&o.uid));
                            seen
                        }
                    }
                }
                _ => self.cluster.claim_identities(&objects).await?,
            };
            self.ledger.seen(job_id, seen)?;
        }
        let resp = resp?;
        self.metrics
            .record(crate::spec::metrics::kind::CONFIGURE, resp.latency);
        if let Some(job_id) = resp.body.get("job_id").and_then(|j| j.as_str()) {
            self.metrics.observe(
                job_id,
                crate::spec::metrics::Stage::Answered,
                std::time::Instant::now(),
            );
        }
        let opened = if resp.status == 200 {
            Some(
                OpenedInvestigation::from_response(&resp.body)
                    .map_err(|e| anyhow!("{e}; {}", resp.describe()))?,
            )
        } else {
            None
        };
        Ok((resp, opened))
    }

    /// Ledgers a configure's answer: the job_id it names, claimed for the run (keeping
    /// its hold `place`) or recorded as not claimed, and the status. Answers the claimed
    /// job_id and whether the ledger took it.
    fn ledger_answer(
        &self,
        scenario: &str,
        resp: &Result<ApiResponse, crate::target::focus_api::ApiError>,
        place: crate::run::hold::Place,
    ) -> (
        Option<String>,
        Result<(), crate::safety::ledger::LedgerError>,
    ) {
        let Ok(r) = resp else {
            return (None, Ok(()));
        };
        let mut claimed = None;
        let ledgered = match r.body.get("job_id").and_then(|j| j.as_str()) {
            Some(job_id) => match self.claim(r.status, job_id) {
                Ok(()) => {
                    self.held.keep(job_id, place);
                    claimed = Some(job_id.to_string());
                    self.ledger.opened(scenario, job_id)
                }
                Err(reason) => {
                    tracing::warn!(
                        %scenario,
                        %job_id,
                        status = %r.status,
                        "contract finding: the answer names a job_id that is not claimed: {reason}"
                    );
                    self.ledger.not_claimed(scenario, job_id, r.status, &reason)
                }
            },
            None => Ok(()),
        }
        .and_then(|_| self.ledger.answered(scenario, r.status));
        (claimed, ledgered)
    }

    /// Whether an answer's job_id becomes the run's: only from a 2xx answer, a
    /// well-formed job_id, and one that did not exist before the run.
    fn claim(&self, status: u16, job_id: &str) -> Result<(), String> {
        if !(200..300).contains(&status) {
            return Err(format!("a {status} answer opens nothing the run may own"));
        }
        if !well_formed_job_id(job_id) {
            return Err(
                "malformed (object names are grpc-job-<job_id>: lowercase letters, digits and '-')"
                    .into(),
            );
        }
        if self.ledger.in_baseline(job_id) {
            return Err("its objects existed before the run began (another user's)".into());
        }
        Ok(())
    }

    /// The recorded identities of an investigation's objects, completed with objects
    /// that appeared after the run first looked (created while its configure was
    /// answered, never later: a later one is someone else's).
    /// Read from `watched` (a cleanup's watches, listed after the objects existed)
    /// instead of a GET per missing object.
    pub async fn owned_objects(
        &self,
        job_id: &str,
        watched: &crate::target::kube::Mirror,
    ) -> anyhow::Result<Vec<crate::target::names::OwnedObject>> {
        let mut owned = self.ledger.owned_objects(job_id);
        let objects = InvestigationObjects::of(job_id);
        let Some(opened) = self.ledger.opened_at(job_id) else {
            return Ok(owned);
        };
        let slack = self.config.profile.deadlines.request;
        let late = watched.identities_around(&objects, &owned, opened, slack);
        self.ledger.seen(job_id, late.clone())?;
        owned.extend(late);
        Ok(owned)
    }

    /// Investigation objects the request watched by `watch` created that belong to no
    /// configure of this run: what a rejected request left behind, by identity (names
    /// and uids listed before and after, and a watch in between; never timestamps). An
    /// object created and deleted again meanwhile counts: a rejected request creates
    /// nothing. Concurrent scenarios cause no false failures: the check waits until
    /// every configure sent before it has answered (so its job_id is ledgered) and
    /// ignores every job_id the run owns. On a shared environment another user's
    /// investigation created meanwhile would be reported; the message names the
    /// objects and their uids so it can be told.
    pub async fn unclaimed_creations(
        &self,
        watch: crate::target::kube::CreationWatch,
    ) -> anyhow::Result<Vec<String>> {
        let created = watch.finish().await?;
        within(
            self.config.profile.deadlines.request,
            "configures of other scenarios to answer",
            self.inflight.settle(std::time::Instant::now()),
        )
        .await?;
        Ok(created
            .into_iter()
            .filter(|c| !self.ledger.owns(&c.job_id))
            .map(|c| c.to_string())
            .collect())
    }

    /// The stream port the contract's slot rules give the next investigation, within
    /// the profile's slot count; None when every slot is taken.
    pub async fn next_free_stream_port(&self) -> anyhow::Result<Option<u16>> {
        let slots = u16::try_from(self.config.profile.limits.stream_slots).unwrap_or(u16::MAX);
        Ok(self
            .cluster
            .next_free_stream_port(crate::spec::investigation::STREAM_PORT_BASE, slots)
            .await?)
    }

    /// The configured addresses are sane: the API's host resolves (to loopback only
    /// on the sandbox), the API answers, and the Kubernetes API answers.
    pub async fn preflight_addresses(&self) -> anyhow::Result<()> {
        let url = reqwest::Url::parse(self.api.base_url())?;
        let host = url
            .host_str()
            .ok_or_else(|| anyhow!("the API URL names no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<_> = within(
            self.config.profile.deadlines.request,
            "the API host to resolve",
            tokio::net::lookup_host((host, port)),
        )
        .await??
        .collect();
        if addrs.is_empty() {
            bail!("the API host `{host}` resolves to no address");
        }
        if self.target.embedded_sandbox && !addrs.iter().all(|a| a.ip().is_loopback()) {
            bail!("the sandbox API resolves outside loopback: {addrs:?}");
        }
        let ack = self.api.ack().await?;
        if ack.status != 200 {
            bail!("Focus Server does not answer: {}", ack.describe());
        }
        self.cluster.version().await?;
        Ok(())
    }

    /// Cancels an investigation the way the profile says the server supports, and
    /// waits until its objects are gone.
    pub async fn cancel(&self, job_id: &str) -> anyhow::Result<()> {
        let objects = InvestigationObjects::of(job_id);
        let deadline = self.config.profile.deadlines.deletion;
        match self.config.profile.target.cancel {
            CancelMethod::Endpoint => {
                let resp = self.api.cancel(job_id).await?;
                if resp.status != 200
                    || resp.body.get("status").and_then(|s| s.as_str()) != Some("cancelled")
                {
                    bail!("cancel was not accepted: {}", resp.describe());
                }
                if let Err(e) = self
                    .cluster
                    .wait_investigation_gone(&objects, deadline)
                    .await
                {
                    let left = self.cluster.remaining(&objects).await.unwrap_or_default();
                    bail!("after cancel, objects remain: {} ({e})", left.join(", "));
                }
            }
            CancelMethod::Kubernetes => {
                let mirror = self.cluster.watch_namespace().await?;
                let owned = self.owned_objects(job_id, &mirror).await?;
                self.cluster
                    .delete_investigation_watched(&mirror, &objects, &owned, deadline)
                    .await?
            }
        }
        self.held.release(job_id);
        // Cancelled and seen gone: cleanup has nothing left to do for it.
        if let Some(scenario) = self.ledger.scenario_of(job_id) {
            self.ledger.cleaned(&scenario, job_id)?;
        }
        Ok(())
    }

    /// Waits, by watch, until the server's cleanup job has removed an investigation
    /// nobody connects to; the error names what remains. `shortened`: the deadline that
    /// follows from the idle time the scenario gave it (else `deadlines.idle_removal`).
    pub async fn wait_idle_removal(
        &self,
        job_id: &str,
        shortened: Option<Duration>,
    ) -> anyhow::Result<()> {
        let objects = InvestigationObjects::of(job_id);
        let (deadline, key) = match shortened {
            Some(d) => (d, "sandbox.scenario_idle_timeout + deadlines.deletion"),
            None => (
                self.config.profile.deadlines.idle_removal,
                "deadlines.idle_removal",
            ),
        };
        if let Err(e) = self
            .cluster
            .wait_investigation_gone(&objects, deadline)
            .await
        {
            let left = self.cluster.remaining(&objects).await?;
            bail!(
                "investigation {job_id} was not removed by its cleanup job within {deadline:?} ({key}); these remain: {} ({e})",
                left.join(", ")
            );
        }
        Ok(())
    }

    /// Waits until the investigation's cleanup Job has completed (succeeded), within
    /// the same deadline as the idle removal it leads to.
    pub async fn wait_cleanup_job_completes(
        &self,
        job_id: &str,
        shortened: Option<Duration>,
    ) -> anyhow::Result<()> {
        let deadline = shortened.unwrap_or(self.config.profile.deadlines.idle_removal);
        let name = InvestigationObjects::of(job_id).cleanup_job;
        self.cluster
            .wait_job_completes(&name, deadline)
            .await
            .with_context(|| {
                format!("the cleanup Job of investigation {job_id} did not succeed")
            })?;
        Ok(())
    }

    /// Deletes, by exact name, every investigation the scenario opened, and waits until
    /// each is gone (several at a time); `objects_gone` is called once their Jobs and
    /// Services are gone, before the wait for their pods (the after hook releases the
    /// `ports` lock there). Errors name every investigation left behind.
    pub async fn cleanup_scenario(
        &self,
        scenario: &str,
        objects_gone: impl FnOnce(),
    ) -> anyhow::Result<()> {
        self.cleanup_many(scenario, CLEANUP_PARALLELISM, objects_gone)
            .await
    }

    /// Waits by watch until the investigation's pod is Running (the profile's
    /// `deadlines.pod_running`), recording the stages the watch saw happen.
    pub async fn wait_investigation_running(
        &self,
        job_id: &str,
    ) -> Result<k8s_openapi::api::core::v1::Pod, crate::target::kube::ClusterError> {
        let job = crate::target::names::InvestigationObjects::of(job_id).stream_job;
        let (pod, seen) = self
            .cluster
            .wait_pod_running_seen(&job, self.config.profile.deadlines.pod_running)
            .await?;
        if let Some(at) = seen.scheduled {
            self.metrics
                .observe(job_id, crate::spec::metrics::Stage::Scheduled, at);
        }
        if let Some(at) = seen.started {
            self.metrics
                .observe(job_id, crate::spec::metrics::Stage::Started, at);
        }
        Ok(pod)
    }
}
