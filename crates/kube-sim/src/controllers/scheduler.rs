//! The scheduler: binds pending pods to nodes that fit (cpu, memory,
//! ephemeral-storage, every extended resource, pod count), honouring cordon, taints,
//! node readiness and nodeSelector; otherwise `PodScheduled=False` and the upstream
//! `FailedScheduling` event. Retries whenever pods or nodes change.
//!
//! One module past ~400 lines: the fit decision (`decide`, `NodeInfo`) and the event-fed
//! loop share the per-node usage accounting; the last ~110 lines are tests.

use crate::podspec::At;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::{Controller, Reconciled, Written};
use crate::api_state::ApiState;
use crate::events;
use crate::podspec;
use crate::quantity::Quantity;
use crate::resources;
use crate::store::StoreEvent;

/// A node as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub allocatable: BTreeMap<String, Quantity>,
    pub requested: BTreeMap<String, Quantity>,
    pub pods: i128,
    pub unschedulable: bool,
    pub ready: bool,
    pub taints: Vec<Value>,
    pub labels: serde_json::Map<String, Value>,
}

impl NodeInfo {
    pub fn from_node(node: &Value) -> Self {
        let allocatable = node
            .at("/status/allocatable")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Quantity::parse(v.as_str()?).ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        NodeInfo {
            name: podspec::name(node).to_string(),
            allocatable,
            requested: BTreeMap::new(),
            pods: 0,
            unschedulable: node.at("/spec/unschedulable").and_then(Value::as_bool) == Some(true),
            ready: podspec::node_ready(node),
            taints: node
                .at("/spec/taints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            labels: node
                .at("/metadata/labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn add(&mut self, req: &BTreeMap<String, Quantity>) {
        for (k, q) in req {
            *self.requested.entry(k.clone()).or_default() += *q;
        }
        self.pods += 1;
    }
}

/// Scheduling outcome for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Bind(String),
    Unschedulable(String),
}

fn tolerates(pod: &Value, taint: &Value) -> bool {
    let tols = pod.at("/spec/tolerations").and_then(Value::as_array);
    tols.into_iter().flatten().any(|t| {
        let key_ok = t["key"]
            .as_str()
            .is_none_or(|k| k.is_empty() || Some(k) == taint["key"].as_str());
        let effect_ok = t["effect"]
            .as_str()
            .is_none_or(|e| e.is_empty() || Some(e) == taint["effect"].as_str());
        let value_ok = match t["operator"].as_str().unwrap_or("Equal") {
            "Exists" => true,
            _ => t["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or(""),
        };
        // an empty key with Exists tolerates everything
        key_ok && effect_ok && value_ok
    })
}

fn taint_text(t: &Value) -> String {
    format!(
        "{{{}: {}}}",
        t["key"].as_str().unwrap_or(""),
        t["value"].as_str().unwrap_or("")
    )
}

/// Why a node does not fit, as upstream reason strings; `true` = resolvable by preemption.
fn misfit(pod: &Value, req: &BTreeMap<String, Quantity>, n: &NodeInfo) -> Vec<(String, bool)> {
    if n.unschedulable {
        return vec![("node(s) were unschedulable".to_string(), false)];
    }
    if !n.ready {
        return vec![(
            "node(s) had untolerated taint {node.kubernetes.io/not-ready: }".to_string(),
            false,
        )];
    }
    for t in &n.taints {
        let effect = t["effect"].as_str().unwrap_or("");
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerates(pod, t) {
            return vec![(
                format!("node(s) had untolerated taint {}", taint_text(t)),
                false,
            )];
        }
    }
    if let Some(sel) = pod.at("/spec/nodeSelector").and_then(Value::as_object)
        && sel.iter().any(|(k, v)| n.labels.get(k) != Some(v))
    {
        return vec![(
            "node(s) didn't match Pod's node affinity/selector".to_string(),
            false,
        )];
    }
    let mut out = Vec::new();
    let max_pods = n.allocatable.get("pods").map(|q| q.units()).unwrap_or(110);
    if n.pods + 1 > max_pods {
        out.push(("Too many pods".to_string(), true));
    }
    for (k, q) in req {
        if *q == Quantity::ZERO {
            continue;
        }
        let alloc = n.allocatable.get(k).copied().unwrap_or_default();
        let used = n.requested.get(k).copied().unwrap_or_default();
        if used + *q > alloc {
            out.push((format!("Insufficient {k}"), true));
        }
    }
    out
}

fn summarize(counts: &BTreeMap<String, usize>) -> String {
    let mut parts: Vec<String> = counts.iter().map(|(r, c)| format!("{c} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Pick a node (least requested pods first, then name) or explain why none fits.
pub fn decide(pod: &Value, nodes: &[NodeInfo]) -> Decision {
    let req = podspec::requests(pod);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut preemption: BTreeMap<String, usize> = BTreeMap::new();
    let mut best: Option<&NodeInfo> = None;
    for n in nodes {
        let m = misfit(pod, &req, n);
        if m.is_empty() {
            if best.is_none_or(|b| n.pods < b.pods) {
                best = Some(n);
            }
            continue;
        }
        let resolvable = m.iter().all(|(_, r)| *r);
        for (r, _) in m {
            *reasons.entry(r).or_default() += 1;
        }
        let p = if resolvable {
            "No preemption victims found for incoming pod."
        } else {
            "Preemption is not helpful for scheduling."
        };
        *preemption.entry(p.to_string()).or_default() += 1;
    }
    if let Some(b) = best {
        return Decision::Bind(b.name.clone());
    }
    let total = nodes.len();
    if total == 0 {
        return Decision::Unschedulable("no nodes available to schedule pods".to_string());
    }
    // upstream: "0/2 nodes are available: 2 Insufficient x. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    let pre: Vec<String> = {
        let mut v: Vec<String> = preemption
            .iter()
            .map(|(r, c)| format!("{c} {}", r.trim_end_matches('.')))
            .collect();
        v.sort();
        v
    };
    Decision::Unschedulable(format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {}.",
        summarize(&reasons),
        pre.join(", ")
    ))
}

type PodKey = (String, String);

/// Resources requested on one node by the pods bound to it (non-terminal).
#[derive(Debug, Clone, Default)]
struct NodeUsage {
    requested: BTreeMap<String, Quantity>,
    pods: i128,
}

/// The scheduler controller. Its indexes (pending pods, per-node usage) are fed by store
/// events, so a reconcile never scans every pod; they are rebuilt from one scan only at
/// start and after a lagged subscription lost events.
#[derive(Debug, Default)]
pub struct Scheduler {
    /// Effective requests by pod uid (pod resources are immutable).
    requests: HashMap<String, BTreeMap<String, Quantity>>,
    /// Node each counted pod (by uid) is bound to.
    bound: HashMap<String, String>,
    usage: HashMap<String, NodeUsage>,
    /// Pods without a node, neither terminal nor being deleted.
    pending: HashSet<PodKey>,
    synced: bool,
}

impl Scheduler {
    /// Account one pod's state (its last state for a deletion) in the indexes.
    fn account(&mut self, pod: &Value, deleted: bool) {
        let uid = podspec::uid(pod);
        if let Some(node) = self.bound.remove(uid)
            && let Some(req) = self.requests.get(uid)
            && let Some(u) = self.usage.get_mut(&node)
        {
            for (k, q) in req {
                let r = u.requested.entry(k.clone()).or_default();
                *r = *r - *q;
            }
            u.pods -= 1;
        }
        let key = (
            podspec::namespace(pod).to_string(),
            podspec::name(pod).to_string(),
        );
        if deleted {
            self.requests.remove(uid);
            self.pending.remove(&key);
            return;
        }
        match podspec::node_name(pod) {
            Some(node) => {
                self.pending.remove(&key);
                if !podspec::is_terminal(pod) {
                    let req = self
                        .requests
                        .entry(uid.to_string())
                        .or_insert_with(|| podspec::requests(pod));
                    let u = self.usage.entry(node.to_string()).or_default();
                    for (k, q) in req.iter() {
                        *u.requested.entry(k.clone()).or_default() += *q;
                    }
                    u.pods += 1;
                    self.bound.insert(uid.to_string(), node.to_string());
                }
            }
            None => {
                if podspec::is_terminal(pod) || podspec::is_deleting(pod) {
                    self.pending.remove(&key);
                } else {
                    self.pending.insert(key);
                }
            }
        }
    }

    fn rebuild(&mut self, cluster: &ApiState) {
        let pods: Vec<crate::store::Obj> = cluster.store.list(&resources::PODS, None).0;
        self.bound.clear();
        self.usage.clear();
        self.pending.clear();
        self.requests.clear();
        for p in &pods {
            self.account(p, false);
        }
        self.synced = true;
    }
}

/// Most writes (binds, FailedScheduling) one reconcile makes before yielding.
const BIND_CHUNK: usize = super::RECONCILE_CHUNK;

impl Controller for Scheduler {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        if e.rt == resources::PODS {
            if self.synced {
                self.account(&e.object, e.kind == crate::store::EventType::Deleted);
            }
            return true;
        }
        e.rt == resources::NODES
    }

    fn lagged(&mut self) {
        self.synced = false;
    }

    fn reconcile(&mut self, cluster: &ApiState, _full: bool) -> Reconciled {
        if !self.synced {
            self.rebuild(cluster);
        }
        if self.pending.is_empty() {
            return Reconciled::Done;
        }
        let now = cluster.store.clock().now_rfc3339();
        let usage = &self.usage;
        let pending_keys = &self.pending;
        let (mut nodes, mut pending) = cluster.store.read(|v| {
            let pending: Vec<Value> = pending_keys
                .iter()
                .filter_map(|(ns, name)| v.get(&resources::PODS, ns, name))
                .filter(|p| {
                    podspec::node_name(p).is_none()
                        && !podspec::is_terminal(p)
                        && !podspec::is_deleting(p)
                })
                .map(|p| (**p).clone())
                .collect();
            let nodes: Vec<NodeInfo> = v
                .list(&resources::NODES, None)
                .into_iter()
                .map(|n| {
                    let mut info = NodeInfo::from_node(n);
                    if let Some(u) = usage.get(&info.name) {
                        info.requested = u.requested.clone();
                        info.pods = u.pods;
                    }
                    info
                })
                .collect();
            (nodes, pending)
        });
        pending.sort_by(|a, b| {
            let ka = (
                a["metadata"]["creationTimestamp"].as_str(),
                podspec::name(a),
            );
            let kb = (
                b["metadata"]["creationTimestamp"].as_str(),
                podspec::name(b),
            );
            ka.cmp(&kb)
        });
        let mut writes = 0;
        for pod in pending {
            if writes >= BIND_CHUNK {
                return Reconciled::Requeue;
            }
            let ns = podspec::namespace(&pod).to_string();
            let name = podspec::name(&pod).to_string();
            match decide(&pod, &nodes) {
                Decision::Bind(node) => {
                    writes += 1;
                    let node2 = node.clone();
                    let res = cluster
                        .store
                        .update(&resources::PODS, &ns, &name, false, |_, p| {
                            if podspec::node_name(p).is_some() {
                                return Ok(());
                            }
                            p["spec"]["nodeName"] = json!(node2);
                            set_condition(p, &now, "PodScheduled", "True", None, None);
                            Ok(())
                        });
                    match res {
                        Ok(bound) if podspec::node_name(&bound) == Some(node.as_str()) => {
                            if let Some(n) = nodes.iter_mut().find(|n| n.name == node) {
                                n.add(&podspec::requests(&bound));
                            }
                            cluster.recorder.record(
                                &cluster.store,
                                &bound,
                                "Normal",
                                "Scheduled",
                                &format!("Successfully assigned {ns}/{name} to {node}"),
                                events::SCHEDULER,
                            );
                        }
                        other => super::note_failed(
                            "scheduler",
                            "bind",
                            Written::new(&resources::PODS, &ns, &name),
                            other,
                        ),
                    }
                }
                Decision::Unschedulable(msg) => {
                    let already = pod
                        .at("/status/conditions")
                        .and_then(Value::as_array)
                        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
                        .is_some_and(|c| c["message"].as_str() == Some(msg.as_str()));
                    if already {
                        continue;
                    }
                    writes += 1;
                    let m2 = msg.clone();
                    let res = cluster
                        .store
                        .update(&resources::PODS, &ns, &name, false, |_, p| {
                            set_condition(
                                p,
                                &now,
                                "PodScheduled",
                                "False",
                                Some("Unschedulable"),
                                Some(&m2),
                            );
                            Ok(())
                        });
                    match res {
                        Ok(p) => cluster.recorder.record(
                            &cluster.store,
                            &p,
                            "Warning",
                            "FailedScheduling",
                            &msg,
                            events::SCHEDULER,
                        ),
                        Err(e) => super::note_failed::<()>(
                            "scheduler",
                            "mark unschedulable",
                            Written::new(&resources::PODS, &ns, &name),
                            Err(e),
                        ),
                    }
                }
            }
        }
        Reconciled::Done
    }
}

/// Set (or replace) a pod condition.
pub fn set_condition(
    pod: &mut Value,
    now: &str,
    ty: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<&str>,
) {
    let mut c = json!({"type": ty, "status": status, "lastProbeTime": null,
        "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    if let Some(cs) = pod["status"]["conditions"].as_array_mut() {
        match cs.iter_mut().find(|x| x["type"] == ty) {
            Some(existing) => {
                if existing["status"] == status {
                    c["lastTransitionTime"] = existing["lastTransitionTime"].clone();
                }
                *existing = c;
            }
            None => cs.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, gpus: i64) -> NodeInfo {
        let mut allocatable = BTreeMap::new();
        allocatable.insert(
            "nvidia.com/gpu.shared".to_string(),
            Quantity::from_units(gpus),
        );
        allocatable.insert("pods".to_string(), Quantity::from_units(110));
        allocatable.insert("cpu".to_string(), Quantity::from_units(8));
        NodeInfo {
            name: name.into(),
            allocatable,
            requested: BTreeMap::new(),
            pods: 0,
            unschedulable: false,
            ready: true,
            taints: vec![],
            labels: Default::default(),
        }
    }

    fn gpu_pod() -> Value {
        json!({"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu.shared": "1"}}}]}})
    }

    #[test]
    fn insufficient_gpu_message_is_upstream() {
        let mut a = node("a", 1);
        let mut b = node("b", 1);
        a.add(&podspec::requests(&gpu_pod()));
        b.add(&podspec::requests(&gpu_pod()));
        assert_eq!(
            decide(&gpu_pod(), &[a, b]),
            Decision::Unschedulable(
                "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.shared. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.".into()
            )
        );
    }

    #[test]
    fn cordon_and_spread() {
        let mut a = node("a", 8);
        a.unschedulable = true;
        let mut b = node("b", 8);
        b.pods = 3;
        let c = node("c", 8);
        assert_eq!(
            decide(&gpu_pod(), &[a.clone(), b, c]),
            Decision::Bind("c".into())
        );
        match decide(&gpu_pod(), &[a]) {
            Decision::Unschedulable(m) => assert_eq!(
                m,
                "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn taints_tolerations_and_node_selector() {
        let mut a = node("a", 8);
        a.taints = vec![json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"})];
        let plain = gpu_pod();
        match decide(&plain, std::slice::from_ref(&a)) {
            Decision::Unschedulable(m) => assert!(
                m.contains("1 node(s) had untolerated taint {dedicated: gpu}"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        let mut tolerant = gpu_pod();
        tolerant["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
        assert_eq!(
            decide(&tolerant, std::slice::from_ref(&a)),
            Decision::Bind("a".into())
        );
        let mut everything = gpu_pod();
        everything["spec"]["tolerations"] = json!([{"operator": "Exists"}]);
        assert_eq!(
            decide(&everything, std::slice::from_ref(&a)),
            Decision::Bind("a".into())
        );
        let mut b = node("b", 8);
        b.labels.insert("zone".into(), json!("x"));
        let mut picky = gpu_pod();
        picky["spec"]["nodeSelector"] = json!({"zone": "y"});
        assert!(
            matches!(decide(&picky, &[b.clone()]), Decision::Unschedulable(m) if m.contains("didn't match Pod's node affinity/selector"))
        );
        picky["spec"]["nodeSelector"] = json!({"zone": "x"});
        assert_eq!(decide(&picky, &[b]), Decision::Bind("b".into()));
        let mut sick = node("c", 8);
        sick.ready = false;
        assert!(
            matches!(decide(&gpu_pod(), &[sick]), Decision::Unschedulable(m) if m.contains("{node.kubernetes.io/not-ready: }"))
        );
    }

    #[test]
    fn max_pods() {
        let mut a = node("a", 8);
        a.pods = 110;
        assert!(
            matches!(decide(&json!({"spec": {}}), &[a]), Decision::Unschedulable(m) if m.contains("1 Too many pods"))
        );
    }
}
