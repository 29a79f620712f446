//! Parallelism by resource: a scenario tagged `@exclusive:<resource>` holds that
//! resource alone, from before its first step until its next holder can no longer be
//! affected by it; every other scenario holds it shared. Scenarios that do not
//! conflict run together (English and Hebrew twins included); one that reshapes what
//! every configure gets (a pod failure, a quota, the 200 batch) waits for the
//! scenarios using that resource to finish, and they wait for it.
//!
//! Every scenario may open investigations, and an investigation uses every resource
//! (a stream slot and port, a GPU slice, a schedulable node, the live stream or the
//! recordings), so every scenario takes every resource it does not hold alone as
//! shared. The sandbox's next-investigation settings (pod failure, idle time) are no
//! resource: each is armed for the configures carrying its scenario's marker
//! (`Suite::open_investigation`), so no other scenario's configure can take it. Locks are taken in [`Resource::ALL`]'s
//! order, so two scenarios never wait on each other (no deadlock).
//!
//! The after hook gives the locks back in [`Stage`]s ([`Held::release`]), not all at
//! once after the last pod is gone: `fiber`, `recordings` and `nodes` once the faults
//! are undone, `ports` once the investigations' Jobs and Services are gone, `capacity`
//! and `gpu` once their pods are gone too ([`Resource::free_after`] says why). A
//! resource held alone becomes shared once the faults are undone (but `capacity`):
//! from then on the scenario is one more whose investigations are being deleted, which
//! is what shared scenarios run beside anyway. Releasing, in any order, never waits,
//! so the stages keep the lock order's guarantee.
//!
//! Size: ~370 lines of resources and their locks (one concern: who may run beside
//! whom); the rest is their tests.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use tokio::sync::Notify;

use crate::safety::faults::Fault;

/// What a scenario can take alone. The order of the variants is the order locks are
/// taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// The whole target quiet: the 200 batch, clean startup (nothing else opens).
    Capacity,
    /// The live stream (the sandbox's fiber, or the live-stream Deployment).
    Fiber,
    /// GPU slices: filler pods, a ResourceQuota.
    Gpu,
    /// Node schedulability and pod networking: cordon, pod IPs exhausted.
    Nodes,
    /// Stream slots and NodePorts: port holders, slot reuse.
    Ports,
    /// The recordings historic investigations read.
    Recordings,
}

impl Resource {
    pub const ALL: [Resource; 6] = [
        Resource::Capacity,
        Resource::Fiber,
        Resource::Gpu,
        Resource::Nodes,
        Resource::Ports,
        Resource::Recordings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Capacity => "capacity",
            Resource::Fiber => "fiber",
            Resource::Gpu => "gpu",
            Resource::Nodes => "nodes",
            Resource::Ports => "ports",
            Resource::Recordings => "recordings",
        }
    }

    /// The stage of a scenario's after hook from which this scenario can no longer
    /// affect a next holder of the resource that takes it alone.
    pub fn free_after(self) -> Stage {
        match self {
            // Cutting the live stream, replacing the recordings, cordoning every node,
            // running the pod CIDRs dry: an earlier scenario's investigations, deleted
            // or terminating, change none of these (the pod network's exhaustion is a
            // node annotation, not a count of the pods left).
            Resource::Fiber | Resource::Recordings | Resource::Nodes => Stage::FaultsUndone,
            // Port holders and slot reuse count free NodePorts and stream slots: a
            // Service holds its NodePort and a Job its slot until gone; a terminating
            // pod holds neither.
            Resource::Ports => Stage::ObjectsGone,
            // The capacity scenarios need free stream slots (a Job holds its slot until
            // gone) and no investigation but the run's (clean startup: the run's own,
            // terminating, are ours). The GPU slices their pods need are `gpu`'s: the
            // 200 batch, which needs 200 of them, takes `gpu` alone as well.
            Resource::Capacity => Stage::ObjectsGone,
            // A terminating pod still holds its GPU slice (a GPU-exhausted premise taken
            // while it lingers breaks when it ends).
            Resource::Gpu => Stage::PodsGone,
        }
    }

    /// The stage from which a resource this scenario holds alone may be shared: its
    /// faults are undone, and a scenario whose investigations are being deleted is
    /// what every shared scenario runs beside. But `capacity`: what its scenarios leave
    /// (200 investigations) holds the stream slots the next ones need until gone.
    fn shared_after(self) -> Stage {
        match self {
            Resource::Capacity => Stage::ObjectsGone,
            _ => Stage::FaultsUndone,
        }
    }

    pub fn parse(s: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == s)
    }

    /// The resource a fault takes from every other scenario; `None` for a setting
    /// armed for the scenario's own configures only (its marker).
    pub fn of_fault(fault: &Fault) -> Option<Resource> {
        match fault {
            Fault::FiberDisconnected | Fault::DeploymentScaled { .. } => Some(Resource::Fiber),
            Fault::RecordingsReplaced => Some(Resource::Recordings),
            Fault::PortHolder { .. } => Some(Resource::Ports),
            Fault::Quota { .. } | Fault::GpuFillers { .. } => Some(Resource::Gpu),
            Fault::NextPodFailure { .. }
            | Fault::NextIdleTimeout { .. }
            | Fault::UnmarkedPodFailure
            | Fault::UnmarkedIdleTimeout => None,
            Fault::Cordoned(_) | Fault::PodNetworkExhausted => Some(Resource::Nodes),
        }
    }
}

/// How far a scenario's after hook has come ([`Held::release`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Its faults are undone (or their resources poisoned, [`Held::poison`]).
    FaultsUndone,
    /// Its investigations' Jobs and Services are seen gone.
    ObjectsGone,
    /// Their pods are seen gone too: the cleanup is over.
    PodsGone,
}

/// The resources a scenario declares with `@exclusive:<resource>` (tags without `@`);
/// an unknown resource is an error naming the tag.
pub fn declared<'a>(
    tags: impl IntoIterator<Item = &'a String>,
) -> Result<BTreeSet<Resource>, String> {
    let mut out = BTreeSet::new();
    for t in tags {
        if let Some(r) = t.strip_prefix("exclusive:") {
            let known = Resource::ALL.map(Resource::name).join(", ");
            out.insert(
                Resource::parse(r).ok_or_else(|| {
                    format!("tag `@{t}`: unknown resource `{r}` (known: {known})")
                })?,
            );
        }
    }
    Ok(out)
}

/// The steps that take a resource from every other scenario (English text, as it
/// begins): each fault-injecting step of `src/steps`, and the 200 batch. A scenario
/// with one of them must declare the resource (checked by this module's tests).
#[cfg(test)]
pub const TAKING_STEPS: &[(&str, &[Resource])] = &[
    // Armed for the scenario's own configures (its marker): nothing taken.
    ("the next investigation's pod is made to fail by", &[]),
    ("the next investigation's idle time is shortened", &[]),
    (
        "every free stream port is held by another Service",
        &[Resource::Ports],
    ),
    (
        "a ResourceQuota leaves no room for another GPU slice",
        &[Resource::Gpu],
    ),
    ("every free GPU slice is taken", &[Resource::Gpu]),
    ("every node is cordoned", &[Resource::Nodes]),
    ("no pod IP address is left on any node", &[Resource::Nodes]),
    ("the live stream is disconnected", &[Resource::Fiber]),
    (
        "the environment has no recordings",
        &[Resource::Fiber, Resource::Recordings],
    ),
    (
        "another Service holds the stream port the server would pick next",
        &[Resource::Ports],
    ),
    (
        "the required number of live investigations is opened in parallel",
        &[Resource::Capacity, Resource::Gpu],
    ),
];

/// A reader-preferring lock: a scenario taking a resource alone waits until no one
/// holds it, but does not make newcomers wait behind it. cucumber starts scenarios in
/// file order with a bounded number in flight; a fair lock would split the run into
/// short phases around each exclusive scenario, this one lets the shared scenarios run
/// together and the exclusive ones take the gaps and the end.
#[derive(Default)]
struct Lock {
    /// (shared holders, held alone)
    state: std::sync::Mutex<(usize, bool)>,
    released: Notify,
    /// Why the resource is left faulted (a fault of it could not be undone): no later
    /// scenario of the run is tried against it (see [`Held::acquire`]).
    poisoned: std::sync::Mutex<Option<String>>,
}

impl Lock {
    async fn take(self: &Arc<Self>, alone: bool) -> Guard {
        loop {
            let released = self.released.notified();
            if let Ok(mut st) = self.state.lock() {
                let free = !st.1 && (!alone || st.0 == 0);
                if free {
                    if alone {
                        st.1 = true;
                    } else {
                        st.0 += 1;
                    }
                    return Guard {
                        lock: self.clone(),
                        alone,
                    };
                }
            }
            released.await;
        }
    }
}

/// One resource held; released on drop.
struct Guard {
    lock: Arc<Lock>,
    alone: bool,
}

impl Guard {
    /// Held alone → held shared: the waiters for it shared go on, those for it alone
    /// still wait.
    fn share(&mut self) {
        if !self.alone {
            return;
        }
        let mut st = self
            .lock
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.1 = false;
        st.0 += 1;
        drop(st);
        self.alone = false;
        self.lock.released.notify_waiters();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut st) = self.lock.state.lock() {
            if self.alone {
                st.1 = false;
            } else {
                st.0 = st.0.saturating_sub(1);
            }
        }
        self.lock.released.notify_waiters();
    }
}

static LOCKS: LazyLock<[Arc<Lock>; Resource::ALL.len()]> =
    LazyLock::new(|| std::array::from_fn(|_| Arc::default()));

/// The locks a scenario holds; dropping it releases them.
#[derive(Default)]
pub struct Held {
    /// In [`Resource::ALL`]'s order; a resource released ([`Held::release`]) is gone.
    guards: Vec<(Resource, Guard)>,
    alone: BTreeSet<Resource>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.alone.iter().map(|r| r.name()))
            .finish()
    }
}

impl Held {
    /// Takes `alone` exclusively and every other resource shared, in the fixed order.
    /// Fails, releasing them, when one of them is left faulted by an earlier scenario
    /// ([`Held::poison`]): the scenario would be judged against a faulted environment,
    /// so it fails saying so instead.
    pub async fn acquire(alone: BTreeSet<Resource>) -> Result<Held, String> {
        Held::acquire_in(&LOCKS, alone).await
    }

    /// [`Held::acquire`] from a set of locks, one per resource in [`Resource::ALL`]'s order.
    async fn acquire_in(
        locks: &[Arc<Lock>; Resource::ALL.len()],
        alone: BTreeSet<Resource>,
    ) -> Result<Held, String> {
        let mut guards = Vec::with_capacity(Resource::ALL.len());
        for (r, lock) in Resource::ALL.into_iter().zip(locks.iter()) {
            guards.push((r, lock.take(alone.contains(&r)).await));
        }
        let poisoned: Vec<String> = Resource::ALL
            .into_iter()
            .zip(locks.iter())
            .filter_map(|(r, lock)| {
                let why = lock
                    .poisoned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()?;
                Some(format!("resource `{}`: {why}", r.name()))
            })
            .collect();
        if !poisoned.is_empty() {
            return Err(format!(
                "not run: the environment is left faulted ({}); the end of the run retries the undo",
                poisoned.join("; ")
            ));
        }
        Ok(Held { guards, alone })
    }

    /// Marks `resource` as left faulted for the rest of the run (`why` names the fault
    /// and the failed undo): every later scenario fails in [`Held::acquire`]. Called
    /// before the resource is released (the after hook undoes the faults first).
    pub fn poison(&self, resource: Resource, why: &str) {
        if let Some((_, guard)) = self.guards.iter().find(|(r, _)| *r == resource) {
            guard
                .lock
                .poisoned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(|| why.to_string());
        }
    }

    /// Gives back what this scenario, having come to `reached`, can no longer affect:
    /// each resource whose [`Resource::free_after`] is reached is released, and one
    /// held alone is shared from [`Resource::shared_after`] on. Never waits.
    pub fn release(&mut self, reached: Stage) {
        // A capacity scenario's terminating pods (the 200 batch's: 200 GPU slices) are
        // the load the next capacity scenario must not run beside, and on a cluster
        // with few slices to spare they would keep its pods Pending: its `gpu` stays
        // alone until they are gone.
        let batch = self.alone.contains(&Resource::Capacity);
        self.guards.retain_mut(|(r, guard)| {
            if reached >= r.free_after() {
                return false;
            }
            let shared_after = if batch && *r == Resource::Gpu {
                Stage::PodsGone
            } else {
                r.shared_after()
            };
            if reached >= shared_after {
                guard.share();
            }
            true
        });
    }

    /// Fails unless the scenario holds the fault's resource alone: a fault of an
    /// undeclared resource would change what the scenarios beside it get.
    pub fn check_fault(&self, fault: &Fault) -> anyhow::Result<()> {
        let Some(r) = Resource::of_fault(fault) else {
            return Ok(());
        };
        if self.guards.is_empty() || self.alone.contains(&r) {
            return Ok(());
        }
        anyhow::bail!(
            "the scenario injected {fault:?}, a fault of resource `{}`, without declaring `@exclusive:{}`: the scenarios running beside it would see it",
            r.name(),
            r.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse_by_name_and_unknown_ones_are_named() {
        let tags = ["exclusive:gpu".to_string(), "k8s".to_string()];
        assert_eq!(declared(&tags), Ok(BTreeSet::from([Resource::Gpu])));
        let bad = ["exclusive:gpus".to_string()];
        let e = declared(&bad).expect_err("unknown");
        assert!(e.contains("@exclusive:gpus") && e.contains("gpu"), "{e}");
        for r in Resource::ALL {
            assert_eq!(Resource::parse(r.name()), Some(r));
        }
    }

    #[test]
    fn a_fault_of_an_undeclared_resource_fails() {
        let held = Held {
            guards: vec![(
                Resource::Gpu,
                Guard {
                    lock: Arc::default(),
                    alone: false,
                },
            )],
            alone: BTreeSet::from([Resource::Gpu]),
        };
        assert!(held.check_fault(&Fault::Quota { name: "q".into() }).is_ok());
        let e = held
            .check_fault(&Fault::Cordoned(vec!["n1".into()]))
            .expect_err("undeclared");
        assert!(e.to_string().contains("@exclusive:nodes"), "{e}");
        // Armed for the scenario's own configures: no resource to declare.
        let own = Fault::NextPodFailure {
            marker: crate::target::names::SandboxMarker::of_scenario("k8s-pod-failure-reason#1@12"),
        };
        assert!(held.check_fault(&own).is_ok());
    }

    #[tokio::test]
    async fn alone_excludes_shared_and_disjoint_alone_is_not_needed_twice() {
        // Scenario A holds gpu alone; B (shared everything) must wait for it.
        let a = Held::acquire(BTreeSet::from([Resource::Gpu]))
            .await
            .expect("not poisoned");
        let b = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            Held::acquire(BTreeSet::new()),
        )
        .await;
        assert!(b.is_err(), "a shared holder got past an exclusive one");
        drop(a);
        let b = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            Held::acquire(BTreeSet::new()),
        )
        .await;
        assert!(
            b.is_ok(),
            "the shared holder waited after the exclusive one ended"
        );
    }

    #[tokio::test]
    async fn a_resource_left_faulted_fails_every_later_scenario() {
        let locks: [Arc<Lock>; Resource::ALL.len()] = std::array::from_fn(|_| Arc::default());
        let a = Held::acquire_in(&locks, BTreeSet::from([Resource::Nodes]))
            .await
            .expect("not poisoned");
        a.poison(Resource::Nodes, "Cordoned of `s1` could not be undone");
        drop(a);
        for alone in [BTreeSet::new(), BTreeSet::from([Resource::Gpu])] {
            let e = Held::acquire_in(&locks, alone)
                .await
                .expect_err("the environment is left faulted");
            assert!(
                e.contains("resource `nodes`") && e.contains("could not be undone"),
                "{e}"
            );
        }
        // Released again: a scenario that failed here holds nothing.
        assert!(
            locks
                .iter()
                .all(|l| l.state.lock().is_ok_and(|st| *st == (0, false)))
        );
    }

    type Locks = [Arc<Lock>; Resource::ALL.len()];

    /// Whether `waiter` (an acquire in flight) gets its locks now; it stays pending
    /// (and registered with the locks it waits on) when not.
    async fn gets(
        waiter: &mut std::pin::Pin<Box<impl std::future::Future<Output = Result<Held, String>>>>,
    ) -> Option<Held> {
        tokio::time::timeout(std::time::Duration::from_millis(50), waiter)
            .await
            .ok()
            .map(|r| r.expect("not poisoned"))
    }

    #[tokio::test]
    async fn ports_is_released_once_the_objects_are_gone_and_gpu_once_the_pods_are() {
        let locks: Locks = std::array::from_fn(|_| Arc::default());
        let mut a = Held::acquire_in(&locks, BTreeSet::from([Resource::Ports]))
            .await
            .expect("not poisoned");
        let mut ports = Box::pin(Held::acquire_in(&locks, BTreeSet::from([Resource::Ports])));
        let mut gpu = Box::pin(Held::acquire_in(&locks, BTreeSet::from([Resource::Gpu])));
        assert!(
            gets(&mut ports).await.is_none(),
            "ports taken beside its holder"
        );
        a.release(Stage::FaultsUndone);
        assert!(
            gets(&mut ports).await.is_none(),
            "ports released before the Services and Jobs were gone"
        );
        a.release(Stage::ObjectsGone);
        let next_ports = gets(&mut ports)
            .await
            .expect("a ports-alone waiter goes on once the Jobs and Services are gone");
        drop(next_ports);
        // The first scenario still holds gpu shared while its pods terminate.
        assert!(
            gets(&mut gpu).await.is_none(),
            "gpu taken alone while a scenario's pods were terminating"
        );
        a.release(Stage::PodsGone);
        assert!(
            a.guards.is_empty(),
            "everything is released at the last stage"
        );
        assert!(
            gets(&mut gpu).await.is_some(),
            "gpu not free after the last stage"
        );
    }

    #[tokio::test]
    async fn a_resource_held_alone_is_shared_once_the_faults_are_undone_capacity_once_its_objects_are_gone()
     {
        let locks: Locks = std::array::from_fn(|_| Arc::default());
        let mut a = Held::acquire_in(&locks, BTreeSet::from([Resource::Gpu, Resource::Nodes]))
            .await
            .expect("not poisoned");
        let mut nodes = Box::pin(Held::acquire_in(&locks, BTreeSet::from([Resource::Nodes])));
        let mut shared = Box::pin(Held::acquire_in(&locks, BTreeSet::new()));
        assert!(gets(&mut nodes).await.is_none(), "nodes beside its holder");
        assert!(
            gets(&mut shared).await.is_none(),
            "shared beside an alone holder"
        );
        a.release(Stage::FaultsUndone);
        let nodes = gets(&mut nodes)
            .await
            .expect("nodes is released once the faults are undone");
        drop(nodes);
        let shared = gets(&mut shared)
            .await
            .expect("a shared waiter goes on once the faults are undone");
        drop(shared);
        let mut gpu = Box::pin(Held::acquire_in(&locks, BTreeSet::from([Resource::Gpu])));
        a.release(Stage::ObjectsGone);
        assert!(
            gets(&mut gpu).await.is_none(),
            "gpu alone before the pods were gone"
        );
        a.release(Stage::PodsGone);
        assert!(
            gets(&mut gpu).await.is_some(),
            "gpu not free once the pods were gone"
        );

        // Capacity stays alone until its scenario's Jobs and Services are gone (they
        // hold the stream slots); the GPU slices of its pods are gpu's, held shared
        // until the pods are gone.
        let mut c = Held::acquire_in(&locks, BTreeSet::from([Resource::Capacity]))
            .await
            .expect("not poisoned");
        let mut shared = Box::pin(Held::acquire_in(&locks, BTreeSet::new()));
        let mut gpu = Box::pin(Held::acquire_in(&locks, BTreeSet::from([Resource::Gpu])));
        c.release(Stage::FaultsUndone);
        assert!(
            gets(&mut shared).await.is_none(),
            "capacity shared before its Jobs and Services were gone"
        );
        c.release(Stage::ObjectsGone);
        let beside = gets(&mut shared)
            .await
            .expect("capacity not free once the Jobs and Services were gone");
        drop(beside);
        assert!(
            gets(&mut gpu).await.is_none(),
            "gpu alone while the capacity scenario's pods were terminating"
        );
        c.release(Stage::PodsGone);
        assert!(gets(&mut gpu).await.is_some(), "gpu not free at the end");
    }

    #[tokio::test]
    async fn after_a_batch_holding_capacity_and_gpu_the_next_waits_for_its_pods() {
        let locks: Locks = std::array::from_fn(|_| Arc::default());
        let mut batch =
            Held::acquire_in(&locks, BTreeSet::from([Resource::Capacity, Resource::Gpu]))
                .await
                .expect("not poisoned");
        let mut next = Box::pin(Held::acquire_in(
            &locks,
            BTreeSet::from([Resource::Capacity]),
        ));
        batch.release(Stage::FaultsUndone);
        batch.release(Stage::ObjectsGone);
        assert!(
            gets(&mut next).await.is_none(),
            "a capacity scenario began beside the batch's terminating pods"
        );
        batch.release(Stage::PodsGone);
        assert!(
            gets(&mut next).await.is_some(),
            "the next capacity scenario waited past the batch's pods"
        );
    }

    #[tokio::test]
    async fn a_resource_poisoned_before_its_release_stays_poisoned() {
        let locks: Locks = std::array::from_fn(|_| Arc::default());
        let mut a = Held::acquire_in(&locks, BTreeSet::from([Resource::Fiber]))
            .await
            .expect("not poisoned");
        a.poison(
            Resource::Fiber,
            "FiberDisconnected of `s1` could not be undone",
        );
        a.release(Stage::FaultsUndone);
        let e = Held::acquire_in(&locks, BTreeSet::new())
            .await
            .expect_err("the environment is left faulted");
        assert!(e.contains("resource `fiber`"), "{e}");
    }

    /// Every step that injects a fault is in [`TAKING_STEPS`].
    #[test]
    fn every_fault_injecting_step_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/steps");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("src/steps") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read");
            // For each inject, the attributes above its step function: the first is English.
            for (at, _) in text.match_indices("inject(") {
                let Some(f) = text[..at].rfind("\nasync fn ") else {
                    continue;
                };
                let attrs: Vec<&str> = text[..f]
                    .lines()
                    .rev()
                    .take_while(|l| l.starts_with("#["))
                    .collect();
                let english = attrs.last().copied().unwrap_or_default();
                if !TAKING_STEPS
                    .iter()
                    .any(|(phrase, _)| english.contains(phrase))
                {
                    missing.push(format!("{}: {english}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "fault steps not in TAKING_STEPS: {missing:#?}"
        );
    }

    /// A scenario with a step that takes a resource declares `@exclusive:<resource>`
    /// (English features; tests/parity.rs keeps the Hebrew twins' tags the same).
    #[test]
    fn scenarios_declare_what_their_steps_take() {
        use cucumber::gherkin::{Feature, GherkinEnv};
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("features/en");
        let mut files = vec![root];
        let mut wrong = Vec::new();
        let mut checked = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(
                    std::fs::read_dir(&p)
                        .expect("dir")
                        .map(|e| e.expect("e").path()),
                );
                continue;
            }
            if p.extension().is_none_or(|e| e != "feature") {
                continue;
            }
            let f = Feature::parse_path(&p, GherkinEnv::default()).expect("feature");
            let background = f.background.iter().flat_map(|b| &b.steps);
            for sc in &f.scenarios {
                let tags = f.tags.iter().chain(&sc.tags);
                let declared = declared(tags).expect("known resources");
                for step in background.clone().chain(&sc.steps) {
                    for (phrase, needs) in TAKING_STEPS {
                        if !step.value.starts_with(phrase) {
                            continue;
                        }
                        checked += 1;
                        for r in needs.iter().filter(|r| !declared.contains(r)) {
                            wrong.push(format!(
                                "{}: `{}` takes {} but does not declare @exclusive:{}",
                                p.display(),
                                sc.name,
                                r.name(),
                                r.name()
                            ));
                        }
                    }
                }
            }
        }
        assert!(checked >= 10, "only {checked} taking steps found");
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
