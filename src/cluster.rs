//! The Kubernetes handle: a kube-rs client for one namespace, inspection of an
//! investigation's objects by exact name, waits by watch under a deadline, and
//! deletion of exactly the objects the run created.

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

use crate::investigation::InvestigationObjects;
use crate::ledger::OwnedObject;
use crate::wait::{WaitError, within};

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
        config: &crate::config::Config,
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
                expected: crate::redact::url(expected),
                actual: crate::redact::url(&actual),
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
        let server = crate::redact::url(&config.cluster_url.to_string());
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
        // only when the run's Job owns them (or owned them: an orphan no older than it).
        for (job, uid) in &jobs {
            let since = owned
                .iter()
                .find(|o| &o.uid == uid)
                .and_then(|o| o.created.clone());
            for pod in self.pods_of_job(job).await? {
                if !pod_of_owned_job(&pod, uid, since.as_deref()) {
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

/// Whether the pod is the owned Job's: owned by it, or an orphan (no owner left)
/// created no earlier than the Job (`job_created`, RFC 3339) was.
fn pod_of_owned_job(p: &Pod, job_uid: &str, job_created: Option<&str>) -> bool {
    if owned_by(p, job_uid) {
        return true;
    }
    let orphan = p
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty);
    let job_created = job_created.and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let pod_created = p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    orphan && matches!((job_created, pod_created), (Some(j), Some(c)) if c >= j)
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
                self.until_no_pods(job, None).await?;
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

    /// Waits by watch (field selector on the reason) until an event with `reason` is
    /// about `subject` itself, by identity: the exact name and the uid the object has
    /// now, so neither a namesake by prefix (`grpc-job-1-1` / `grpc-job-1-10`) nor an
    /// earlier object of the same name counts. Returns the event's message.
    pub async fn wait_event(
        &self,
        subject: EventSubject<'_>,
        reason: &str,
        deadline: Duration,
    ) -> Result<String> {
        use k8s_openapi::api::core::v1::Event;
        let what = format!("a {reason} event for {subject}");
        let (fields, job_uid) = match subject {
            EventSubject::Job(name) => {
                let uid = self
                    .api::<Job>()
                    .get_opt(name)
                    .await
                    .map_err(|e| ClusterError::Api {
                        what: what.clone(),
                        message: e.to_string(),
                    })?
                    .and_then(|j| j.metadata.uid)
                    .ok_or_else(|| ClusterError::Api {
                        what: what.clone(),
                        message: format!("Job {name} does not exist"),
                    })?;
                (
                    format!("reason={reason},involvedObject.name={name}"),
                    Some(uid),
                )
            }
            EventSubject::PodsOfJob(_) => {
                (format!("reason={reason},involvedObject.kind=Pod"), None)
            }
        };
        let pods = self.api::<Pod>();
        let events = watcher(
            self.api::<Event>(),
            watcher::Config::default().fields(&fields),
        )
        .default_backoff()
        .applied_objects()
        .try_filter(move |e: &Event| {
            let (name, uid) = (
                e.involved_object.name.clone().unwrap_or_default(),
                e.involved_object.uid.clone(),
            );
            let (job_uid, pods) = (job_uid.clone(), pods.clone());
            async move {
                match subject {
                    EventSubject::Job(job) => name == job && uid == job_uid,
                    // A pod of the Job now: its `job-name` label and its uid.
                    EventSubject::PodsOfJob(job) => match pods.get_opt(&name).await {
                        Ok(Some(p)) => {
                            p.metadata.uid == uid
                                && p.metadata
                                    .labels
                                    .as_ref()
                                    .and_then(|l| l.get("job-name"))
                                    .map(String::as_str)
                                    == Some(job)
                        }
                        _ => false,
                    },
                }
            }
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
    /// The replicas a Deployment of the namespace asks for now.
    pub async fn deployment_replicas(&self, name: &str) -> Result<i32> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("get the scale of Deployment {name}");
        Ok(within(self.request_timeout, &what, api.get_scale(name))
            .await?
            .map_err(api_err(what))?
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(0))
    }

    /// Marks the Deployment as the run's change (the run label, and its replicas
    /// before as an annotation), then scales it.
    pub async fn scale_deployment_for_run(
        &self,
        name: &str,
        replicas: i32,
        original: i32,
        run_label: &str,
    ) -> Result<()> {
        let mark = serde_json::json!({"metadata": {
            "labels": {crate::faults::RUN_LABEL: run_label},
            "annotations": {crate::faults::ORIGINAL_REPLICAS: original.to_string()},
        }});
        self.patch_deployment(name, &mark).await?;
        self.set_deployment_scale(name, replicas).await
    }

    /// Scales a Deployment the run marked back to `replicas` and removes the mark; a
    /// Deployment without the run's mark is not the run's change and is left alone.
    pub async fn restore_deployment_scale(
        &self,
        name: &str,
        replicas: i32,
        run_label: &str,
    ) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let Some(d) = self.get_opt::<Deployment>(name).await? else {
            return Ok(());
        };
        if !has_run_label(&d.metadata, run_label) {
            eprintln!(
                "focus-scope: Deployment {name} does not carry this run's label: its scale is left alone"
            );
            return Ok(());
        }
        self.set_deployment_scale(name, replicas).await?;
        let unmark = serde_json::json!({"metadata": {
            "labels": {crate::faults::RUN_LABEL: null},
            "annotations": {crate::faults::ORIGINAL_REPLICAS: null},
        }});
        self.patch_deployment(name, &unmark).await
    }

    async fn patch_deployment(&self, name: &str, patch: &serde_json::Value) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("patch Deployment {name}");
        within(
            self.request_timeout,
            &what,
            api.patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            ),
        )
        .await?
        .map_err(api_err(what))?;
        Ok(())
    }

    async fn set_deployment_scale(&self, name: &str, replicas: i32) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("scale Deployment {name}");
        let patch = kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        within(
            self.request_timeout,
            &what,
            api.patch_scale(name, &kube::api::PatchParams::default(), &patch),
        )
        .await?
        .map_err(api_err(what))?;
        Ok(())
    }

    /// Deletes one object of the namespace if it carries the run's label (under its
    /// uid); an object without it (someone else's under the same name) is left alone.
    pub async fn delete_if_labelled<K>(&self, name: &str, run_label: &str) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        let Some(o) = self.get_opt::<K>(name).await? else {
            return Ok(());
        };
        if !has_run_label(o.meta(), run_label) {
            eprintln!(
                "focus-scope: {}/{name} does not carry this run's label: left alone",
                K::kind(&Default::default())
            );
            return Ok(());
        }
        let dp = DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions {
                uid: o.meta().uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.delete_ignoring_absent::<K>(name, &dp).await {
            Err(ClusterError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => self.gone_within_request_deadline::<K>(o.meta()).await,
        }
    }

    /// Waits (by watch, within the request deadline) until a pod is gone: a fault undone
    /// leaves nothing behind, not even a pod still terminating. Other kinds the suite
    /// makes (Services, ResourceQuotas, Leases) have no grace period: their delete is
    /// their end, and the RBAC grants no watch on them.
    async fn gone_within_request_deadline<K>(&self, meta: &kube::api::ObjectMeta) -> Result<()>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
        <K as Resource>::DynamicType: Default,
    {
        let (Some(name), Some(uid)) = (meta.name.as_deref(), meta.uid.as_deref()) else {
            return Ok(());
        };
        if K::kind(&Default::default()) != "Pod" {
            return Ok(());
        }
        let what = format!("{}/{name} to be gone", K::kind(&Default::default()));
        within(self.request_timeout, &what, self.until_gone::<K>(name, uid)).await?
    }
}

fn has_run_label(m: &kube::api::ObjectMeta, run_label: &str) -> bool {
    m.labels
        .as_ref()
        .and_then(|l| l.get(crate::faults::RUN_LABEL))
        .is_some_and(|v| v == run_label)
}

impl Cluster {
    /// Deletes the suite's own fault objects of a run (Services, Pods, ResourceQuotas
    /// labelled `focus-scope/run-id=<label>`); returns their names.
    pub async fn delete_labelled(&self, run_label: &str, lease_too: bool) -> Result<Vec<String>> {
        use k8s_openapi::api::coordination::v1::Lease;
        use k8s_openapi::api::core::v1::ResourceQuota;
        let selector = format!("{}={run_label}", crate::faults::RUN_LABEL);
        let mut deleted = Vec::new();
        deleted.extend(self.delete_all_labelled::<Service>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<Pod>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<ResourceQuota>(&selector).await?);
        // The run lock, if the crashed run still held it (a new holder relabels it).
        if lease_too {
            deleted.extend(self.delete_all_labelled::<Lease>(&selector).await?);
        }
        Ok(deleted)
    }

    /// Deletes every object of kind `K` matching the label selector; returns `Kind/name`s.
    async fn delete_all_labelled<K>(&self, selector: &str) -> Result<Vec<String>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
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
            // The object as listed, and no other: one changed since (a Lease another run
            // took over) answers 409 and is left alone.
            let dp = DeleteParams {
                propagation_policy: Some(kube::api::PropagationPolicy::Background),
                preconditions: Some(kube::api::Preconditions {
                    uid: o.meta().uid.clone(),
                    resource_version: (kind == "Lease")
                        .then(|| o.meta().resource_version.clone())
                        .flatten(),
                }),
                ..Default::default()
            };
            match self.delete_ignoring_absent::<K>(&name, &dp).await {
                Err(ClusterError::Conflict { .. }) => {
                    eprintln!("focus-scope: {kind}/{name} changed since it was listed: left alone");
                    continue;
                }
                other => other?,
            }
            self.gone_within_request_deadline::<K>(o.meta()).await?;
            deleted.push(format!("{kind}/{name}"));
        }
        Ok(deleted)
    }
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
                "metadata": {"labels": {crate::faults::RUN_LABEL: run_label}, "resourceVersion": rv},
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
        let selector = format!("{}={run_label}", crate::faults::RUN_LABEL);
        let ours: Vec<String> = self
            .list_nodes(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .filter(|n| names.contains(n))
            .collect();
        self.uncordon(&ours).await
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
            .and_then(|a| a.get(crate::faults::ORIGINAL_REPLICAS))
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
                crate::faults::ORIGINAL_REPLICAS
            ),
        }))
    }

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
            let since = owned
                .iter()
                .find(|o| &o.uid == uid)
                .and_then(|o| o.created.clone());
            for pod in mirror.pods_of_job(job) {
                // Pods of a live Job go with it (Background); only orphans are deleted.
                if !pod_of_owned_job(&pod, uid, since.as_deref()) || owned_by(&pod, uid) {
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
