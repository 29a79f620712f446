//! Controllers: tasks fed by store events (plus a resync tick and optional timers),
//! each deciding with pure functions and writing through the cluster verbs.

pub mod deployment;
pub mod gc;
pub mod job;
pub mod kubelet;
pub mod quota;
pub mod scheduler;
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::api_state::ApiState;
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::store::StoreEvent;

/// The object a controller writes, named in the log line of a failed write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> Written<'a> {
    pub(crate) fn new(rt: &ResourceType, namespace: &'a str, name: &'a str) -> Self {
        Written {
            kind: rt.kind,
            namespace,
            name,
        }
    }
}

/// A controller's write that failed. One that lost a race (the object is gone, or
/// changed meanwhile) is retried by the next reconcile, which sees the new state;
/// anything else is worth a warning, never silence.
pub(crate) fn note_failed<T>(
    controller: &'static str,
    action: &str,
    object: Written<'_>,
    r: Result<T, ApiError>,
) {
    let Written {
        kind,
        namespace,
        name,
    } = object;
    match r {
        Ok(_) => {}
        Err(e @ (ApiError::NotFound { .. } | ApiError::Conflict { .. })) => {
            tracing::debug!(controller, action, kind, namespace, name, error = %e,
                "lost a race; the next reconcile retries");
        }
        Err(e) => {
            tracing::warn!(controller, action, kind, namespace, name, error = %e, "write failed");
        }
    }
}

/// What a reconcile left behind, telling `run` whether to come back at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// Everything marked was handled: the next change, timer or resync tick wakes it.
    Done,
    /// Work was left (a large batch is handled in chunks, so API requests get the store
    /// and a core between chunks): reconcile again after yielding.
    Requeue,
}

impl Reconciled {
    /// `Requeue` when `more` work is left.
    pub fn requeue_if(more: bool) -> Self {
        if more {
            Reconciled::Requeue
        } else {
            Reconciled::Done
        }
    }
}

/// One controller's behaviour; `run` drives it.
pub trait Controller: Send + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Note a store change (e.g. mark objects dirty); `true` asks for a reconcile.
    fn observe(&mut self, e: &StoreEvent) -> bool;
    /// Bring the world closer to the desired state (synchronous: store calls only).
    /// `full`: consider everything (resync tick, lagged subscription), not just what
    /// `observe` marked.
    fn reconcile(&mut self, cluster: &ApiState, full: bool) -> Reconciled;
    /// When a timer of this controller next fires.
    fn next_wake(&self) -> Option<Instant> {
        None
    }
    /// Events were lost (lagged subscription): indexes fed by `observe` must be rebuilt
    /// by the next (full) reconcile.
    fn lagged(&mut self) {}
    /// Wait this long after a change before reconciling, to batch bursts.
    fn debounce(&self) -> Duration {
        Duration::ZERO
    }
    /// Release resources at shutdown; `run` awaits the returned tasks before it ends.
    fn stop(&mut self) -> Vec<JoinHandle<()>> {
        Vec::new()
    }
}

/// Run a controller until shutdown: reconcile after observed changes (coalesced and
/// optionally debounced), when its timer fires, and fully on every resync tick and
/// after a lagged subscription.
pub async fn run<C: Controller>(cluster: Arc<ApiState>, mut c: C, resync: Duration) {
    let mut rx = cluster.store.subscribe();
    let mut shutdown = cluster.shutdown.clone();
    let mut tick = tokio::time::interval(resync.max(Duration::from_millis(5)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    // Work this first pass leaves is picked up by the first tick, as any other.
    c.reconcile(&cluster, true);
    let mut due: Option<Instant> = None;
    let mut full = false;
    loop {
        let wake = match (c.next_wake(), due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            r = rx.recv() => match r {
                Ok(e) => {
                    if c.observe(&e) && due.is_none() {
                        due = Some(Instant::now() + c.debounce());
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    c.lagged();
                    full = true;
                    due = Some(Instant::now());
                }
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                full = true;
                due = Some(Instant::now());
            }
            _ = async {
                match wake {
                    Some(w) => tokio::time::sleep_until(w).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                due = Some(due.map_or(Instant::now(), |d| d.min(Instant::now())));
            }
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // coalesce whatever else is already queued
        loop {
            match rx.try_recv() {
                Ok(e) => {
                    if c.observe(&e) && due.is_none() {
                        due = Some(Instant::now() + c.debounce());
                    }
                }
                Err(TryRecvError::Lagged(_)) => {
                    c.lagged();
                    full = true;
                    due = Some(Instant::now());
                }
                Err(_) => break,
            }
        }
        if due.is_some_and(|d| d <= Instant::now()) {
            let started = Instant::now();
            let reconciled = c.reconcile(&cluster, full);
            let took = started.elapsed();
            if took >= Duration::from_millis(20) {
                tracing::debug!(
                    controller = c.name(),
                    full,
                    ms = took.as_millis() as u64,
                    "slow reconcile"
                );
            }
            due = None;
            full = false;
            if reconciled == Reconciled::Requeue {
                due = Some(Instant::now());
                tokio::task::yield_now().await;
            }
        }
    }
    for t in c.stop() {
        let _ = t.await;
    }
    tracing::debug!(controller = c.name(), "stopped");
}

/// Largest number of objects a non-full reconcile handles before yielding.
pub const RECONCILE_CHUNK: usize = 32;

/// Keep at most `RECONCILE_CHUNK` items of `items`; the rest go to `rest`.
pub fn take_chunk<T: Clone + Eq + std::hash::Hash>(
    items: &mut std::collections::HashSet<T>,
    rest: &mut std::collections::HashSet<T>,
) {
    if items.len() <= RECONCILE_CHUNK {
        return;
    }
    let extra: Vec<T> = items.iter().skip(RECONCILE_CHUNK).cloned().collect();
    for k in extra {
        items.remove(&k);
        rest.insert(k);
    }
}

/// Start every controller.
pub fn spawn_all(cluster: &Arc<ApiState>) -> Vec<JoinHandle<()>> {
    let clock = cluster.store.clock().clone();
    let resync = clock.scale(Duration::from_millis(250));
    vec![
        tokio::spawn(run(
            cluster.clone(),
            scheduler::Scheduler::default(),
            resync,
        )),
        tokio::spawn(run(cluster.clone(), kubelet::Kubelet::new(cluster), resync)),
        tokio::spawn(run(
            cluster.clone(),
            job::JobController::default(),
            resync * 8,
        )),
        tokio::spawn(run(
            cluster.clone(),
            deployment::DeploymentController,
            resync,
        )),
        tokio::spawn(run(cluster.clone(), gc::GarbageCollector, resync)),
        tokio::spawn(run(cluster.clone(), quota::QuotaController, resync)),
    ]
}
