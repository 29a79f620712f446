//! The Kubernetes handle: a kube-rs client for one namespace, inspection of an
//! investigation's objects by exact name, waits by watch under a deadline, and
//! deletion of exactly the objects the run created.
//!
//! The only module of the suite that builds a `kube::Api`. This file holds the client
//! (connection, the request helper with its deadline and error mapping, plain GETs);
//! the rest is split by concern: `identities` (names and uids of an investigation's
//! objects), `creations` (what one request created), `deletion` (deleting exactly the
//! run's objects, waits until gone), `mirror` (one cleanup's watches), `pods` (a Job's
//! pods, whose they are, their stages), `workloads` (Jobs and pods by condition, Focus
//! Server's pods), `investigations` (objects by time, stream slots and ports), `nodes`
//! (schedulable nodes, cordons), `gpu_events` (GPU slices, events), `labelled` (what
//! carries the run label), `objects` (kind-generic verbs for the modules with their
//! own object logic: the run Lease, the ledger mirror, fault objects).

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

use crate::target::names::InvestigationObjects;
use crate::target::names::OwnedObject;
use crate::target::wait::{WaitError, within};

mod creations;
mod deletion;
mod gpu_events;
mod identities;
mod investigations;
mod labelled;
mod mirror;
mod nodes;
mod objects;
mod pods;
#[cfg(test)]
mod tests;
mod workloads;

pub use creations::{CreatedObject, CreationWatch, Creations, ReplayEnd};
pub use identities::job_id_of;
pub use mirror::Mirror;
use objects::Namespaced;
pub use pods::{PodStagesSeen, StageTracker, pod_phase, pod_scheduled};
use pods::{owned_by, pod_of_owned_job};
pub use workloads::{FOCUS_SERVER_SELECTOR, ServerPod, true_conditions};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
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
    /// A request the API server (or the way to it) refused.
    #[error("Kubernetes API: {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// A watch that failed.
    #[error("Kubernetes API: {what}: {source}")]
    Watch {
        what: String,
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// A wait for an object's condition whose watch failed.
    #[error("Kubernetes API: {what}: {source}")]
    Condition {
        what: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
    /// The cluster answered, but not with what was waited for (a watch that ended, an
    /// object gone, a Job that failed, a status in a watch stream).
    #[error("Kubernetes API: {what}: {message}")]
    Unmet { what: String, message: String },
    /// A delete with the uid precondition answered 409: the name belongs to another
    /// object now (another user's). Never retried without the precondition.
    #[error("{object} is not the run's any more (its uid is no longer {uid}): left alone")]
    NotOurs { object: String, uid: String },
    /// 409 Conflict (a failed precondition).
    #[error("Kubernetes API: {what}: 409 Conflict: {message}")]
    Conflict {
        what: String,
        message: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Wait(#[from] WaitError),
}

type Result<T> = std::result::Result<T, ClusterError>;

/// The error of a request named `what`, keeping kube-rs's error as its source.
fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Api { what, source }
}

/// The error of a watch named `what`.
fn watch_err(
    what: impl Into<String>,
) -> impl FnOnce(kube::runtime::watcher::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Watch { what, source }
}

/// The error of a condition wait named `what`.
fn condition_err(
    what: impl Into<String>,
) -> impl FnOnce(kube::runtime::wait::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Condition { what, source }
}

/// The cluster answered `what` with something other than what was waited for.
fn unmet(what: impl Into<String>, message: impl Into<String>) -> ClusterError {
    ClusterError::Unmet {
        what: what.into(),
        message: message.into(),
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
            kube::Config::incluster().map_err(|e| ClusterError::Config(Box::new(e)))?
        } else {
            Self::kube_config(t.kubeconfig.as_deref(), t.kube_context.as_deref()).await?
        };
        let actual = kube_config.cluster_url.to_string();
        if let Some(expected) = &t.cluster_server
            && !same_server(expected, &actual)
        {
            return Err(ClusterError::WrongCluster {
                file: config.file.display().to_string(),
                expected: crate::target::redact::url(expected),
                actual: crate::target::redact::url(&actual),
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
                let kc =
                    Kubeconfig::read_from(path).map_err(|source| ClusterError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    })?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| ClusterError::Config(Box::new(e)))?
            }
            None => match context {
                Some(_) => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| ClusterError::Config(Box::new(e)))?,
                None => return Err(ClusterError::Unbound),
            },
        })
    }

    fn from_config(
        mut config: kube::Config,
        namespace: &str,
        request_timeout: Duration,
    ) -> Result<Cluster> {
        let server = crate::target::redact::url(&config.cluster_url.to_string());
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
            .map_err(|e| ClusterError::Config(Box::new(e)))?
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
        K: Namespaced,
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
        K: Namespaced,
    {
        let what = format!("get {} {name}", K::kind(&Default::default()));
        self.request(what, self.api::<K>().get_opt(name)).await
    }
}
