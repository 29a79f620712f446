//! The Kubernetes handle: a kube-rs client for one namespace, inspection of an
//! investigation's objects by exact name, waits by watch under a deadline, and
//! deletion of exactly the objects the run created.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, wait::await_condition, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::investigation::InvestigationObjects;
use crate::wait::{WaitError, within};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    #[error("Kubernetes API: {what}: {message}")]
    Api { what: String, message: String },
    #[error(transparent)]
    Wait(#[from] WaitError),
}

type Result<T> = std::result::Result<T, ClusterError>;

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |e| ClusterError::Api {
        what,
        message: e.to_string(),
    }
}

/// The `User-Agent` of every Kubernetes request the suite sends.
pub const USER_AGENT: &str = concat!("focus-scope/", env!("CARGO_PKG_VERSION"));

/// A kube-rs client bound to the investigation namespace.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    namespace: String,
    request_timeout: Duration,
    /// Requests this client sent (watches count once, when opened).
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Cluster {
    /// Connects with an explicit kubeconfig file (never the ambient one), or with the
    /// standard lookup (KUBECONFIG, ~/.kube/config, in-cluster) when `kubeconfig` is None.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        namespace: &str,
        request_timeout: Duration,
    ) -> Result<Cluster> {
        let options = KubeConfigOptions {
            context: context.map(String::from),
            ..Default::default()
        };
        let mut config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| ClusterError::Kubeconfig {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?
            }
            None => match context {
                Some(_) => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?,
                None => kube::Config::infer()
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?,
            },
        };
        config.connect_timeout = Some(request_timeout);
        // Tells the suite's requests from the server's in an API server's audit log
        // (and in kube-sim's request log); kube-rs sends no User-Agent of its own.
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        ));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = requests.clone();
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::Config(e.to_string()))?
            .with_layer(&tower::util::MapRequestLayer::new(
                move |req: http::Request<kube::client::Body>| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    req
                },
            ))
            .build();
        Ok(Cluster {
            client,
            namespace: namespace.to_string(),
            request_timeout,
            requests,
        })
    }

    /// How many Kubernetes API requests the suite has sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The cluster's `/version` gitVersion.
    pub async fn version(&self) -> Result<String> {
        let v = within(
            self.request_timeout,
            "GET /version",
            self.client.apiserver_version(),
        )
        .await?
        .map_err(api_err("GET /version"))?;
        Ok(v.git_version)
    }

    pub async fn job(&self, name: &str) -> Result<Option<Job>> {
        self.get_opt(name).await
    }

    pub async fn service(&self, name: &str) -> Result<Option<Service>> {
        self.get_opt(name).await
    }

    async fn get_opt<K>(&self, name: &str) -> Result<Option<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let what = format!("get {} {name}", K::kind(&Default::default()));
        within(self.request_timeout, &what, self.api::<K>().get_opt(name))
            .await?
            .map_err(api_err(what))
    }

    /// The node ports a Service exposes, or None when it does not exist.
    pub async fn service_node_ports(&self, name: &str) -> Result<Option<Vec<i32>>> {
        Ok(self.service(name).await?.map(|svc| {
            svc.spec
                .and_then(|s| s.ports)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.node_port)
                .collect()
        }))
    }

    /// Pods of one Job, matched by the exact `job-name` label (never a substring).
    pub async fn pods_of_job(&self, job: &str) -> Result<Vec<Pod>> {
        let what = format!("list pods job-name={job}");
        let lp = ListParams::default().labels(&format!("job-name={job}"));
        let list = within(self.request_timeout, &what, self.api::<Pod>().list(&lp))
            .await?
            .map_err(api_err(what))?;
        Ok(list.items)
    }

    /// Waits by watch until the Job exists.
    pub async fn wait_for_job(&self, name: &str, deadline: Duration) -> Result<Job> {
        let what = format!("Job {name} to appear");
        let found = within(
            deadline,
            &what,
            await_condition(self.api::<Job>(), name, |j: Option<&Job>| j.is_some()),
        )
        .await?
        .map_err(|e| ClusterError::Api {
            what: what.clone(),
            message: e.to_string(),
        })?;
        found.ok_or_else(|| ClusterError::Api {
            what,
            message: "the watch ended without the Job".into(),
        })
    }

    /// Waits by watch until a pod of the Job is Running; returns that pod.
    pub async fn wait_pod_running(&self, job: &str, deadline: Duration) -> Result<Pod> {
        Ok(self.wait_pod_running_seen(job, deadline).await?.0)
    }

    /// Waits by watch until a pod of the Job is Running; returns that pod and the
    /// instants the watch saw it scheduled and Running as it happened (None for a
    /// stage it was already past when the watch listed it).
    pub async fn wait_pod_running_seen(
        &self,
        job: &str,
        deadline: Duration,
    ) -> Result<(Pod, PodStagesSeen)> {
        let what = format!("a pod of Job {job} to be Running");
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let events = watcher(self.api::<Pod>(), cfg).default_backoff();
        futures::pin_mut!(events);
        let mut seen = PodStagesSeen::default();
        let mut tracker = StageTracker::default();
        let found = within(deadline, &what, async {
            while let Some(ev) = events.next().await {
                let p = match ev? {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
                    _ => continue,
                };
                let now = std::time::Instant::now();
                let (scheduled, started) = tracker.update(&p);
                if scheduled {
                    seen.scheduled = Some(now);
                }
                if pod_phase(&p) == "Running" {
                    seen.started = started.then_some(now);
                    return Ok(Some(p));
                }
            }
            Ok::<_, watcher::Error>(None)
        })
        .await?;
        match found {
            Ok(Some(pod)) => Ok((pod, seen)),
            Err(e) => Err(ClusterError::Api {
                what,
                message: e.to_string(),
            }),
            Ok(None) => Err(ClusterError::Api {
                what,
                message: "the watch ended".into(),
            }),
        }
    }

    /// Deletes the investigation's three objects by exact name (Background
    /// propagation) and blocks until they and their pods are gone.
    pub async fn delete_investigation(
        &self,
        objects: &InvestigationObjects,
        deadline: Duration,
    ) -> Result<()> {
        let dp = DeleteParams::background();
        // The Service first: a server that sees a slot free once its Jobs are gone
        // must not hand the slot to a new investigation while the old Service still
        // holds the slot's NodePort (the observed server does not check the port).
        self.delete_ignoring_absent::<Service>(&objects.service, &dp)
            .await?;
        for job in objects.jobs() {
            self.delete_ignoring_absent::<Job>(job, &dp).await?;
        }
        // Pods a server orphaned (deleted their Job without cascade) are still the
        // investigation's: matched by the exact job-name label, never by prefix.
        for job in objects.jobs() {
            for pod in self.pods_of_job(job).await? {
                if let Some(name) = pod.metadata.name.as_deref() {
                    self.delete_ignoring_absent::<Pod>(name, &dp).await?;
                }
            }
        }
        let what = format!("investigation {} to be gone", objects.job_id);
        within(deadline, &what, async {
            for job in objects.jobs() {
                self.until_absent::<Job>(job).await?;
                self.until_no_pods(job).await?;
            }
            self.until_absent::<Service>(&objects.service).await
        })
        .await?
    }

    /// Names of the investigation's objects (and pods) that still exist.
    pub async fn remaining(&self, objects: &InvestigationObjects) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for job in objects.jobs() {
            if self.job(job).await?.is_some() {
                left.push(format!("Job/{job}"));
            }
            for p in self.pods_of_job(job).await? {
                left.push(format!("Pod/{}", p.metadata.name.unwrap_or_default()));
            }
        }
        if self.service(&objects.service).await?.is_some() {
            left.push(format!("Service/{}", objects.service));
        }
        Ok(left)
    }

    async fn delete_ignoring_absent<K>(&self, name: &str, dp: &DeleteParams) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let what = format!("delete {} {name}", K::kind(&Default::default()));
        match within(
            self.request_timeout,
            &what,
            self.api::<K>().delete(name, dp),
        )
        .await?
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_err(what)(e)),
        }
    }

    async fn until_absent<K>(&self, name: &str) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        await_condition(self.api::<K>(), name, |o: Option<&K>| o.is_none())
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Api {
                what: format!("watch {name}"),
                message: e.to_string(),
            })
    }

    /// Watches the Job's pods until, after a complete list, none is left.
    async fn until_no_pods(&self, job: &str) -> Result<()> {
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let mut live = BTreeSet::new();
        let mut relisting = BTreeSet::new();
        let mut listed = false;
        let events = watcher(self.api::<Pod>(), cfg).default_backoff();
        futures::pin_mut!(events);
        while let Some(ev) = events.next().await {
            let ev = ev.map_err(|e| ClusterError::Api {
                what: format!("watch pods of {job}"),
                message: e.to_string(),
            })?;
            match ev {
                watcher::Event::Init => relisting.clear(),
                watcher::Event::InitApply(p) => {
                    relisting.insert(p.metadata.name.unwrap_or_default());
                }
                watcher::Event::InitDone => {
                    live = std::mem::take(&mut relisting);
                    listed = true;
                }
                watcher::Event::Apply(p) => {
                    live.insert(p.metadata.name.unwrap_or_default());
                }
                watcher::Event::Delete(p) => {
                    live.remove(&p.metadata.name.unwrap_or_default());
                }
            }
            if listed && live.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// When a watch saw a pod's stages happen (see [`Cluster::wait_pod_running_seen`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct PodStagesSeen {
    pub scheduled: Option<std::time::Instant>,
    pub started: Option<std::time::Instant>,
}

/// Follows one pod through watch events. A stage counts as seen only when one
/// observation showed the pod before it and a later one after it: a pod already past a
/// stage when first listed says nothing about when it got there.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageTracker {
    scheduled: Option<bool>,
    running: Option<bool>,
}

impl StageTracker {
    /// Takes the next observation; returns (seen getting scheduled, seen starting).
    /// A pod seen going from unscheduled straight to Running was seen starting only.
    pub fn update(&mut self, p: &Pod) -> (bool, bool) {
        let scheduled = pod_scheduled(p);
        let running = pod_phase(p) == "Running";
        let seen_scheduled = self.scheduled == Some(false) && scheduled && !running;
        let seen_started = self.running == Some(false) && running;
        self.scheduled = Some(scheduled);
        self.running = Some(running);
        (seen_scheduled, seen_started)
    }
}

/// Whether the pod has been given a node (`spec.nodeName`, or PodScheduled True).
pub fn pod_scheduled(p: &Pod) -> bool {
    p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
        || p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "True")
            })
}

pub fn pod_phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Kinds of object an investigation consists of, with their name prefixes.
const INVESTIGATION_PREFIXES: [&str; 3] = ["grpc-job-", "cleanup-job-", "grpc-service-"];

/// The job_id an investigation object's name carries, if it is one.
pub fn job_id_of(name: &str) -> Option<&str> {
    INVESTIGATION_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|id| !id.is_empty())
}

impl Cluster {
    /// Investigation objects (`grpc-job-*`, `cleanup-job-*`, `grpc-service-*`) created
    /// at or after `since` (creation timestamps have second precision), as
    /// `(Kind/name, job_id)`.
    pub async fn investigation_objects_since(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let floor = since.as_second();
        let recent = |m: &kube::api::ObjectMeta| {
            m.creation_timestamp
                .as_ref()
                .is_none_or(|t| t.0.as_second() >= floor)
        };
        let mut found = Vec::new();
        let lp = ListParams::default();
        let jobs = within(
            self.request_timeout,
            "list Jobs",
            self.api::<Job>().list(&lp),
        )
        .await?
        .map_err(api_err("list Jobs"))?;
        for j in jobs.items.iter().filter(|j| recent(&j.metadata)) {
            let name = j.metadata.name.clone().unwrap_or_default();
            if let Some(id) = job_id_of(&name) {
                found.push((format!("Job/{name}"), id.to_string()));
            }
        }
        let services = within(
            self.request_timeout,
            "list Services",
            self.api::<Service>().list(&lp),
        )
        .await?
        .map_err(api_err("list Services"))?;
        for s in services.items.iter().filter(|s| recent(&s.metadata)) {
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(id) = job_id_of(&name) {
                found.push((format!("Service/{name}"), id.to_string()));
            }
        }
        Ok(found)
    }

    /// The stream port the contract's slot rules give the next investigation: the
    /// lowest slot from 1 that no investigation object names and whose port
    /// (`base + slot`) no Service holds; None when every slot is taken.
    pub async fn next_free_stream_port(&self, base: u16, max_slots: u16) -> Result<Option<u16>> {
        let lp = ListParams::default();
        let jobs = within(
            self.request_timeout,
            "list Jobs",
            self.api::<Job>().list(&lp),
        )
        .await?
        .map_err(api_err("list Jobs"))?;
        let services = within(
            self.request_timeout,
            "list Services",
            self.api::<Service>().list(&lp),
        )
        .await?
        .map_err(api_err("list Services"))?;
        let mut busy = std::collections::BTreeSet::new();
        let names = jobs
            .items
            .iter()
            .filter_map(|j| j.metadata.name.clone())
            .chain(
                services
                    .items
                    .iter()
                    .filter_map(|s| s.metadata.name.clone()),
            );
        for n in names {
            if let Some(slot) = job_id_of(&n)
                .and_then(|id| id.split('-').next())
                .and_then(|s| s.parse::<u16>().ok())
            {
                busy.insert(slot);
            }
        }
        for s in &services.items {
            for p in s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()) {
                if let Some(np) = p.node_port.and_then(|np| u16::try_from(np).ok())
                    && np > base
                {
                    busy.insert(np - base);
                }
            }
        }
        Ok((1..=max_slots)
            .find(|s| !busy.contains(s))
            .map(|s| base + s))
    }

    /// Investigation objects created within `[since, until]` (second precision,
    /// inclusive), as `(Kind/name, job_id)`.
    pub async fn investigation_objects_between(
        &self,
        since: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let last = until.as_second();
        let objects = self.investigation_objects_since(since).await?;
        let mut out = Vec::new();
        for (object, job_id) in objects {
            let created = match object.split_once('/') {
                Some(("Job", n)) => self
                    .job(n)
                    .await?
                    .and_then(|j| j.metadata.creation_timestamp),
                Some(("Service", n)) => self
                    .service(n)
                    .await?
                    .and_then(|s| s.metadata.creation_timestamp),
                _ => None,
            };
            if created.is_some_and(|t| t.0.as_second() <= last) {
                out.push((object, job_id));
            }
        }
        Ok(out)
    }

    /// Whether a `Kind/name` object (Job or Service) still exists.
    pub async fn object_exists(&self, object: &str) -> Result<bool> {
        Ok(match object.split_once('/') {
            Some(("Job", name)) => self.job(name).await?.is_some(),
            Some(("Service", name)) => self.service(name).await?.is_some(),
            _ => false,
        })
    }

    /// Waits (by watch) until the investigation's objects and pods are gone, without
    /// deleting anything: the server is expected to have removed them.
    pub async fn wait_investigation_gone(
        &self,
        objects: &InvestigationObjects,
        deadline: Duration,
    ) -> Result<()> {
        let what = format!("investigation {} to be gone", objects.job_id);
        within(deadline, &what, async {
            for job in objects.jobs() {
                self.until_absent::<Job>(job).await?;
                self.until_no_pods(job).await?;
            }
            self.until_absent::<Service>(&objects.service).await
        })
        .await?
    }

    /// The cluster's nodes (cluster-scoped), under the request deadline.
    async fn list_nodes(
        &self,
        lp: &ListParams,
    ) -> Result<kube::core::ObjectList<k8s_openapi::api::core::v1::Node>> {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client.clone());
        within(self.request_timeout, "list Nodes", nodes.list(lp))
            .await?
            .map_err(api_err("list Nodes"))
    }

    /// Addresses (InternalIP/ExternalIP) of the nodes whose Ready condition is True.
    pub async fn ready_node_addresses(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter_map(|n| n.status.as_ref())
            .filter(|s| {
                s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .flat_map(|s| s.addresses.iter().flatten())
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .map(|a| a.address.clone())
            .collect())
    }

    /// The container args of the Job's pods (first container), one list per pod.
    pub async fn pod_args(&self, job: &str) -> Result<Vec<Vec<String>>> {
        Ok(self
            .pods_of_job(job)
            .await?
            .iter()
            .map(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.args.clone())
                    .unwrap_or_default()
            })
            .collect())
    }
}

impl Cluster {
    /// Deletes one pod by exact name (fault injection on the run's own investigation).
    pub async fn delete_pod(&self, name: &str) -> Result<()> {
        self.delete_ignoring_absent::<Pod>(name, &DeleteParams::default())
            .await
    }

    /// Waits by watch until the Job has a True condition of this type; returns the Job.
    pub async fn wait_job_condition(
        &self,
        name: &str,
        type_: &str,
        deadline: Duration,
    ) -> Result<Job> {
        let what = format!("Job {name} to have condition {type_}");
        let t = type_.to_string();
        let cond = move |j: Option<&Job>| {
            j.is_some_and(|j| {
                crate::footprint::true_conditions(j)
                    .iter()
                    .any(|(c, _)| *c == t)
            })
        };
        let found = within(
            deadline,
            &what,
            await_condition(self.api::<Job>(), name, cond),
        )
        .await?
        .map_err(|e| ClusterError::Api {
            what: what.clone(),
            message: e.to_string(),
        })?;
        found.ok_or_else(|| ClusterError::Api {
            what,
            message: "the Job is gone".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_come_from_exact_prefixes() {
        assert_eq!(job_id_of("grpc-job-1-16"), Some("1-16"));
        assert_eq!(job_id_of("cleanup-job-1-160"), Some("1-160"));
        assert_eq!(job_id_of("grpc-service-2-3"), Some("2-3"));
        assert_eq!(job_id_of("grpc-job-"), None);
        assert_eq!(job_id_of("panda-panda-focus-server"), None);
    }
}

/// Label of Focus Server's own pods.
pub const FOCUS_SERVER_SELECTOR: &str = "app.kubernetes.io/name=panda-panda-focus-server";

/// One Focus Server pod: identity, phase and container restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPod {
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub restarts: i32,
}

impl Cluster {
    /// Focus Server's own pods (by their standard label).
    pub async fn focus_server_pods(&self) -> Result<Vec<ServerPod>> {
        let lp = ListParams::default().labels(FOCUS_SERVER_SELECTOR);
        let list = within(
            self.request_timeout,
            "list Focus Server pods",
            self.api::<Pod>().list(&lp),
        )
        .await?
        .map_err(api_err("list Focus Server pods"))?;
        Ok(list
            .items
            .iter()
            .map(|p| ServerPod {
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                phase: pod_phase(p).to_string(),
                restarts: p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .map(|cs| cs.iter().map(|c| c.restart_count).sum())
                    .unwrap_or(0),
            })
            .collect())
    }

    /// Waits by watch until a Focus Server pod is Running; returns all of them then.
    pub async fn wait_focus_server_running(&self, deadline: Duration) -> Result<Vec<ServerPod>> {
        let cfg = watcher::Config::default().labels(FOCUS_SERVER_SELECTOR);
        let running = watcher(self.api::<Pod>(), cfg)
            .default_backoff()
            .applied_objects()
            .try_filter(|p| futures::future::ready(pod_phase(p) == "Running"));
        futures::pin_mut!(running);
        match within(deadline, "a Focus Server pod to be Running", running.next()).await? {
            Some(Ok(_)) => self.focus_server_pods().await,
            Some(Err(e)) => Err(ClusterError::Api {
                what: "watch Focus Server pods".into(),
                message: e.to_string(),
            }),
            None => Err(ClusterError::Api {
                what: "watch Focus Server pods".into(),
                message: "the watch ended".into(),
            }),
        }
    }

    /// job_ids of every investigation object in the namespace.
    pub async fn investigation_ids(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(self
            .investigation_objects_since(jiff::Timestamp::UNIX_EPOCH)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// Every investigation object (Jobs and Services) by identity: `Kind/name` → uid.
    pub async fn investigation_object_uids(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let lp = ListParams::default();
        let jobs = within(
            self.request_timeout,
            "list Jobs",
            self.api::<Job>().list(&lp),
        )
        .await?
        .map_err(api_err("list Jobs"))?;
        let services = within(
            self.request_timeout,
            "list Services",
            self.api::<Service>().list(&lp),
        )
        .await?
        .map_err(api_err("list Services"))?;
        let metas = jobs
            .items
            .iter()
            .map(|j| ("Job", &j.metadata))
            .chain(services.items.iter().map(|s| ("Service", &s.metadata)));
        Ok(metas
            .filter_map(|(kind, m)| {
                let name = m.name.as_deref()?;
                job_id_of(name)?;
                Some((format!("{kind}/{name}"), m.uid.clone().unwrap_or_default()))
            })
            .collect())
    }
}

/// Parses a whole-number Kubernetes quantity of an extended resource ("1", "64").
fn whole(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> i64 {
    q.0.trim().parse().unwrap_or(0)
}

fn gpu_request(p: &Pod) -> i64 {
    p.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| {
            c.resources
                .as_ref()?
                .requests
                .as_ref()?
                .get(crate::footprint::GPU_SLICE)
        })
        .map(whole)
        .sum()
}

fn non_terminal(p: &Pod) -> bool {
    !matches!(pod_phase(p), "Succeeded" | "Failed")
}

impl Cluster {
    /// GPU slices requested by the namespace's non-terminal pods.
    pub async fn gpu_slices_requested_in_namespace(&self) -> Result<i64> {
        let list = within(
            self.request_timeout,
            "list pods",
            self.api::<Pod>().list(&ListParams::default()),
        )
        .await?
        .map_err(api_err("list pods"))?;
        Ok(list
            .items
            .iter()
            .filter(|p| non_terminal(p))
            .map(gpu_request)
            .sum())
    }

    /// Free GPU slices per schedulable Ready node (allocatable minus non-terminal requests).
    pub async fn free_gpu_slices_per_node(&self) -> Result<Vec<(String, i64)>> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let nodes = self.list_nodes(&ListParams::default()).await?;
        let pods = within(
            self.request_timeout,
            "list pods",
            pods.list(&ListParams::default()),
        )
        .await?
        .map_err(api_err("list pods"))?;
        let mut out = Vec::new();
        for n in &nodes.items {
            let name = n.metadata.name.clone().unwrap_or_default();
            if n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
            {
                continue;
            }
            let allocatable = n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(crate::footprint::GPU_SLICE))
                .map(whole)
                .unwrap_or(0);
            let used: i64 = pods
                .items
                .iter()
                .filter(|p| {
                    non_terminal(p)
                        && p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                            == Some(name.as_str())
                })
                .map(gpu_request)
                .sum();
            out.push((name, allocatable - used));
        }
        Ok(out)
    }

    /// Waits by watch (field selector on the reason) until an event with `reason`
    /// names an object starting with `object_prefix`; returns its message.
    pub async fn wait_event(
        &self,
        object_prefix: &str,
        reason: &str,
        deadline: Duration,
    ) -> Result<String> {
        use k8s_openapi::api::core::v1::Event;
        let what = format!("a {reason} event for {object_prefix}");
        let cfg = watcher::Config::default().fields(&format!("reason={reason}"));
        let events = watcher(self.api::<Event>(), cfg)
            .default_backoff()
            .applied_objects()
            .try_filter(|e: &Event| {
                futures::future::ready(
                    e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with(object_prefix)),
                )
            });
        futures::pin_mut!(events);
        match within(deadline, &what, events.next()).await? {
            Some(Ok(e)) => Ok(e.message.unwrap_or_default()),
            Some(Err(e)) => Err(ClusterError::Api {
                what,
                message: e.to_string(),
            }),
            None => Err(ClusterError::Api {
                what,
                message: "the watch ended".into(),
            }),
        }
    }

    /// Waits by watch until a pod of the Job shows a container state reason (waiting or
    /// terminated) equal to one of `reasons`; returns the reason seen.
    pub async fn wait_pod_reason(
        &self,
        job: &str,
        reasons: &[&str],
        deadline: Duration,
    ) -> Result<String> {
        let what = format!("a pod of Job {job} to report {}", reasons.join(" or "));
        let wanted: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let seen = watcher(self.api::<Pod>(), cfg)
            .default_backoff()
            .applied_objects()
            .try_filter_map(move |p: Pod| {
                let found = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.state.as_ref())
                    .flat_map(|st| {
                        [
                            st.waiting.as_ref().and_then(|w| w.reason.clone()),
                            st.terminated.as_ref().and_then(|t| t.reason.clone()),
                        ]
                    })
                    .flatten()
                    .find(|r| wanted.contains(r));
                futures::future::ready(Ok(found))
            });
        futures::pin_mut!(seen);
        match within(deadline, &what, seen.next()).await? {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(ClusterError::Api {
                what,
                message: e.to_string(),
            }),
            None => Err(ClusterError::Api {
                what,
                message: "the watch ended".into(),
            }),
        }
    }
}

impl Cluster {
    /// Scales a Deployment of the namespace; returns the replicas it had.
    pub async fn scale_deployment(&self, name: &str, replicas: i32) -> Result<i32> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("scale Deployment {name}");
        let before = within(self.request_timeout, &what, api.get_scale(name))
            .await?
            .map_err(api_err(what.clone()))?
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(0);
        let patch = kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        within(
            self.request_timeout,
            &what,
            api.patch_scale(name, &kube::api::PatchParams::default(), &patch),
        )
        .await?
        .map_err(api_err(what))?;
        Ok(before)
    }
}

impl Cluster {
    /// Deletes the suite's own fault objects of a run (Services, Pods, ResourceQuotas
    /// labelled `focus-scope/run-id=<label>`); returns their names.
    pub async fn delete_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        use k8s_openapi::api::coordination::v1::Lease;
        use k8s_openapi::api::core::v1::ResourceQuota;
        let selector = format!("{}={run_label}", crate::faults::RUN_LABEL);
        let mut deleted = Vec::new();
        deleted.extend(self.delete_all_labelled::<Service>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<Pod>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<ResourceQuota>(&selector).await?);
        // The run lock, if the crashed run still held it (a new holder relabels it).
        deleted.extend(self.delete_all_labelled::<Lease>(&selector).await?);
        Ok(deleted)
    }

    /// Deletes every object of kind `K` matching the label selector; returns `Kind/name`s.
    async fn delete_all_labelled<K>(&self, selector: &str) -> Result<Vec<String>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let kind = K::kind(&Default::default()).to_string();
        let what = format!("list {kind}s");
        let found = within(
            self.request_timeout,
            &what,
            self.api::<K>()
                .list(&ListParams::default().labels(selector)),
        )
        .await?
        .map_err(api_err(&what))?;
        let mut deleted = Vec::new();
        for o in found.items {
            let name = o.meta().name.clone().unwrap_or_default();
            self.delete_ignoring_absent::<K>(&name, &DeleteParams::background())
                .await?;
            deleted.push(format!("{kind}/{name}"));
        }
        Ok(deleted)
    }
}

impl Cluster {
    /// Cordons every node that is schedulable now (`spec.unschedulable`), labelling each
    /// with the run's label so that `cleanup` can find and uncordon it after a crash;
    /// returns the nodes cordoned (never one that was cordoned already).
    pub async fn cordon_schedulable_nodes(&self, run_label: &str) -> Result<Vec<String>> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = self.list_nodes(&ListParams::default()).await?;
        let schedulable: Vec<String> = list
            .items
            .iter()
            .filter(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let patch = serde_json::json!({
            "metadata": {"labels": {crate::faults::RUN_LABEL: run_label}},
            "spec": {"unschedulable": true},
        });
        let mut cordoned = Vec::new();
        for name in schedulable {
            let what = format!("cordon Node {name}");
            let done = within(
                self.request_timeout,
                &what,
                nodes.patch(
                    &name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ),
            )
            .await?
            .map_err(api_err(what));
            match done {
                Ok(_) => cordoned.push(name),
                Err(e) => {
                    // Leave nothing half-done: what was cordoned is uncordoned again.
                    let _ = self.uncordon(&cordoned).await;
                    return Err(e);
                }
            }
        }
        Ok(cordoned)
    }

    /// Uncordons exactly these nodes and removes the run label from them (a node that
    /// is gone is skipped).
    pub async fn uncordon(&self, names: &[String]) -> Result<()> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({
            "metadata": {"labels": {crate::faults::RUN_LABEL: null}},
            "spec": {"unschedulable": null},
        });
        for name in names {
            let what = format!("uncordon Node {name}");
            match within(
                self.request_timeout,
                &what,
                nodes.patch(
                    name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ),
            )
            .await?
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(api_err(what)(e)),
            }
        }
        Ok(())
    }

    /// Uncordons the nodes a run cordoned (labelled `focus-scope/run-id=<label>`);
    /// returns their names.
    pub async fn uncordon_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        let selector = format!("{}={run_label}", crate::faults::RUN_LABEL);
        let list = self
            .list_nodes(&ListParams::default().labels(&selector))
            .await?;
        let names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        self.uncordon(&names).await?;
        Ok(names)
    }
}
