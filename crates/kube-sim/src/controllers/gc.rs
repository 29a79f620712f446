//! Garbage collection: cascading deletion through ownerReferences (background and
//! foreground), orphaning, dangling owners, and namespace termination.

use std::collections::HashSet;

use serde_json::Value;

use super::{Controller, Reconciled, Written};
use crate::admission::JOB_TRACKING_FINALIZER;
use crate::api_state::{ApiState, DeleteOptions, Subresource};
use crate::podspec;
use crate::resources::{self, ResourceType};
use crate::store::StoreEvent;

/// The garbage collector controller.
#[derive(Debug, Default)]
pub struct GarbageCollector;

/// What the collector should do (pure decision over a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcAction {
    /// Owners all gone: delete the dependent.
    DeleteOrphan(ResourceType, String, String),
    /// A job-tracking pod whose Job is gone: drop the finalizer.
    ReleasePod(String, String),
    /// Foreground deletion finished: remove the `foregroundDeletion` finalizer.
    FinishForeground(ResourceType, String, String),
    /// A terminating namespace: delete this object in it.
    DeleteInNamespace(ResourceType, String, String),
    /// A terminating namespace is empty: clear its finalizers.
    FinishNamespace(String),
    /// A pod bound to a node that no longer exists: fail it and force-delete it
    /// (upstream pod GC).
    DeleteOrphanedPod(String, String),
}

/// Decide garbage collection work from all objects.
pub fn plan(all: &[(ResourceType, &Value)]) -> Vec<GcAction> {
    let uids: HashSet<&str> = all.iter().map(|(_, o)| podspec::uid(o)).collect();
    let mut owners_with_deps: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    let terminating_ns: HashSet<&str> = all
        .iter()
        .filter(|(rt, o)| *rt == resources::NAMESPACES && podspec::is_deleting(o))
        .map(|(_, o)| podspec::name(o))
        .collect();
    let mut ns_nonempty: HashSet<&str> = HashSet::new();
    let nodes: HashSet<&str> = all
        .iter()
        .filter(|(rt, _)| *rt == resources::NODES)
        .map(|(_, o)| podspec::name(o))
        .collect();
    for (rt, o) in all {
        if *rt == resources::PODS
            && podspec::node_name(o).is_some_and(|n| !nodes.contains(n))
            && podspec::not_force_deleted(o)
        {
            out.push(GcAction::DeleteOrphanedPod(
                podspec::namespace(o).to_string(),
                podspec::name(o).to_string(),
            ));
        }
        let owners = podspec::owner_uids(o);
        for u in &owners {
            owners_with_deps.insert(u);
        }
        let key = (
            podspec::namespace(o).to_string(),
            podspec::name(o).to_string(),
        );
        if !owners.is_empty() && owners.iter().all(|u| !uids.contains(u)) {
            if *rt == resources::PODS && podspec::has_finalizer(o, JOB_TRACKING_FINALIZER) {
                out.push(GcAction::ReleasePod(key.0.clone(), key.1.clone()));
            }
            if !podspec::is_deleting(o) {
                out.push(GcAction::DeleteOrphan(*rt, key.0.clone(), key.1.clone()));
            }
        }
        if rt.namespaced && terminating_ns.contains(podspec::namespace(o)) {
            ns_nonempty.insert(podspec::namespace(o));
            if !podspec::is_deleting(o) {
                out.push(GcAction::DeleteInNamespace(*rt, key.0, key.1));
            } else if *rt == resources::PODS && podspec::has_finalizer(o, JOB_TRACKING_FINALIZER) {
                out.push(GcAction::ReleasePod(key.0, key.1));
            }
        }
    }
    for (rt, o) in all {
        if podspec::is_deleting(o)
            && podspec::has_finalizer(o, "foregroundDeletion")
            && !owners_with_deps.contains(podspec::uid(o))
        {
            out.push(GcAction::FinishForeground(
                *rt,
                podspec::namespace(o).to_string(),
                podspec::name(o).to_string(),
            ));
        }
    }
    for ns in terminating_ns {
        if !ns_nonempty.contains(ns) {
            out.push(GcAction::FinishNamespace(ns.to_string()));
        }
    }
    out
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage-collector"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        e.rt != resources::EVENTS
            && (e.kind == crate::store::EventType::Deleted
                || podspec::is_deleting(&e.object)
                || e.rt == resources::NAMESPACES)
    }

    fn debounce(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }

    fn reconcile(&mut self, cluster: &ApiState, _full: bool) -> Reconciled {
        let actions = cluster.store.read(|v| {
            let all: Vec<(ResourceType, &Value)> = v
                .all()
                .filter(|(rt, _)| **rt != resources::EVENTS)
                .map(|(rt, o)| (*rt, o.as_ref()))
                .collect();
            plan(&all)
        });
        for action in actions {
            match action {
                GcAction::DeleteOrphan(rt, ns, name)
                | GcAction::DeleteInNamespace(rt, ns, name) => {
                    let opts = DeleteOptions {
                        propagation_policy: Some("Background".into()),
                        ..Default::default()
                    };
                    super::note_failed(
                        "garbage-collector",
                        "delete",
                        Written::new(&rt, &ns, &name),
                        cluster.delete(&rt, &ns, &name, &opts),
                    );
                }
                GcAction::ReleasePod(ns, name) => super::note_failed(
                    "garbage-collector",
                    "release pod",
                    Written::new(&resources::PODS, &ns, &name),
                    cluster.release_pod(&ns, &name),
                ),
                GcAction::FinishForeground(rt, ns, name) => {
                    super::note_failed(
                        "garbage-collector",
                        "write",
                        Written::new(&rt, &ns, &name),
                        cluster.write(&rt, &ns, &name, Subresource::Main, false, |cur| {
                            let mut c = cur.clone();
                            podspec::remove_finalizer(&mut c, "foregroundDeletion");
                            Ok(c)
                        }),
                    );
                }
                GcAction::DeleteOrphanedPod(ns, name) => {
                    let now = cluster.store.clock().now_rfc3339();
                    super::note_failed(
                        "garbage-collector",
                        "update",
                        Written::new(&resources::PODS, &ns, &name),
                        cluster
                            .store
                            .update(&resources::PODS, &ns, &name, false, |_, p| {
                                if !podspec::is_terminal(p) {
                                    p["status"]["phase"] = serde_json::json!("Failed");
                                    crate::controllers::scheduler::set_condition(
                                        p,
                                        &now,
                                        "DisruptionTarget",
                                        "True",
                                        Some("DeletionByPodGC"),
                                        Some("PodGC: node no longer exists"),
                                    );
                                }
                                Ok(())
                            }),
                    );
                    let force = crate::store::DeleteRequest {
                        grace_seconds: 0,
                        ..Default::default()
                    };
                    super::note_failed(
                        "garbage-collector",
                        "delete",
                        Written::new(&resources::PODS, &ns, &name),
                        cluster.store.delete(&resources::PODS, &ns, &name, &force),
                    );
                }
                GcAction::FinishNamespace(ns) => {
                    super::note_failed(
                        "garbage-collector",
                        "update",
                        Written::new(&resources::NAMESPACES, "", &ns),
                        cluster
                            .store
                            .update(&resources::NAMESPACES, "", &ns, false, |_, o| {
                                o["spec"]["finalizers"] = serde_json::json!([]);
                                Ok(())
                            }),
                    );
                }
            }
        }
        Reconciled::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dangling_owner_and_foreground() {
        let job = json!({"metadata": {"name": "j", "namespace": "ns", "uid": "J",
            "deletionTimestamp": "x", "finalizers": ["foregroundDeletion"]}});
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "P",
            "ownerReferences": [{"uid": "J"}]}});
        let orphan = json!({"metadata": {"name": "o", "namespace": "ns", "uid": "O",
            "ownerReferences": [{"uid": "gone"}], "finalizers": [JOB_TRACKING_FINALIZER]}});
        let all = vec![
            (resources::JOBS, &job),
            (resources::PODS, &pod),
            (resources::PODS, &orphan),
        ];
        let p = plan(&all);
        assert!(p.contains(&GcAction::DeleteOrphan(
            resources::PODS,
            "ns".into(),
            "o".into()
        )));
        assert!(p.contains(&GcAction::ReleasePod("ns".into(), "o".into())));
        assert!(
            !p.iter()
                .any(|a| matches!(a, GcAction::FinishForeground(..)))
        );
        let p = plan(&[(resources::JOBS, &job)]);
        assert_eq!(
            p,
            vec![GcAction::FinishForeground(
                resources::JOBS,
                "ns".into(),
                "j".into()
            )]
        );
    }
}
