//! The Deployment controller (simplified): keeps `spec.replicas` pods owned directly by
//! the Deployment (no ReplicaSets), and its status counters.

use crate::podspec::At;
use serde_json::{Value, json};

use super::{Controller, Reconciled, Written};
use crate::api_state::{ApiState, DeleteOptions, Subresource};
use crate::events;
use crate::podspec;
use crate::resources;
use crate::store::StoreEvent;

/// What a Deployment needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Create(usize),
    Delete(Vec<String>),
    SetStatus(Value),
}

fn ready(p: &Value) -> bool {
    p.at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Decide for one Deployment (pure).
pub fn reconcile(d: &Value, pods: &[&Value]) -> Vec<Change> {
    let mut out = Vec::new();
    if podspec::is_deleting(d) {
        return out;
    }
    let want = d
        .at("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let live: Vec<&&Value> = pods
        .iter()
        .filter(|p| !podspec::is_terminal(p) && !podspec::is_deleting(p))
        .collect();
    if live.len() < want {
        out.push(Change::Create(want - live.len()));
    } else if live.len() > want {
        let mut names: Vec<String> = live.iter().map(|p| podspec::name(p).to_string()).collect();
        names.sort();
        out.push(Change::Delete(names.split_off(want)));
    }
    let n = live.len().min(want) as i64;
    let r = live.iter().filter(|p| ready(p)).count().min(want) as i64;
    let available = r >= want as i64;
    let status = json!({
        "observedGeneration": d.at("/metadata/generation").cloned().unwrap_or(json!(1)),
        "replicas": n, "updatedReplicas": n, "readyReplicas": r, "availableReplicas": r,
        "unavailableReplicas": (want as i64 - r).max(0),
        "conditions": [{"type": "Available", "status": if available {"True"} else {"False"},
            "reason": if available {"MinimumReplicasAvailable"} else {"MinimumReplicasUnavailable"},
            "message": if available {"Deployment has minimum availability."} else {"Deployment does not have minimum availability."}}]
    });
    let mut status = status;
    if let Some(o) = status.as_object_mut() {
        for k in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ] {
            if o.get(k).and_then(Value::as_i64) == Some(0) {
                o.remove(k);
            }
        }
    }
    let same = d.get("status").is_some_and(|s| {
        let mut a = s.clone();
        let mut b = status.clone();
        for v in [&mut a, &mut b] {
            if let Some(cs) = v.get_mut("conditions").and_then(Value::as_array_mut) {
                for c in cs {
                    if let Some(o) = c.as_object_mut() {
                        o.remove("lastUpdateTime");
                        o.remove("lastTransitionTime");
                    }
                }
            }
        }
        a == b
    });
    if !same {
        out.push(Change::SetStatus(status));
    }
    out
}

/// The Deployment controller.
#[derive(Debug, Default)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment-controller"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        e.rt == resources::DEPLOYMENTS || e.rt == resources::PODS
    }

    fn reconcile(&mut self, cluster: &ApiState, _full: bool) -> Reconciled {
        let work: Vec<(Value, Vec<Value>)> = cluster.store.read(|v| {
            v.list(&resources::DEPLOYMENTS, None)
                .into_iter()
                .map(|d| {
                    let uid = podspec::uid(d);
                    let pods = v
                        .list(&resources::PODS, Some(podspec::namespace(d)))
                        .into_iter()
                        .filter(|p| podspec::controller_uid(p) == Some(uid))
                        .map(|p| (**p).clone())
                        .collect();
                    ((**d).clone(), pods)
                })
                .collect()
        });
        for (d, pods) in work {
            let refs: Vec<&Value> = pods.iter().collect();
            let ns = podspec::namespace(&d).to_string();
            let name = podspec::name(&d).to_string();
            for c in reconcile(&d, &refs) {
                match c {
                    Change::Create(n) => {
                        for _ in 0..n {
                            let t = &d["spec"]["template"];
                            let mut meta = t.get("metadata").cloned().unwrap_or(json!({}));
                            let hash = &podspec::uid(&d)[..8.min(podspec::uid(&d).len())];
                            meta["generateName"] = json!(format!("{name}-{hash}-"));
                            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
                                "name": name, "uid": podspec::uid(&d), "controller": true, "blockOwnerDeletion": true}]);
                            let pod = json!({"metadata": meta, "spec": t["spec"].clone()});
                            match cluster.create(&resources::PODS, &ns, pod, false) {
                                Ok(_) => {}
                                Err(e) => {
                                    cluster.recorder.record(
                                        &cluster.store,
                                        &d,
                                        "Warning",
                                        "FailedCreate",
                                        &format!("Error creating: {e}"),
                                        events::DEPLOYMENT_CONTROLLER,
                                    );
                                    break;
                                }
                            }
                        }
                    }
                    Change::Delete(names) => {
                        for p in names {
                            super::note_failed(
                                "deployment",
                                "delete",
                                Written::new(&resources::PODS, &ns, &p),
                                cluster.delete(
                                    &resources::PODS,
                                    &ns,
                                    &p,
                                    &DeleteOptions::default(),
                                ),
                            );
                        }
                    }
                    Change::SetStatus(s) => {
                        super::note_failed(
                            "deployment",
                            "write",
                            Written::new(&resources::DEPLOYMENTS, &ns, &name),
                            cluster.write(
                                &resources::DEPLOYMENTS,
                                &ns,
                                &name,
                                Subresource::Status,
                                false,
                                |cur| {
                                    let mut c = cur.clone();
                                    c["status"] = s;
                                    if let Some(m) = c["metadata"].as_object_mut() {
                                        m.remove("resourceVersion");
                                    }
                                    Ok(c)
                                },
                            ),
                        );
                    }
                }
            }
        }
        Reconciled::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_up_and_down() {
        let d = json!({"metadata": {"name": "d", "uid": "D"}, "spec": {"replicas": 2}});
        assert!(reconcile(&d, &[]).contains(&Change::Create(2)));
        let p = json!({"metadata": {"name": "d-1"}, "status": {"phase": "Running"}});
        let d0 = json!({"metadata": {"name": "d"}, "spec": {"replicas": 0}});
        assert!(reconcile(&d0, &[&p]).contains(&Change::Delete(vec!["d-1".into()])));
    }
}
