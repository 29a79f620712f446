//! Controllers: tasks fed by store events (plus a resync tick and optional timers),
//! each deciding with pure functions and writing through the cluster verbs.

pub mod deployment;
pub mod gc;
pub mod job;
pub mod kubelet;
pub mod quota;
pub mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::cluster::Cluster;
use crate::store::StoreEvent;

/// One controller's behaviour; `run` drives it.
pub trait Controller: Send + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// Whether a store change should trigger a reconcile.
    fn relevant(&self, e: &StoreEvent) -> bool;
    /// Bring the world closer to the desired state (synchronous: store calls only).
    fn reconcile(&mut self, cluster: &Cluster);
    /// When a timer of this controller next fires.
    fn next_wake(&self) -> Option<tokio::time::Instant> {
        None
    }
}

/// Run a controller until shutdown: reconcile on relevant events (coalesced), on
/// every resync tick, when its timer fires, and after a lagged subscription.
pub async fn run<C: Controller>(cluster: Arc<Cluster>, mut c: C, resync: Duration) {
    let mut rx = cluster.store.subscribe();
    let mut shutdown = cluster.shutdown.clone();
    let mut tick = tokio::time::interval(resync.max(Duration::from_millis(5)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    c.reconcile(&cluster);
    loop {
        let wake = c.next_wake();
        let mut dirty;
        tokio::select! {
            r = rx.recv() => match r {
                Ok(e) => dirty = c.relevant(&e),
                Err(RecvError::Lagged(_)) => dirty = true,
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => dirty = true,
            _ = async {
                match wake {
                    Some(w) => tokio::time::sleep_until(w).await,
                    None => std::future::pending::<()>().await,
                }
            } => dirty = true,
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        // coalesce whatever else is already queued
        loop {
            match rx.try_recv() {
                Ok(e) => dirty |= c.relevant(&e),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => dirty = true,
                Err(_) => break,
            }
        }
        if dirty {
            c.reconcile(&cluster);
        }
    }
    tracing::debug!(controller = c.name(), "stopped");
}

/// Start every controller.
pub fn spawn_all(cluster: &Arc<Cluster>) -> Vec<JoinHandle<()>> {
    let clock = cluster.store.clock().clone();
    let resync = clock.scale(Duration::from_millis(250));
    vec![
        tokio::spawn(run(cluster.clone(), scheduler::Scheduler, resync)),
        tokio::spawn(run(cluster.clone(), kubelet::Kubelet::new(cluster), resync)),
        tokio::spawn(run(cluster.clone(), job::JobController::default(), resync)),
        tokio::spawn(run(
            cluster.clone(),
            deployment::DeploymentController,
            resync,
        )),
        tokio::spawn(run(cluster.clone(), gc::GarbageCollector, resync)),
        tokio::spawn(run(cluster.clone(), quota::QuotaController, resync)),
    ]
}
