//! The Kubernetes handle: a kube-rs client for one namespace, inspection of an
//! investigation's objects by exact name, waits by watch under a deadline, and
//! deletion of exactly the objects the run created.
//!
//! Split by concern: `investigations` (objects by name and time, stream slots),
//! `workloads` (pods and Jobs by condition, Focus Server's pods), `gpu_events` (GPU
//! slices, events), `labelled` (what carries the run label), `objects` (kind-generic
//! verbs for the modules with their own object logic). This file keeps the client,
//! identities and deletion of an investigation, its waits and the node cordons
//! (~990 lines): the next split (identities/deletion, nodes) waits until the branches
//! editing it are merged.

use std::collections::{BTreeMap, BTreeSet};
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

use crate::safety::ledger::OwnedObject;
use crate::spec::investigation::InvestigationObjects;
use crate::target::wait::{WaitError, within};

mod gpu_events;
mod investigations;
mod labelled;
mod objects;
#[cfg(test)]
mod tests;
mod workloads;

use labelled::has_run_label;
pub use workloads::{FOCUS_SERVER_SELECTOR, ServerPod};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// No kubeconfig, context or in-cluster binding: the ambient one is never used.
    #[error(
        "no cluster named: give a kubeconfig, a context or the in-cluster configuration (the ambient kubectl context is never used)"
    )]
    Unbound,
    #[error(
        "{file}: key `target.cluster_server` expects the API server {expected}, but the kubeconfig/context leads to {actual}: refusing to send anything"
    )]
    WrongCluster {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("Kubernetes API: {what}: {message}")]
    Api { what: String, message: String },
    /// A delete with the uid precondition answered 409: the name belongs to another
    /// object now (another user's). Never retried without the precondition.
    #[error("{object} is not the run's any more (its uid is no longer {uid}): left alone")]
    NotOurs { object: String, uid: String },
    /// 409 Conflict (a failed precondition).
    #[error("Kubernetes API: {what}: 409 Conflict: {message}")]
    Conflict { what: String, message: String },
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
    /// The API server URL (userinfo stripped).
    server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// Whose events [`Cluster::wait_event`] accepts.
#[derive(Debug, Clone, Copy)]
pub enum EventSubject<'a> {
    /// The Job of this exact name, as it exists now.
    Job(&'a str),
    /// The pods of this Job (its `job-name` label), as they exist now.
    PodsOfJob(&'a str),
}

impl std::fmt::Display for EventSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventSubject::Job(j) => write!(f, "Job {j}"),
            EventSubject::PodsOfJob(j) => write!(f, "the pods of Job {j}"),
        }
    }
}

/// The API server a kube-rs configuration leads to, comparable with a profile's
/// `target.cluster_server` (default ports and a trailing slash do not matter).
pub(crate) fn same_server(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        reqwest::Url::parse(s)
            .map(|u| {
                format!(
                    "{}://{}:{}{}",
                    u.scheme(),
                    u.host_str().unwrap_or_default(),
                    u.port_or_known_default().unwrap_or_default(),
                    u.path().trim_end_matches('/')
                )
            })
            .unwrap_or_else(|_| s.trim_end_matches('/').to_string())
    };
    norm(a) == norm(b)
}

impl Cluster {
    /// Connects to the cluster a remote profile names (kubeconfig, context or
    /// in-cluster; never an ambient fallback), after checking that it is the API
    /// server the profile expects (`target.cluster_server`). Sends nothing.
    pub async fn connect_target(
        config: &crate::target::config::Config,
        request_timeout: Duration,
    ) -> Result<Cluster> {
        let t = &config.profile.target;
        let kube_config = if t.in_cluster {
            kube::Config::incluster().map_err(|e| ClusterError::Config(e.to_string()))?
        } else {
            Self::kube_config(t.kubeconfig.as_deref(), t.kube_context.as_deref()).await?
        };
        let actual = kube_config.cluster_url.to_string();
        if let Some(expected) = &t.cluster_server
            && !same_server(expected, &actual)
        {
            return Err(ClusterError::WrongCluster {
                file: config.file.display().to_string(),
                expected: crate::safety::redact::url(expected),
                actual: crate::safety::redact::url(&actual),
            });
        }
        Self::from_config(kube_config, &t.namespace, request_timeout)
    }

    /// The deadline of one request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The API server URL this client sends to (userinfo stripped).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Connects with an explicit kubeconfig file, or a named context of the standard
    /// kubeconfig lookup; one of the two is required (never the ambient context).
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        namespace: &str,
        request_timeout: Duration,
    ) -> Result<Cluster> {
        let config = Self::kube_config(kubeconfig, context).await?;
        Self::from_config(config, namespace, request_timeout)
    }

    async fn kube_config(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<kube::Config> {
        let options = KubeConfigOptions {
            context: context.map(String::from),
            ..Default::default()
        };
        Ok(match kubeconfig {
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
                None => return Err(ClusterError::Unbound),
            },
        })
    }

    fn from_config(
        mut config: kube::Config,
        namespace: &str,
        request_timeout: Duration,
    ) -> Result<Cluster> {
        let server = crate::safety::redact::url(&config.cluster_url.to_string());
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
            server,
        })
    }

    /// How many Kubernetes API requests the suite has sent so far.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// One request under the profile's request deadline, its failure named by `what`:
    /// the deadline-plus-error-mapping every plain request of this module shares.
    async fn request<T>(
        &self,
        what: impl Into<String>,
        fut: impl std::future::Future<Output = std::result::Result<T, kube::Error>>,
    ) -> Result<T> {
        let what = what.into();
        within(self.request_timeout, &what, fut)
            .await?
            .map_err(api_err(what))
    }

    /// Every Job and Service of the namespace: where investigation objects are found.
    async fn jobs_and_services(&self) -> Result<(Vec<Job>, Vec<Service>)> {
        let lp = ListParams::default();
        let jobs = self
            .request("list Jobs", self.api::<Job>().list(&lp))
            .await?;
        let services = self
            .request("list Services", self.api::<Service>().list(&lp))
            .await?;
        Ok((jobs.items, services.items))
    }

    /// The cluster's `/version` gitVersion.
    pub async fn version(&self) -> Result<String> {
        let v = self
            .request("GET /version", self.client.apiserver_version())
            .await?;
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
        self.request(what, self.api::<K>().get_opt(name)).await
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
        let list = self.request(what, self.api::<Pod>().list(&lp)).await?;
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

    /// The identities of the investigation's objects that exist now.
    pub async fn identities(&self, objects: &InvestigationObjects) -> Result<Vec<OwnedObject>> {
        let (mut found, cleanup) = futures::try_join!(
            self.claim_identities(objects),
            self.job(&objects.cleanup_job)
        )?;
        found.extend(cleanup.map(|j| owned("Job", &j.metadata)));
        Ok(found)
    }

    /// The identity of one object of an investigation (`Job` or `Service`), if it exists.
    pub async fn identity_of(&self, kind: &str, name: &str) -> Result<Option<OwnedObject>> {
        Ok(match kind {
            "Job" => self.job(name).await?.map(|j| owned("Job", &j.metadata)),
            _ => self
                .service(name)
                .await?
                .map(|s| owned("Service", &s.metadata)),
        })
    }

    /// The identities of the investigation's objects that `known` lacks, for those
    /// created around the claim (`opened` ± `slack`, for clock skew): an object of
    /// the name created later is someone else's, and is reported, not returned.
    pub async fn identities_around(
        &self,
        objects: &InvestigationObjects,
        known: &[OwnedObject],
        opened: jiff::Timestamp,
        slack: Duration,
    ) -> Result<Vec<OwnedObject>> {
        let slack = jiff::SignedDuration::try_from(slack).unwrap_or_default();
        let missing = [
            ("Job", &objects.stream_job),
            ("Job", &objects.cleanup_job),
            ("Service", &objects.service),
        ]
        .into_iter()
        .filter(|(_, n)| !known.iter().any(|o| &o.name == *n));
        let mut late = Vec::new();
        for (kind, name) in missing {
            let Some(o) = self.identity_of(kind, name).await? else {
                continue;
            };
            let around = o
                .created
                .as_deref()
                .and_then(|c| c.parse::<jiff::Timestamp>().ok())
                .is_some_and(|c| {
                    c.as_second() >= (opened - slack).as_second()
                        && c.as_second() <= (opened + slack).as_second()
                });
            if around {
                late.push(o);
            } else {
                eprintln!(
                    "focus-scope: {kind}/{name} (created {}) was not there when investigation {} was claimed ({opened}): not deleted as the run's",
                    o.created.as_deref().unwrap_or("?"),
                    objects.job_id
                );
            }
        }
        Ok(late)
    }

    /// The identities of the stream Job and the Service, the objects whose names the
    /// server hands out again (slot and port): read when the run claims the
    /// investigation. Two requests, so that the 200 batch stays within its request
    /// budget (docs/performance.md); the cleanup Job is read when first needed.
    pub async fn claim_identities(
        &self,
        objects: &InvestigationObjects,
    ) -> Result<Vec<OwnedObject>> {
        let (stream, service) = futures::try_join!(
            self.job(&objects.stream_job),
            self.service(&objects.service),
        )?;
        Ok([
            stream.map(|j| owned("Job", &j.metadata)),
            service.map(|s| owned("Service", &s.metadata)),
        ]
        .into_iter()
        .flatten()
        .collect())
    }

    /// Deletes exactly the objects of the investigation whose identities the run
    /// recorded (each delete carries its uid as a precondition: an object recreated
    /// under the same name by someone else answers 409 and is left alone), and the
    /// pods of those Jobs; blocks until they are gone. Objects of the investigation's
    /// names with another uid are named in a [`ClusterError::NotOurs`] at the end.
    pub async fn delete_investigation(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let dp = |uid: &str| DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let uid_of = |kind: &str, name: &str| {
            owned
                .iter()
                .find(|o| o.kind == kind && o.name == name)
                .map(|o| o.uid.clone())
        };
        let mut not_ours = None;
        // The Service first: a server that sees a slot free once its Jobs are gone
        // must not hand the slot to a new investigation while the old Service still
        // holds the slot's NodePort (the observed server does not check the port).
        if let Some(uid) = uid_of("Service", &objects.service) {
            self.delete_owned::<Service>(&objects.service, &dp(&uid), &mut not_ours)
                .await?;
        }
        let jobs: Vec<(String, String)> = objects
            .jobs()
            .into_iter()
            .filter_map(|j| uid_of("Job", j).map(|u| (j.to_string(), u)))
            .collect();
        for (job, uid) in &jobs {
            self.delete_owned::<Job>(job, &dp(uid), &mut not_ours)
                .await?;
        }
        // Pods a server orphaned (deleted their Job without cascade) are still the
        // investigation's: matched by the exact job-name label, never by prefix, and
        // only when the run's Job owns them (or owned them: its controller-uid label).
        for (job, uid) in &jobs {
            for pod in self.pods_of_job(job).await? {
                if !pod_of_owned_job(&pod, uid) {
                    continue;
                }
                if let (Some(name), Some(pod_uid)) =
                    (pod.metadata.name.as_deref(), pod.metadata.uid.as_deref())
                {
                    self.delete_owned::<Pod>(name, &dp(pod_uid), &mut not_ours)
                        .await?;
                }
            }
        }
        let what = format!("investigation {} to be gone", objects.job_id);
        within(deadline, &what, async {
            for (job, uid) in &jobs {
                self.until_gone::<Job>(job, uid).await?;
                self.until_no_pods(job, Some(uid)).await?;
            }
            if let Some(uid) = uid_of("Service", &objects.service) {
                self.until_gone::<Service>(&objects.service, &uid).await?;
            }
            Ok::<_, ClusterError>(())
        })
        .await??;
        match not_ours {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Deletes one object under its uid precondition; a 409 is recorded in `not_ours`
    /// (the first one) and the deletion goes on with the next object.
    async fn delete_owned<K>(
        &self,
        name: &str,
        dp: &DeleteParams,
        not_ours: &mut Option<ClusterError>,
    ) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        match self.delete_ignoring_absent::<K>(name, dp).await {
            Err(ClusterError::Conflict { message, .. }) => {
                let uid = dp
                    .preconditions
                    .as_ref()
                    .and_then(|p| p.uid.clone())
                    .unwrap_or_default();
                eprintln!(
                    "focus-scope: {}/{name} now belongs to someone else (uid precondition {uid} failed: {message}): left alone",
                    K::kind(&Default::default())
                );
                not_ours.get_or_insert(ClusterError::NotOurs {
                    object: format!("{}/{name}", K::kind(&Default::default())),
                    uid,
                });
                Ok(())
            }
            other => other,
        }
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
            Err(kube::Error::Api(s)) if s.code == 409 => Err(ClusterError::Conflict {
                what,
                message: s.message.clone(),
            }),
            Err(e) => Err(api_err(what)(e)),
        }
    }

    /// Waits by watch until no object of this name has this uid (gone, or replaced
    /// by someone else's object, which is not waited for).
    async fn until_gone<K>(&self, name: &str, uid: &str) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        let uid = uid.to_string();
        await_condition(self.api::<K>(), name, move |o: Option<&K>| {
            o.is_none_or(|o| o.meta().uid.as_deref() != Some(uid.as_str()))
        })
        .await
        .map(|_| ())
        .map_err(|e| ClusterError::Api {
            what: format!("watch {name}"),
            message: e.to_string(),
        })
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

    /// Watches the Job's pods until, after a complete list, none is left (of those
    /// owned by the Job of `job_uid`, when given).
    async fn until_no_pods(&self, job: &str, job_uid: Option<&str>) -> Result<()> {
        let counts = |p: &Pod| job_uid.is_none_or(|u| owned_by(p, u));
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
                    if counts(&p) {
                        relisting.insert(p.metadata.name.unwrap_or_default());
                    }
                }
                watcher::Event::InitDone => {
                    live = std::mem::take(&mut relisting);
                    listed = true;
                }
                watcher::Event::Apply(p) => {
                    if counts(&p) {
                        live.insert(p.metadata.name.unwrap_or_default());
                    }
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

fn owned(kind: &str, m: &kube::api::ObjectMeta) -> OwnedObject {
    OwnedObject {
        kind: kind.to_string(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        created: m.creation_timestamp.as_ref().map(|t| t.0.to_string()),
    }
}

/// Whether the pod's owner is the Job of this uid.
fn owned_by(p: &Pod, job_uid: &str) -> bool {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == job_uid)
}

/// Whether the pod is the owned Job's: owned by it, or an orphan (no owner left) that
/// the Job's controller made — its `controller-uid` label (set by the Job controller
/// and kept when the pod is orphaned) is the Job's uid. By identity, not by time: the
/// server hands job names out again, so another user's Job of the same name may have
/// orphaned pods too.
fn pod_of_owned_job(p: &Pod, job_uid: &str) -> bool {
    if owned_by(p, job_uid) {
        return true;
    }
    let orphan = p
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty);
    let made_by_job = p.metadata.labels.as_ref().is_some_and(|l| {
        ["batch.kubernetes.io/controller-uid", "controller-uid"]
            .iter()
            .any(|k| l.get(*k).is_some_and(|v| v == job_uid))
    });
    orphan && made_by_job
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
    /// The nodes that are schedulable now (`spec.unschedulable` unset).
    pub async fn schedulable_nodes(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect())
    }

    /// Cordons these nodes, labelling each with the run's label so that `cleanup` can
    /// find and uncordon it after a crash. On a failure every node of the list is
    /// uncordoned again (a patch that timed out may have applied).
    pub async fn cordon(&self, names: &[String], run_label: &str) -> Result<()> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        // Each node as read now: one cordoned meanwhile by someone else is theirs, and a
        // patch carrying the resourceVersion read answers 409 if it changed since.
        let now: BTreeMap<String, (Option<String>, bool)> = self
            .list_nodes(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| {
                let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
                Some((
                    n.metadata.name?,
                    (n.metadata.resource_version, unschedulable),
                ))
            })
            .collect();
        for name in names {
            let Some((Some(rv), false)) = now.get(name).cloned() else {
                eprintln!(
                    "focus-scope: Node {name} is gone or cordoned by someone else: left alone"
                );
                continue;
            };
            let patch = serde_json::json!({
                "metadata": {"labels": {crate::safety::faults::RUN_LABEL: run_label}, "resourceVersion": rv},
                "spec": {"unschedulable": true},
            });
            let what = format!("cordon Node {name}");
            let done = within(
                self.request_timeout,
                &what,
                nodes.patch(
                    name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ),
            )
            .await
            .map_err(ClusterError::from)
            .and_then(|r| match r {
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    eprintln!("focus-scope: Node {name} changed since it was read: left alone");
                    Ok(())
                }
                other => other.map(|_| ()).map_err(api_err(what)),
            });
            if let Err(e) = done {
                let _ = self.uncordon_if_labelled(names, run_label).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Uncordons those of these nodes that carry the run's label (the run cordoned
    /// them), removing the label.
    pub async fn uncordon_if_labelled(&self, names: &[String], run_label: &str) -> Result<()> {
        let mut ours = self.nodes_labelled(run_label).await?;
        ours.retain(|n| names.contains(n));
        self.uncordon(&ours).await
    }

    /// The nodes carrying the run label `focus-scope/run-id=<run_label>` (cordoned by it).
    async fn nodes_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        let selector = format!("{}={run_label}", crate::safety::faults::RUN_LABEL);
        Ok(self
            .list_nodes(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect())
    }

    /// Uncordons exactly these nodes and removes the run label from them (a node that
    /// is gone is skipped).
    pub async fn uncordon(&self, names: &[String]) -> Result<()> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({
            "metadata": {"labels": {crate::safety::faults::RUN_LABEL: null}},
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
    /// The Deployment `name`, when the run scaled it (its label, and its replicas before
    /// in the `focus-scope/original-replicas` annotation), scaled back and unmarked: the
    /// undo of a cut live stream when only the label is left to go by (a lost ledger, a
    /// mirror). Answers what was done; nothing when the Deployment is not the run's.
    pub async fn restore_labelled_deployment(
        &self,
        name: &str,
        run_label: &str,
    ) -> Result<Option<String>> {
        use k8s_openapi::api::apps::v1::Deployment;
        let Some(d) = self.get_opt::<Deployment>(name).await? else {
            return Ok(None);
        };
        if !has_run_label(&d.metadata, run_label) {
            return Ok(None);
        }
        let original = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::safety::faults::ORIGINAL_REPLICAS))
            .and_then(|v| v.parse::<i32>().ok());
        Ok(Some(match original {
            Some(replicas) => {
                self.restore_deployment_scale(name, replicas, run_label)
                    .await?;
                format!("Deployment/{name} scaled back to {replicas}")
            }
            // Without its replicas before, guessing would be a change of our own.
            None => format!(
                "Deployment/{name} carries the run's label but no readable {}: left as it is",
                crate::safety::faults::ORIGINAL_REPLICAS
            ),
        }))
    }

    pub async fn uncordon_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        let names = self.nodes_labelled(run_label).await?;
        self.uncordon(&names).await?;
        Ok(names)
    }
}

/// An investigation object one request created, by identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CreatedObject {
    /// `Kind/name`.
    pub object: String,
    pub uid: String,
    pub job_id: String,
}

impl std::fmt::Display for CreatedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (uid {})", self.object, self.uid)
    }
}

/// What a request created, by identity rather than by timestamp: the investigation
/// objects (names and uids) listed before it and after it, plus a watch over the time
/// in between, so an object created and deleted meanwhile still counts. Creation
/// timestamps have one-second precision and come from the cluster's clock, which need
/// not be the runner's: a clock behind hides leftovers, one ahead blames older objects.
pub struct CreationWatch {
    cluster: Cluster,
    /// uids of the investigation objects listed before the request.
    before: BTreeSet<String>,
    /// The resourceVersions of the Job and Service lists before the request: the
    /// watches resume from there.
    jobs_since: String,
    services_since: String,
}

/// The investigation objects of a list, as [`CreatedObject`]s.
fn investigation_identities<K: Resource>(kind: &str, items: &[K]) -> Vec<CreatedObject> {
    items
        .iter()
        .filter_map(|o| {
            let m = o.meta();
            let name = m.name.as_deref()?;
            Some(CreatedObject {
                object: format!("{kind}/{name}"),
                uid: m.uid.clone()?,
                job_id: job_id_of(name)?.to_string(),
            })
        })
        .collect()
}

/// How long the watch that replays the request's window stays open: the server sends
/// every change since the list before the request at once, and closes the watch then.
const REPLAY_WATCH_SECS: u32 = 1;

impl Cluster {
    /// Lists the investigation objects (Jobs and Services): call before sending the
    /// request, [`CreationWatch::finish`] after it.
    pub async fn watch_creations(&self) -> Result<CreationWatch> {
        let (jobs, jobs_since) = self.list_identities::<Job>("Job").await?;
        let (services, services_since) = self.list_identities::<Service>("Service").await?;
        Ok(CreationWatch {
            cluster: self.clone(),
            before: jobs.into_iter().chain(services).map(|c| c.uid).collect(),
            jobs_since,
            services_since,
        })
    }

    /// The investigation objects of one kind, with the list's resourceVersion.
    async fn list_identities<K>(&self, kind: &str) -> Result<(Vec<CreatedObject>, String)>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let what = format!("list {kind}s");
        let list = within(
            self.request_timeout,
            &what,
            self.api::<K>().list(&ListParams::default()),
        )
        .await?
        .map_err(api_err(what))?;
        Ok((
            investigation_identities(kind, &list.items),
            list.metadata.resource_version.unwrap_or_default(),
        ))
    }

    /// Every investigation object of one kind that a change since `rv` touched (added,
    /// modified or deleted): a watch resumed from `rv` that the server closes after
    /// [`REPLAY_WATCH_SECS`]. A watch the server refuses (e.g. `rv` too old) is an error.
    async fn touched_since<K>(&self, kind: &'static str, rv: &str) -> Result<Vec<CreatedObject>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        let what = format!("watch {kind}s since resourceVersion {rv}");
        let wp = kube::api::WatchParams::default().timeout(REPLAY_WATCH_SECS);
        let deadline = self.request_timeout + Duration::from_secs(REPLAY_WATCH_SECS.into());
        let touched = within(deadline, &what, async {
            let stream = self
                .api::<K>()
                .watch(&wp, rv)
                .await
                .map_err(api_err(what.clone()))?;
            let mut stream = std::pin::pin!(stream);
            let mut touched = Vec::new();
            while let Some(event) = stream.next().await {
                match event.map_err(api_err(what.clone()))? {
                    kube::api::WatchEvent::Added(o)
                    | kube::api::WatchEvent::Modified(o)
                    | kube::api::WatchEvent::Deleted(o) => {
                        touched.extend(investigation_identities(kind, std::slice::from_ref(&o)));
                    }
                    kube::api::WatchEvent::Bookmark(_) => {}
                    kube::api::WatchEvent::Error(e) => {
                        return Err(ClusterError::Api {
                            what: what.clone(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            Ok(touched)
        })
        .await??;
        Ok(touched)
    }
}

impl CreationWatch {
    /// The investigation objects created since the list before the request: listed
    /// now but not then, or seen by the watch over that time (also those deleted
    /// again).
    pub async fn finish(self) -> Result<Vec<CreatedObject>> {
        let c = &self.cluster;
        let mut created = BTreeSet::new();
        created.extend(c.list_identities::<Job>("Job").await?.0);
        created.extend(c.list_identities::<Service>("Service").await?.0);
        // Both watches stay open for the same second.
        let (jobs, services) = futures::try_join!(
            c.touched_since::<Job>("Job", &self.jobs_since),
            c.touched_since::<Service>("Service", &self.services_since)
        )?;
        created.extend(jobs);
        created.extend(services);
        Ok(created
            .into_iter()
            .filter(|o| !self.before.contains(&o.uid))
            .collect())
    }
}

impl Cluster {
    /// Waits by watch until the Job has completed (a True `Complete` condition). A Job
    /// that fails instead, or is gone before it completed (also when it is already
    /// gone), is an error saying so; the watch starts from the Job as it is now.
    pub async fn wait_job_completes(&self, name: &str, deadline: Duration) -> Result<()> {
        let what = format!("Job {name} to complete");
        let finished = |j: Option<&Job>| {
            j.is_none_or(|j| {
                crate::footprint::true_conditions(j)
                    .iter()
                    .any(|(c, _)| c == "Complete" || c == "Failed")
            })
        };
        let job = within(
            deadline,
            &what,
            await_condition(self.api::<Job>(), name, finished),
        )
        .await?
        .map_err(|e| ClusterError::Api {
            what: what.clone(),
            message: e.to_string(),
        })?;
        let Some(job) = job else {
            return Err(ClusterError::Api {
                what,
                message: "the Job was gone before it was seen Complete".into(),
            });
        };
        let conditions = crate::footprint::true_conditions(&job);
        if conditions.iter().any(|(c, _)| c == "Complete") {
            return Ok(());
        }
        Err(ClusterError::Api {
            what,
            message: format!("the Job finished without completing: {conditions:?}"),
        })
    }
}

/// The namespace's Jobs, Services and investigation pods (label `job-name`), kept by
/// one watch each for one cleanup: it waits on these instead of opening a watch (or
/// sending a GET) per object. Started after the objects to delete were created, so
/// its first list is a snapshot that holds every one of them still there.
pub struct Mirror {
    jobs: kube::runtime::reflector::Store<Job>,
    services: kube::runtime::reflector::Store<Service>,
    pods: kube::runtime::reflector::Store<Pod>,
    changed: std::sync::Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mirror({} jobs, {} services, {} pods)",
            self.jobs.len(),
            self.services.len(),
            self.pods.len()
        )
    }
}

/// Keeps `store`'s reflector running and wakes the waiters of `changed` on each event.
fn mirror_task<K>(
    api: Api<K>,
    cfg: watcher::Config,
    changed: std::sync::Arc<tokio::sync::Notify>,
) -> (
    kube::runtime::reflector::Store<K>,
    tokio::task::JoinHandle<()>,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    <K as Resource>::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = kube::runtime::reflector::store::<K>();
    let stream = kube::runtime::reflector(writer, watcher(api, cfg)).default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {
            changed.notify_waiters();
        }
    });
    (reader, task)
}

impl Mirror {
    /// What of the run's objects of the investigation is still there: a Job or Service
    /// of an owned uid, and pods owned by an owned Job.
    fn left(&self, objects: &InvestigationObjects, owned: &[OwnedObject]) -> Vec<String> {
        let present = |kind: &str, uid: &str| match kind {
            "Job" => self
                .jobs
                .find(|j| j.metadata.uid.as_deref() == Some(uid))
                .is_some(),
            _ => self
                .services
                .find(|s| s.metadata.uid.as_deref() == Some(uid))
                .is_some(),
        };
        let mut left = Vec::new();
        for o in owned {
            if o.kind != "Job" && o.kind != "Service" {
                continue;
            }
            if present(&o.kind, &o.uid) {
                left.push(format!("{}/{}", o.kind, o.name));
            }
            if o.kind == "Job" && objects.jobs().contains(&o.name.as_str()) {
                for p in self.pods.state().iter().filter(|p| owned_by(p, &o.uid)) {
                    left.push(format!(
                        "Pod/{}",
                        p.metadata.name.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        left
    }

    /// Pods labelled with the Job's name (for orphans of a Job deleted without cascade).
    fn pods_of_job(&self, job: &str) -> Vec<Pod> {
        self.pods
            .state_filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("job-name"))
                    .is_some_and(|n| n == job)
            })
            .into_iter()
            .map(|p| (*p).clone())
            .collect()
    }

    /// Waits until [`Mirror::left`] is empty; the error names what remains.
    async fn until_left_empty(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let what = format!("investigation {} to be gone", objects.job_id);
        let gone = within(deadline, &what, async {
            loop {
                let notified = self.changed.notified();
                if self.left(objects, owned).is_empty() {
                    return;
                }
                notified.await;
            }
        })
        .await;
        gone.map_err(|e| {
            let left = self.left(objects, owned);
            ClusterError::Api {
                what: e.to_string(),
                message: format!("these remain: {}", left.join(", ")),
            }
        })
    }
}

impl Cluster {
    /// The names of every node of the cluster.
    pub async fn node_names(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect())
    }
}

impl Cluster {
    /// Watches of the namespace for one cleanup (6 requests: a list and a watch per
    /// kind), listed before it returns.
    pub async fn watch_namespace(&self) -> Result<Mirror> {
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let (jobs, t1) = mirror_task(
            self.api::<Job>(),
            watcher::Config::default(),
            changed.clone(),
        );
        let (services, t2) = mirror_task(
            self.api::<Service>(),
            watcher::Config::default(),
            changed.clone(),
        );
        let (pods, t3) = mirror_task(
            self.api::<Pod>(),
            watcher::Config::default().labels("job-name"),
            changed.clone(),
        );
        let mirror = Mirror {
            jobs,
            services,
            pods,
            changed,
            tasks: vec![t1, t2, t3],
        };
        let ready = async {
            let _ = mirror.jobs.wait_until_ready().await;
            let _ = mirror.services.wait_until_ready().await;
            let _ = mirror.pods.wait_until_ready().await;
        };
        within(self.request_timeout, "the cleanup's watches to list", ready).await?;
        Ok(mirror)
    }

    /// [`Cluster::delete_investigation`] served by a [`Mirror`] started before: the same
    /// deletes (uid preconditions, Background propagation, orphan pods by exact
    /// job-name and owner), with no GET and no watch of its own.
    pub async fn delete_investigation_watched(
        &self,
        mirror: &Mirror,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let dp = |uid: &str| DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let uid_of = |kind: &str, name: &str| {
            owned
                .iter()
                .find(|o| o.kind == kind && o.name == name)
                .map(|o| o.uid.clone())
        };
        let mut not_ours = None;
        // The Service first (see `delete_investigation`).
        if let Some(uid) = uid_of("Service", &objects.service) {
            self.delete_owned::<Service>(&objects.service, &dp(&uid), &mut not_ours)
                .await?;
        }
        let jobs: Vec<(String, String)> = objects
            .jobs()
            .into_iter()
            .filter_map(|j| uid_of("Job", j).map(|u| (j.to_string(), u)))
            .collect();
        for (job, uid) in &jobs {
            self.delete_owned::<Job>(job, &dp(uid), &mut not_ours)
                .await?;
        }
        for (job, uid) in &jobs {
            for pod in mirror.pods_of_job(job) {
                // Pods of a live Job go with it (Background); only orphans are deleted.
                if !pod_of_owned_job(&pod, uid) || owned_by(&pod, uid) {
                    continue;
                }
                if let (Some(name), Some(pod_uid)) =
                    (pod.metadata.name.as_deref(), pod.metadata.uid.as_deref())
                {
                    self.delete_owned::<Pod>(name, &dp(pod_uid), &mut not_ours)
                        .await?;
                }
            }
        }
        mirror.until_left_empty(objects, owned, deadline).await?;
        match not_ours {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
