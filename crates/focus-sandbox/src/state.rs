//! The server's shared state: a Kubernetes client, the settings, and the few
//! things that live in memory (defects in force, data catalogue, counters).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use jiff::Timestamp;
use kube::Client;
use serde::Serialize;

use crate::catalogue::Catalogue;
use crate::config::{ServerConfig, ServerProfile};
use crate::defects::{Defect, DefectSet};
use crate::manifests::PodFailure;
use crate::validation::Policy;

/// Shared, cheaply cloneable state of one server.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("namespace", &self.inner.namespace)
            .field("profile", &self.inner.profile)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    namespace: String,
    profile: ServerProfile,
    config: ServerConfig,
    defects: RwLock<DefectSet>,
    catalogue: RwLock<Catalogue>,
    seq: AtomicU64,
    seq_tx: tokio::sync::watch::Sender<u64>,
    /// Serialises "observe the cluster, pick a slot, reserve it".
    allocation: tokio::sync::Mutex<()>,
    reserved: Mutex<BTreeSet<u16>>,
    leaked: Mutex<BTreeSet<u16>>,
    cancelled: Mutex<HashSet<String>>,
    next_pod_failure: Armed<PodFailure>,
    next_idle_secs: Armed<u64>,
    in_flight: AtomicUsize,
    counters: Counters,
}

/// Counters exposed by `GET /_sandbox/counters`.
#[derive(Debug, Default)]
pub struct Counters {
    /// `POST /configure` requests received.
    pub configure_requests: AtomicU64,
    /// Configures answered 200.
    pub configure_ok: AtomicU64,
    /// Configures answered 4xx.
    pub configure_rejected: AtomicU64,
    /// Configures answered 5xx.
    pub configure_failed: AtomicU64,
    /// Investigations cancelled through `DELETE /job`.
    pub cancelled: AtomicU64,
    /// Investigations removed by their cleanup job.
    pub idle_removed: AtomicU64,
    /// Investigations kept at the end of their idle time (a client connected).
    pub idle_kept: AtomicU64,
    /// Half-created investigations rolled back.
    pub rollbacks: AtomicU64,
    /// Slots skipped because another Service held their NodePort.
    pub ports_skipped: AtomicU64,
    /// Simulated server restarts (`restart-under-load`).
    pub restarts: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    /// `POST /configure` requests received.
    pub configure_requests: u64,
    /// Configures answered 200.
    pub configure_ok: u64,
    /// Configures answered 4xx.
    pub configure_rejected: u64,
    /// Configures answered 5xx.
    pub configure_failed: u64,
    /// Investigations cancelled.
    pub cancelled: u64,
    /// Investigations removed by their cleanup job.
    pub idle_removed: u64,
    /// Investigations kept at the end of their idle time.
    pub idle_kept: u64,
    /// Half-created investigations rolled back.
    pub rollbacks: u64,
    /// Slots skipped because their NodePort was held.
    pub ports_skipped: u64,
    /// Simulated restarts.
    pub restarts: u64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Increments a counter.
pub fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves consistent data.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AppState {
    /// A server for `namespace` through `client`.
    pub fn new(
        client: Client,
        namespace: impl Into<String>,
        profile: ServerProfile,
        config: ServerConfig,
        defects: impl IntoIterator<Item = Defect>,
    ) -> Self {
        let catalogue = Catalogue::new(&config, Timestamp::now());
        AppState {
            inner: Arc::new(Inner {
                client,
                namespace: namespace.into(),
                profile,
                config,
                defects: RwLock::new(defects.into_iter().collect()),
                catalogue: RwLock::new(catalogue),
                seq: AtomicU64::new(0),
                seq_tx: tokio::sync::watch::Sender::new(0),
                allocation: tokio::sync::Mutex::new(()),
                reserved: Mutex::default(),
                leaked: Mutex::default(),
                cancelled: Mutex::default(),
                next_pod_failure: Armed::default(),
                next_idle_secs: Armed::default(),
                in_flight: AtomicUsize::new(0),
                counters: Counters::default(),
            }),
        }
    }

    /// The Kubernetes client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
    /// The namespace of the investigations.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }
    /// The profile.
    pub fn profile(&self) -> ServerProfile {
        self.inner.profile
    }
    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }
    /// The path prefix ("" or e.g. "/focus-server"), normalised.
    pub fn prefix(&self) -> String {
        normalize_prefix(&self.inner.config.prefix)
    }

    /// Defects in force.
    pub fn defects(&self) -> DefectSet {
        self.inner
            .defects
            .read()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
    /// Whether `d` is in force.
    pub fn has(&self, d: Defect) -> bool {
        self.defects().contains(&d)
    }
    /// Switches a defect on or off.
    pub fn set_defect(&self, d: Defect, on: bool) {
        let mut set = self
            .inner
            .defects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if on {
            set.insert(d);
        } else {
            set.remove(&d);
        }
    }
    /// Switches every defect off.
    pub fn clear_defects(&self) {
        self.inner
            .defects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
    /// The validation policy now.
    pub fn policy(&self) -> Policy {
        Policy {
            profile: self.profile(),
            defects: self.defects(),
        }
    }

    /// A copy of the data catalogue.
    pub fn catalogue(&self) -> Catalogue {
        self.inner
            .catalogue
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }
    /// Changes the catalogue.
    pub fn update_catalogue<R>(&self, f: impl FnOnce(&mut Catalogue) -> R) -> R {
        let mut c = self
            .inner
            .catalogue
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut c)
    }

    /// Held while observing the cluster and reserving a slot.
    pub async fn allocation_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.allocation.lock().await
    }
    /// Slots reserved by configures in flight.
    pub fn reserved(&self) -> MutexGuard<'_, BTreeSet<u16>> {
        lock(&self.inner.reserved)
    }
    /// Slots never to be reused (`slot-leak`).
    pub fn leaked(&self) -> MutexGuard<'_, BTreeSet<u16>> {
        lock(&self.inner.leaked)
    }
    /// The next seq: above every seq this process handed out and every seq seen in the cluster.
    pub fn next_seq(&self, seen_in_cluster: u64) -> u64 {
        let mut current = self.inner.seq.load(Ordering::SeqCst);
        loop {
            let next = current.max(seen_in_cluster) + 1;
            match self
                .inner
                .seq
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.inner.seq_tx.send_if_modified(|v| {
                        let newer = next > *v;
                        if newer {
                            *v = next;
                        }
                        newer
                    });
                    return next;
                }
                Err(actual) => current = actual,
            }
        }
    }
    /// Starts seq above `seen` (e.g. the seq recorded before a restart).
    pub fn seed_seq(&self, seen: u64) {
        self.inner.seq.fetch_max(seen, Ordering::SeqCst);
    }
    /// Every seq handed out, as it happens.
    pub fn subscribe_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.seq_tx.subscribe()
    }
    /// Job ids cancelled by this process.
    pub fn cancelled(&self) -> MutexGuard<'_, HashSet<String>> {
        lock(&self.inner.cancelled)
    }
    /// Sets or clears the failure injected into the next investigation's pod (of the
    /// next configure carrying `marker`, or of whichever comes next without one).
    pub fn set_next_pod_failure(&self, marker: Option<&str>, f: Option<PodFailure>) {
        self.inner.next_pod_failure.set(marker, f);
    }
    /// The pod failure armed for `marker`, if any (left in place).
    pub fn next_pod_failure(&self, marker: Option<&str>) -> Option<PodFailure> {
        self.inner.next_pod_failure.get(marker)
    }
    /// Takes the pod failure of a configure carrying `marker`.
    pub fn take_pod_failure(&self, marker: Option<&str>) -> Option<PodFailure> {
        self.inner.next_pod_failure.take(marker)
    }

    /// Sets or clears the idle time (seconds) of the next investigation (as
    /// [`AppState::set_next_pod_failure`]).
    pub fn set_next_idle_secs(&self, marker: Option<&str>, secs: Option<u64>) {
        self.inner.next_idle_secs.set(marker, secs);
    }
    /// The idle time armed for `marker`, if any (left in place).
    pub fn next_idle_secs(&self, marker: Option<&str>) -> Option<u64> {
        self.inner.next_idle_secs.get(marker)
    }
    /// Takes the idle time of a configure carrying `marker`.
    pub fn take_idle_secs(&self, marker: Option<&str>) -> Option<u64> {
        self.inner.next_idle_secs.take(marker)
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }
    /// A snapshot of the counters.
    pub fn counters_snapshot(&self) -> CountersSnapshot {
        let c = &self.inner.counters;
        CountersSnapshot {
            configure_requests: get(&c.configure_requests),
            configure_ok: get(&c.configure_ok),
            configure_rejected: get(&c.configure_rejected),
            configure_failed: get(&c.configure_failed),
            cancelled: get(&c.cancelled),
            idle_removed: get(&c.idle_removed),
            idle_kept: get(&c.idle_kept),
            rollbacks: get(&c.rollbacks),
            ports_skipped: get(&c.ports_skipped),
            restarts: get(&c.restarts),
        }
    }

    /// Marks one configure in flight until the guard drops; returns how many are in flight.
    pub fn enter_configure(&self) -> (InFlight, usize) {
        let n = self.inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        (
            InFlight {
                state: self.clone(),
            },
            n,
        )
    }

    /// Forgets what a restart forgets: in-memory cancellations and reservations are
    /// kept consistent, the pending pod failure and idle time are dropped.
    pub fn simulate_restart(&self) {
        bump(&self.inner.counters.restarts);
        self.inner.next_pod_failure.clear();
        self.inner.next_idle_secs.clear();
    }
}

/// A setting armed for the next configure: per request marker
/// ([`crate::names::MARKER_HEADER`], only the configure carrying it takes it), or
/// unmarked (whichever configure comes next). Markers let a client run scenarios that
/// arm settings beside each other without one taking another's.
#[derive(Debug)]
struct Armed<T>(Mutex<HashMap<Option<String>, T>>);

impl<T> Default for Armed<T> {
    fn default() -> Self {
        Armed(Mutex::default())
    }
}

impl<T: Copy> Armed<T> {
    fn set(&self, marker: Option<&str>, value: Option<T>) {
        let mut m = lock(&self.0);
        let key = marker.map(str::to_owned);
        match value {
            Some(v) => m.insert(key, v),
            None => m.remove(&key),
        };
    }

    fn get(&self, marker: Option<&str>) -> Option<T> {
        lock(&self.0).get(&marker.map(str::to_owned)).copied()
    }

    /// The marker's own setting, else the unmarked one.
    fn take(&self, marker: Option<&str>) -> Option<T> {
        let mut m = lock(&self.0);
        marker
            .and_then(|k| m.remove(&Some(k.to_owned())))
            .or_else(|| m.remove(&None))
    }

    fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// Guard of one in-flight configure.
pub struct InFlight {
    state: AppState,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `"focus-server/"` → `"/focus-server"`; `""` and `"/"` → `""`.
pub fn normalize_prefix(p: &str) -> String {
    let trimmed = p.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}
