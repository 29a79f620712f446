//! The cluster as the configure path needs it — investigation object names, NodePorts
//! held by any Service, Ready nodes — kept by watches, so a configure does not list
//! the cluster.
//!
//! A watch lags the cluster by the events in flight. The slot allocation stays exact
//! because a configure notes the names it is about to create (`expect`) while it holds
//! its slot's reservation, and they stay noted until the watch itself has seen them
//! (or the configure failed and `forget`s them): a configure that reads reservations
//! first and this index second sees every slot in use in one of the two. Objects
//! removed are seen late, which only keeps a slot busy a little longer.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{ListParams, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::slots::Usage;

/// How long a configure waits for the watches' first listing before it lists itself.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// A relist forgets expected names noted this long before it began: a configure's
/// creates are long done by then, so a name the relist did not find was deleted while
/// the watch was down (a leaked slot otherwise).
const EXPECT_GRACE: Duration = Duration::from_secs(30);

/// Jobs, Services, Nodes.
const WATCHES: usize = 3;

/// What one Service contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SvcInfo {
    in_namespace: bool,
    node_ports: Vec<u16>,
}

/// The three watched kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Jobs,
    Services,
    Nodes,
}

#[derive(Debug, Default)]
struct Data {
    /// Job names in the namespace.
    jobs: BTreeSet<String>,
    /// (namespace, name) → what the Service holds.
    services: HashMap<(String, String), SvcInfo>,
    /// Node name → InternalIP when Ready.
    nodes: BTreeMap<String, Option<String>>,
    /// Names this process creates, not yet seen by the watch of their kind, and when noted.
    created: HashMap<(Kind, String), Instant>,
    /// Relists in progress: kind → (buffer of names/objects, when the relist began).
    relist_began: HashMap<Kind, Instant>,
    jobs_buf: BTreeSet<String>,
    services_buf: HashMap<(String, String), SvcInfo>,
    nodes_buf: BTreeMap<String, Option<String>>,
    synced: BTreeSet<Kind>,
}

impl Data {
    fn seen(&mut self, kind: Kind, name: &str) {
        self.created.remove(&(kind, name.to_string()));
    }

    /// A relist of `kind` finished: it replaces the kind's contents.
    fn relisted(&mut self, kind: Kind) {
        if let Some(began) = self.relist_began.remove(&kind) {
            self.created
                .retain(|(k, _), at| *k != kind || *at + EXPECT_GRACE >= began);
        }
        match kind {
            Kind::Jobs => self.jobs = std::mem::take(&mut self.jobs_buf),
            Kind::Services => self.services = std::mem::take(&mut self.services_buf),
            Kind::Nodes => self.nodes = std::mem::take(&mut self.nodes_buf),
        }
        self.synced.insert(kind);
    }
}

/// The index and the tasks feeding it (stopped when the index is dropped).
#[derive(Debug)]
pub struct ClusterIndex {
    data: Arc<Mutex<Data>>,
    synced: watch::Receiver<usize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterIndex {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn lock(m: &Mutex<Data>) -> MutexGuard<'_, Data> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn service_info(svc: &Service, namespace: &str) -> SvcInfo {
    SvcInfo {
        in_namespace: svc.metadata.namespace.as_deref() == Some(namespace),
        node_ports: svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| p.node_port.and_then(|n| u16::try_from(n).ok()))
            .collect(),
    }
}

fn node_info(node: &Node) -> Option<String> {
    let status = node.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return None;
    }
    status
        .addresses
        .iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

/// One watch applied to the index: `key` names an object, `apply` and `remove` edit
/// the live contents, `buffer` the relist in progress.
async fn follow<K, S>(
    data: Arc<Mutex<Data>>,
    synced: watch::Sender<usize>,
    kind: Kind,
    stream: S,
    apply: impl Fn(&mut Data, &K, bool),
    remove: impl Fn(&mut Data, &K),
    name: impl Fn(&K) -> String,
) where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                // the backoff retries; until then the index keeps what it had
                tracing::debug!(?kind, error = %e, "cluster index watch failed; retrying");
                continue;
            }
        };
        let mut d = lock(&data);
        match ev {
            watcher::Event::Init => {
                d.relist_began.insert(kind, Instant::now());
            }
            watcher::Event::InitApply(o) => {
                d.seen(kind, &name(&o));
                apply(&mut d, &o, true);
            }
            watcher::Event::InitDone => {
                d.relisted(kind);
                let n = d.synced.len();
                drop(d);
                synced.send_replace(n);
            }
            watcher::Event::Apply(o) => {
                d.seen(kind, &name(&o));
                apply(&mut d, &o, false);
            }
            watcher::Event::Delete(o) => remove(&mut d, &o),
        }
    }
}

impl ClusterIndex {
    /// Starts the watches: Jobs (metadata) in `namespace`, Services cluster-wide (in
    /// `namespace` only, when listing all is forbidden), Nodes.
    pub async fn start(client: &Client, namespace: &str) -> ClusterIndex {
        let data = Arc::new(Mutex::new(Data::default()));
        let (tx, synced) = watch::channel(0);
        let mut tasks = Vec::new();
        let cfg = watcher::Config::default();

        // metadata-only: a Job's name is all the slots need
        let jobs: Api<PartialObjectMeta<Job>> = Api::namespaced(client.clone(), namespace);
        tasks.push(tokio::spawn(follow(
            data.clone(),
            tx.clone(),
            Kind::Jobs,
            watcher(jobs, cfg.clone()).default_backoff(),
            |d: &mut Data, j: &PartialObjectMeta<Job>, init| {
                let name = j.metadata.name.clone().unwrap_or_default();
                if init {
                    d.jobs_buf.insert(name);
                } else {
                    d.jobs.insert(name);
                }
            },
            |d: &mut Data, j: &PartialObjectMeta<Job>| {
                if let Some(n) = &j.metadata.name {
                    d.jobs.remove(n);
                }
            },
            |j: &PartialObjectMeta<Job>| j.metadata.name.clone().unwrap_or_default(),
        )));

        // NodePorts are cluster-wide; fall back to the namespace if listing all is forbidden.
        let all: Api<Service> = Api::all(client.clone());
        let services = match all.list_metadata(&ListParams::default().limit(1)).await {
            Err(kube::Error::Api(s)) if s.is_forbidden() => {
                Api::namespaced(client.clone(), namespace)
            }
            _ => all,
        };
        let ns = namespace.to_string();
        let key = |s: &Service| {
            (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            )
        };
        tasks.push(tokio::spawn(follow(
            data.clone(),
            tx.clone(),
            Kind::Services,
            watcher(services, cfg.clone()).default_backoff(),
            move |d: &mut Data, s: &Service, init| {
                let info = service_info(s, &ns);
                if init {
                    d.services_buf.insert(key(s), info);
                } else {
                    d.services.insert(key(s), info);
                }
            },
            move |d: &mut Data, s: &Service| {
                d.services.remove(&key(s));
            },
            |s: &Service| s.metadata.name.clone().unwrap_or_default(),
        )));

        let nodes: Api<Node> = Api::all(client.clone());
        tasks.push(tokio::spawn(follow(
            data.clone(),
            tx,
            Kind::Nodes,
            watcher(nodes, cfg).default_backoff(),
            |d: &mut Data, n: &Node, init| {
                let name = n.metadata.name.clone().unwrap_or_default();
                if init {
                    d.nodes_buf.insert(name, node_info(n));
                } else {
                    d.nodes.insert(name, node_info(n));
                }
            },
            |d: &mut Data, n: &Node| {
                if let Some(name) = &n.metadata.name {
                    d.nodes.remove(name);
                }
            },
            |n: &Node| n.metadata.name.clone().unwrap_or_default(),
        )));

        ClusterIndex {
            data,
            synced,
            tasks,
        }
    }

    /// Waits up to `SYNC_WAIT` for every watch to have listed once.
    pub async fn wait_ready(&self) {
        let mut rx = self.synced.clone();
        let _ = tokio::time::timeout(SYNC_WAIT, rx.wait_for(|n| *n >= WATCHES)).await;
    }

    /// Every watch has listed once.
    pub fn is_ready(&self) -> bool {
        *self.synced.borrow() >= WATCHES
    }

    /// Investigation names (Jobs and Services of the namespace, and names created by
    /// this process not yet seen) and every Service's NodePorts.
    pub fn usage(&self) -> Usage {
        let d = lock(&self.data);
        let mut usage = Usage::default();
        for name in &d.jobs {
            usage.note_name(name);
        }
        for ((_, name), svc) in &d.services {
            if svc.in_namespace {
                usage.note_name(name);
            }
            usage.held_ports.extend(svc.node_ports.iter().copied());
        }
        for (_, name) in d.created.keys() {
            usage.note_name(name);
        }
        usage
    }

    /// Ready nodes as `(name, InternalIP)`, by name.
    pub fn ready_nodes(&self) -> Vec<(String, String)> {
        lock(&self.data)
            .nodes
            .iter()
            .filter_map(|(n, ip)| Some((n.clone(), ip.clone()?)))
            .collect()
    }

    /// Jobs and Services this process is about to create: counted until the watch
    /// sees them. Call while the slot is reserved, before the first create.
    pub fn expect(&self, jobs: &[String], services: &[String]) {
        let now = Instant::now();
        let mut d = lock(&self.data);
        for j in jobs {
            d.created.insert((Kind::Jobs, j.clone()), now);
        }
        for s in services {
            d.created.insert((Kind::Services, s.clone()), now);
        }
    }

    /// A configure failed: what it expected counts only once the watch sees it.
    pub fn forget(&self, jobs: &[String], services: &[String]) {
        let mut d = lock(&self.data);
        for j in jobs {
            d.created.remove(&(Kind::Jobs, j.clone()));
        }
        for s in services {
            d.created.remove(&(Kind::Services, s.clone()));
        }
    }
}
