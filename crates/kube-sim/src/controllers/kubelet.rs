//! The kubelet stand-in: moves bound pods through their lifecycle after jittered
//! delays, as data-driven stages chosen by per-pod annotations (KWOK-like):
//! Pulling/Pulled/Created/Started → Running (pod IP from the node's podCIDR) →
//! Succeeded/Failed; graceful deletion; nothing moves on a NotReady node.
//!
//! One module past ~400 lines: the stage table, its timers and the stage actions (start,
//! finish, terminate) share the kubelet's pod-IP index and per-pod state.

use crate::podspec::At;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::scheduler::set_condition;
use super::{Controller, Reconciled, Written};
use crate::annotations::*;
use crate::api_state::ApiState;
use crate::config::Cidr;
use crate::events::Source;
use crate::podspec;
use crate::resources;
use crate::store::{DeleteRequest, Obj, StoreEvent};

/// Parse `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// The next lifecycle step for a pod on this kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Pull, create sandbox (IP), start containers → Running (or ErrImagePull).
    Start,
    /// The run ends: Succeeded or Failed per annotations.
    Finish,
    /// Deletion requested: stop containers and remove the pod.
    Terminate,
}

/// What a stage's delay is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// One jittered kubelet delay (`kubelet_delay_min_ms..=kubelet_delay_max_ms`).
    Kubelet,
    /// The `run-for` annotation, counted from `status.startTime`.
    RunFor,
}

/// One row of the pod lifecycle: when it applies, how long it waits, what it does.
#[derive(Debug, Clone, Copy)]
pub struct StageRule {
    pub name: &'static str,
    pub applies: fn(&Value) -> bool,
    pub delay: Delay,
    pub stage: Stage,
}

fn waiting_on_pull(p: &Value) -> bool {
    p.at("/status/containerStatuses/0/state/waiting/reason")
        .and_then(Value::as_str)
        .is_some_and(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
}

fn run_ends(p: &Value) -> bool {
    podspec::annotation(p, ANNOTATION_RUN_FOR).is_some()
        || podspec::annotation(p, ANNOTATION_EXIT_CODE).is_some()
        || podspec::annotation(p, ANNOTATION_OOM_KILLED) == Some("true")
}

/// The run already ended (terminated, or restarted once into CrashLoopBackOff).
fn run_ended(p: &Value) -> bool {
    p.at("/status/containerStatuses/0/state/terminated")
        .is_some()
        || p.at("/status/containerStatuses/0/lastState/terminated")
            .is_some()
}

/// The pod lifecycle as data (first matching row wins), after KWOK's stages.
pub const STAGES: &[StageRule] = &[
    StageRule {
        name: "pod-delete",
        applies: podspec::is_deleting,
        delay: Delay::Kubelet,
        stage: Stage::Terminate,
    },
    StageRule {
        name: "pod-start",
        applies: |p| podspec::phase(p) == "Pending" && !waiting_on_pull(p),
        delay: Delay::Kubelet,
        stage: Stage::Start,
    },
    StageRule {
        name: "pod-complete",
        applies: |p| podspec::phase(p) == "Running" && run_ends(p) && !run_ended(p),
        delay: Delay::RunFor,
        stage: Stage::Finish,
    },
];

/// The lifecycle row that applies to a pod now (pure). `None`: nothing to do; nothing
/// moves on a NotReady node.
pub fn next_rule(pod: &Value, node_is_ready: bool) -> Option<&'static StageRule> {
    if !node_is_ready {
        return None;
    }
    STAGES.iter().find(|r| (r.applies)(pod))
}

/// The next stage for a pod (pure). `None`: nothing to do.
pub fn next_stage(pod: &Value, node_is_ready: bool) -> Option<Stage> {
    next_rule(pod, node_is_ready).map(|r| r.stage)
}

/// How long a Running pod runs before `Finish`.
pub fn run_duration(pod: &Value) -> Duration {
    podspec::annotation(pod, ANNOTATION_RUN_FOR)
        .and_then(parse_duration)
        .unwrap_or(Duration::ZERO)
}

type PodKey = (String, String);

/// A pod copy, its node and the stage it is due for.
type Work = (Value, String, Stage);

/// A pending stage of one pod.
#[derive(Debug, Clone)]
struct Timer {
    uid: String,
    stage: Stage,
    due: Instant,
}

/// The kubelet controller (one for all nodes).
#[derive(Debug)]
pub struct Kubelet {
    timers: HashMap<PodKey, Timer>,
    dirty: HashSet<PodKey>,
    nodes_changed: bool,
    delay: (u64, u64),
    clock: crate::clock::Clock,
    cidrs: BTreeMap<String, Cidr>,
    /// Pod IPs in use, fed by store events (and by this kubelet's own starts, before
    /// their events arrive): pod → (node, IP) and node → IPs. Scanning every pod per
    /// start, or per reconcile, made large batches quadratic.
    ip_of: HashMap<PodKey, (String, Ipv4Addr)>,
    ips_in_use: HashMap<String, HashSet<Ipv4Addr>>,
    /// The IP index lost events (lagged subscription) and is rebuilt by a scan.
    ips_synced: bool,
}

impl Kubelet {
    pub fn new(cluster: &Arc<ApiState>) -> Self {
        let cidrs = cluster
            .config
            .resolved_nodes()
            .map(|ns| ns.into_iter().map(|n| (n.name, n.pod_cidr)).collect())
            .unwrap_or_default();
        Kubelet {
            timers: HashMap::new(),
            dirty: HashSet::new(),
            nodes_changed: false,
            delay: (
                cluster.config.kubelet_delay_min_ms,
                cluster.config.kubelet_delay_max_ms,
            ),
            clock: cluster.store.clock().clone(),
            cidrs,
            ip_of: HashMap::new(),
            ips_in_use: HashMap::new(),
            ips_synced: false,
        }
    }
}

fn kubelet_source(node: &str) -> Source<'_> {
    Source {
        component: "kubelet",
        host: Some(node),
    }
}

fn container_id() -> String {
    let b: [u8; 32] = rand::rng().random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("containerd://{hex}")
}

fn sandbox_id() -> String {
    let b: [u8; 32] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The node and IP a pod holds: non-terminal, bound, with a pod IP.
fn held_ip(pod: &Value) -> Option<(String, Ipv4Addr)> {
    if podspec::is_terminal(pod) {
        return None;
    }
    let node = podspec::node_name(pod)?;
    let ip = pod
        .at("/status/podIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Ipv4Addr>().ok())?;
    Some((node.to_string(), ip))
}

impl Kubelet {
    /// Account one pod's IP (`None`: it holds none, e.g. deleted or ended).
    fn note_ip(&mut self, key: PodKey, held: Option<(String, Ipv4Addr)>) {
        if let Some((node, ip)) = self.ip_of.remove(&key)
            && let Some(set) = self.ips_in_use.get_mut(&node)
        {
            set.remove(&ip);
        }
        if let Some((node, ip)) = held {
            self.ips_in_use.entry(node.clone()).or_default().insert(ip);
            self.ip_of.insert(key, (node, ip));
        }
    }

    fn rebuild_ips(&mut self, cluster: &ApiState) {
        let held: Vec<(PodKey, Option<(String, Ipv4Addr)>)> = cluster.store.read(|v| {
            v.list(&resources::PODS, None)
                .into_iter()
                .map(|p| {
                    (
                        (
                            podspec::namespace(p).to_string(),
                            podspec::name(p).to_string(),
                        ),
                        held_ip(p),
                    )
                })
                .collect()
        });
        self.ip_of.clear();
        self.ips_in_use.clear();
        for (k, h) in held {
            self.note_ip(k, h);
        }
        self.ips_synced = true;
    }
}

/// Pick the first free address of the CIDR.
pub fn free_ip(cidr: &Cidr, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    cidr.hosts().find(|ip| !used.contains(ip))
}

impl Kubelet {
    fn start(&mut self, cluster: &ApiState, pod: &Value, node: &str) {
        let ns = podspec::namespace(pod).to_string();
        let name = podspec::name(pod).to_string();
        let src = kubelet_source(node);
        let containers: Vec<Value> = pod
            .at("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(cidr) = self.cidrs.get(node).copied().or_else(|| {
            cluster
                .store
                .get(&resources::NODES, "", node)
                .and_then(|n| {
                    n.at("/spec/podCIDR")
                        .and_then(Value::as_str)
                        .and_then(Cidr::parse)
                })
        }) else {
            return;
        };
        // sandbox + IP (atomically against other pods of the node)
        let now = self.clock.now_rfc3339();
        let node_obj = cluster.store.get(&resources::NODES, "", node);
        let cidr_exhausted = node_obj
            .as_ref()
            .and_then(|n| n.at("/metadata/annotations"))
            .and_then(|a| a.get(ANNOTATION_POD_CIDR_EXHAUSTED))
            .and_then(Value::as_str)
            == Some("true");
        let node_ip = node_obj
            .and_then(|n| {
                n.at("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                    .and_then(|x| x["address"].as_str().map(String::from))
            })
            .unwrap_or_default();
        let pull_error = podspec::annotation(pod, ANNOTATION_IMAGE_PULL_ERROR).map(String::from);
        let never_ready = podspec::annotation(pod, ANNOTATION_NEVER_READY) == Some("true");
        let mut exhausted = false;
        let used: HashSet<Ipv4Addr> = self.ips_in_use.get(node).cloned().unwrap_or_default();
        let res = cluster.store.update(&resources::PODS, &ns, &name, false, |_, p| {
            if podspec::phase(p) != "Pending" || podspec::is_deleting(p) {
                return Ok(());
            }
            p["status"]["hostIP"] = json!(node_ip);
            p["status"]["hostIPs"] = json!([{"ip": node_ip}]);
            if p["status"]["startTime"].is_null() {
                p["status"]["startTime"] = json!(now);
            }
            if let Some(msg) = &pull_error {
                let statuses: Vec<Value> = containers
                    .iter()
                    .map(|c| {
                        json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                            "started": false, "restartCount": 0,
                            "state": {"waiting": {"reason": "ErrImagePull", "message": msg}}, "lastState": {}})
                    })
                    .collect();
                p["status"]["containerStatuses"] = json!(statuses);
                set_condition(p, &now, "Initialized", "True", None, None);
                set_condition(p, &now, "Ready", "False", Some("ContainersNotReady"), Some("containers with unready status"));
                return Ok(());
            }
            let Some(ip) = free_ip(&cidr, &used).filter(|_| !cidr_exhausted) else {
                exhausted = true;
                return Ok(());
            };
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"],
                        "imageID": format!("{}@sha256:{}", c["image"].as_str().unwrap_or(""), &sandbox_id()),
                        "containerID": container_id(), "ready": !never_ready, "started": true,
                        "restartCount": 0, "state": {"running": {"startedAt": now}}, "lastState": {}})
                })
                .collect();
            p["status"]["phase"] = json!("Running");
            p["status"]["podIP"] = json!(ip.to_string());
            p["status"]["podIPs"] = json!([{"ip": ip.to_string()}]);
            p["status"]["containerStatuses"] = json!(statuses);
            set_condition(p, &now, "PodReadyToStartContainers", "True", None, None);
            set_condition(p, &now, "Initialized", "True", None, None);
            if never_ready {
                set_condition(p, &now, "Ready", "False", Some("ContainersNotReady"), Some("containers with unready status"));
                set_condition(p, &now, "ContainersReady", "False", Some("ContainersNotReady"), Some("containers with unready status"));
            } else {
                set_condition(p, &now, "Ready", "True", None, None);
                set_condition(p, &now, "ContainersReady", "True", None, None);
            }
            Ok(())
        });
        let updated = match res {
            Ok(u) => u,
            Err(e) => {
                return super::note_failed::<()>(
                    "kubelet",
                    "start",
                    Written::new(&resources::PODS, &ns, &name),
                    Err(e),
                );
            }
        };
        // the next start in this reconcile must not hand out the same IP
        self.note_ip((ns.clone(), name.clone()), held_ip(&updated));
        if exhausted {
            let msg = format!(
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"{}\": plugin type=\"host-local\" failed (add): failed to allocate for range 0: no IP addresses available in range set: {}-{}",
                sandbox_id(),
                cidr.hosts()
                    .next()
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                cidr.hosts()
                    .last()
                    .map(|i| i.to_string())
                    .unwrap_or_default()
            );
            cluster.recorder.record(
                &cluster.store,
                &updated,
                "Warning",
                "FailedCreatePodSandBox",
                &msg,
                src,
            );
            return;
        }
        for c in &containers {
            let image = c["image"].as_str().unwrap_or("");
            let cname = c["name"].as_str().unwrap_or("");
            let always = c["imagePullPolicy"].as_str() == Some("Always");
            if always || pull_error.is_some() {
                cluster.recorder.record(
                    &cluster.store,
                    &updated,
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    src,
                );
            }
            if let Some(err) = &pull_error {
                let detail = if err == "true" {
                    format!(
                        "rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"
                    )
                } else {
                    err.clone()
                };
                cluster.recorder.record(
                    &cluster.store,
                    &updated,
                    "Warning",
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {detail}"),
                    src,
                );
                cluster.recorder.record(
                    &cluster.store,
                    &updated,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                    src,
                );
                continue;
            }
            if always {
                cluster.recorder.record(
                    &cluster.store,
                    &updated,
                    "Normal",
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in 0s (0s including waiting). Image size: 0 bytes."
                    ),
                    src,
                );
            } else {
                cluster.recorder.record(
                    &cluster.store,
                    &updated,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    src,
                );
            }
            cluster.recorder.record(
                &cluster.store,
                &updated,
                "Normal",
                "Created",
                &format!("Created container: {cname}"),
                src,
            );
            cluster.recorder.record(
                &cluster.store,
                &updated,
                "Normal",
                "Started",
                &format!("Started container {cname}"),
                src,
            );
        }
    }

    fn finish(&self, cluster: &ApiState, pod: &Value) {
        let ns = podspec::namespace(pod);
        let name = podspec::name(pod);
        let oom = podspec::annotation(pod, ANNOTATION_OOM_KILLED) == Some("true");
        let code: i64 = if oom {
            137
        } else {
            podspec::annotation(pod, ANNOTATION_EXIT_CODE)
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(0)
        };
        let reason = if oom {
            "OOMKilled"
        } else if code == 0 {
            "Completed"
        } else {
            "Error"
        };
        let now = self.clock.now_rfc3339();
        let restart_always =
            pod.at("/spec/restartPolicy").and_then(Value::as_str) == Some("Always");
        let written = cluster.store.update(&resources::PODS, ns, name, false, |_, p| {
            if podspec::phase(p) != "Running" {
                return Ok(());
            }
            let started = p
                .at("/status/containerStatuses/0/state/running/startedAt")
                .cloned()
                .unwrap_or(json!(now));
            let terminated = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now,
                "containerID": p.at("/status/containerStatuses/0/containerID").cloned().unwrap_or(Value::Null)});
            if let Some(cs) = p.pointer_mut("/status/containerStatuses").and_then(Value::as_array_mut) {
                for c in cs {
                    c["ready"] = json!(false);
                    c["started"] = json!(false);
                    if restart_always {
                        c["restartCount"] = json!(c["restartCount"].as_i64().unwrap_or(0) + 1);
                        c["lastState"] = json!({"terminated": terminated});
                        c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                            "message": "back-off 10s restarting failed container"}});
                    } else {
                        c["state"] = json!({"terminated": terminated});
                    }
                }
            }
            set_condition(p, &now, "Ready", "False", Some(if restart_always { "ContainersNotReady" } else { "PodCompleted" }), None);
            set_condition(p, &now, "ContainersReady", "False", Some(if restart_always { "ContainersNotReady" } else { "PodCompleted" }), None);
            if !restart_always {
                p["status"]["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
                set_condition(p, &now, "PodReadyToStartContainers", "False", None, None);
            }
            Ok(())
        });
        super::note_failed(
            "kubelet",
            "update",
            Written::new(&resources::PODS, ns, name),
            written,
        );
    }

    fn terminate(&self, cluster: &ApiState, pod: &Value, node: &str) {
        let ns = podspec::namespace(pod);
        let name = podspec::name(pod);
        if podspec::phase(pod) == "Running" {
            let cname = pod
                .at("/spec/containers/0/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            cluster.recorder.record(
                &cluster.store,
                pod,
                "Normal",
                "Killing",
                &format!("Stopping container {cname}"),
                kubelet_source(node),
            );
            let now = self.clock.now_rfc3339();
            let written = cluster
                .store
                .update(&resources::PODS, ns, name, false, |_, p| {
                    if let Some(cs) = p
                        .pointer_mut("/status/containerStatuses")
                        .and_then(Value::as_array_mut)
                    {
                        for c in cs {
                            let started = c
                                .at("/state/running/startedAt")
                                .cloned()
                                .unwrap_or(json!(now));
                            c["ready"] = json!(false);
                            c["started"] = json!(false);
                            c["state"] = json!({"terminated": {"exitCode": 137, "reason": "Error",
                            "startedAt": started, "finishedAt": now}});
                        }
                    }
                    p["status"]["phase"] = json!("Failed");
                    set_condition(p, &now, "Ready", "False", Some("PodCompleted"), None);
                    Ok(())
                });
            super::note_failed(
                "kubelet",
                "update",
                Written::new(&resources::PODS, ns, name),
                written,
            );
        }
        super::note_failed(
            "kubelet",
            "delete",
            Written::new(&resources::PODS, ns, name),
            cluster.store.delete(
                &resources::PODS,
                ns,
                name,
                &DeleteRequest {
                    grace_seconds: 0,
                    ..Default::default()
                },
            ),
        );
    }
}

impl Controller for Kubelet {
    fn name(&self) -> &'static str {
        "kubelet"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        if e.rt == resources::NODES {
            self.nodes_changed = true;
            return true;
        }
        if e.rt == resources::PODS && podspec::node_name(&e.object).is_some() {
            let key = (e.namespace.clone(), e.name.clone());
            if self.ips_synced {
                let deleted = e.kind == crate::store::EventType::Deleted;
                let held = if deleted { None } else { held_ip(&e.object) };
                self.note_ip(key.clone(), held);
            }
            self.dirty.insert(key);
            return true;
        }
        false
    }

    fn lagged(&mut self) {
        self.ips_synced = false;
    }

    fn next_wake(&self) -> Option<Instant> {
        self.timers.values().map(|t| t.due).min()
    }

    fn reconcile(&mut self, cluster: &ApiState, full: bool) -> Reconciled {
        let now = Instant::now();
        if !self.ips_synced {
            self.rebuild_ips(cluster);
        }
        let full = full || std::mem::take(&mut self.nodes_changed);
        if full {
            // A full resync marks every bound pod dirty (keys only, under the read lock);
            // the pods are then handled in chunks like any other batch.
            let live: HashSet<PodKey> = cluster.store.read(|v| {
                v.list(&resources::PODS, None)
                    .into_iter()
                    .filter(|p| podspec::node_name(p).is_some())
                    .map(|p| {
                        (
                            podspec::namespace(p).to_string(),
                            podspec::name(p).to_string(),
                        )
                    })
                    .collect()
            });
            self.timers.retain(|k, _| live.contains(k));
            self.dirty.extend(live);
        }
        let mut targets = std::mem::take(&mut self.dirty);
        for (k, t) in &self.timers {
            if t.due <= now {
                targets.insert(k.clone());
            }
        }
        if targets.is_empty() {
            return Reconciled::Done;
        }
        super::take_chunk(&mut targets, &mut self.dirty);
        let work: Vec<(PodKey, Option<Work>)> = cluster.store.read(|v| {
            let ready: HashMap<&str, bool> = v
                .list(&resources::NODES, None)
                .into_iter()
                .map(|n| (podspec::name(n), podspec::node_ready(n)))
                .collect();
            let decide = |p: &Obj| {
                let node = podspec::node_name(p)?;
                let stage = next_stage(p, ready.get(node).copied().unwrap_or(false))?;
                Some(((**p).clone(), node.to_string(), stage))
            };
            targets
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        v.get(&resources::PODS, &k.0, &k.1).and_then(decide),
                    )
                })
                .collect()
        });
        for (key, decision) in work {
            let Some((pod, node, stage)) = decision else {
                self.timers.remove(&key);
                continue;
            };
            let uid = podspec::uid(&pod).to_string();
            let due = match self.timers.get(&key) {
                Some(t) if t.uid == uid && t.stage == stage => t.due,
                _ => {
                    let rule_delay = next_rule(&pod, true).map_or(Delay::Kubelet, |r| r.delay);
                    let delay = match rule_delay {
                        Delay::RunFor => {
                            let started = pod
                                .at("/status/startTime")
                                .and_then(Value::as_str)
                                .and_then(crate::clock::parse_ts);
                            let elapsed = started
                                .and_then(|s| {
                                    let d = self.clock.now().duration_since(s);
                                    Duration::try_from(d).ok()
                                })
                                .unwrap_or_default();
                            self.clock.scale(run_duration(&pod)).saturating_sub(elapsed)
                        }
                        Delay::Kubelet => self.clock.jittered(self.delay.0, self.delay.1),
                    };
                    let due = now + delay;
                    self.timers.insert(key.clone(), Timer { uid, stage, due });
                    due
                }
            };
            if due > now {
                continue;
            }
            self.timers.remove(&key);
            match stage {
                Stage::Start => self.start(cluster, &pod, &node),
                Stage::Finish => self.finish(cluster, &pod),
                Stage::Terminate => self.terminate(cluster, &pod, &node),
            }
        }
        Reconciled::requeue_if(!self.dirty.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages() {
        let pending = json!({"status": {"phase": "Pending"}});
        assert_eq!(next_stage(&pending, true), Some(Stage::Start));
        assert_eq!(next_stage(&pending, false), None);
        let running = json!({"status": {"phase": "Running"}});
        assert_eq!(next_stage(&running, true), None);
        let finishing = json!({"metadata": {"annotations": {ANNOTATION_RUN_FOR: "1s"}}, "status": {"phase": "Running"}});
        assert_eq!(next_stage(&finishing, true), Some(Stage::Finish));
        let deleting =
            json!({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}});
        assert_eq!(next_stage(&deleting, true), Some(Stage::Terminate));
        let restarted = json!({"metadata": {"annotations": {ANNOTATION_EXIT_CODE: "1"}}, "status": {"phase": "Running",
            "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}]}});
        assert_eq!(
            next_stage(&restarted, true),
            None,
            "a restarted container does not loop"
        );
        let pull = json!({"status": {"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        assert_eq!(next_stage(&pull, true), None);
    }

    #[test]
    fn durations_and_ips() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("x"), None);
        let cidr = Cidr::parse("10.0.0.0/30").expect("cidr");
        let a = free_ip(&cidr, &HashSet::new()).expect("first");
        assert_eq!(a.to_string(), "10.0.0.1");
        let used: HashSet<Ipv4Addr> = [a, "10.0.0.2".parse().expect("ip")].into_iter().collect();
        assert_eq!(free_ip(&cidr, &used), None);
    }
}
