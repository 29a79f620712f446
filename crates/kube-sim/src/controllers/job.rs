//! The Job controller: creates `<job>-xxxxx` pods from the template, tracks them with
//! the job-tracking finalizer, maintains status counters and the upstream
//! conditions (Complete / Failed: BackoffLimitExceeded, DeadlineExceeded), reports
//! quota rejections as FailedCreate, and deletes finished Jobs after
//! ttlSecondsAfterFinished.
//!
//! One module past ~400 lines: the pure decision (`reconcile` → `Change`s) and the loop
//! that applies them share `Change` and its tests (the last ~90 lines).

use crate::podspec::At;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Controller, Reconciled, Written};
use crate::admission::JOB_TRACKING_FINALIZER;
use crate::api_state::{ApiState, DeleteOptions, Subresource};
use crate::events;
use crate::podspec;
use crate::resources;
use crate::store::StoreEvent;

/// A change the Job controller wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreatePods(usize),
    /// Count these pods (finished or deleted) and drop their finalizer.
    ReleasePods(Vec<String>),
    DeletePods(Vec<String>),
    SetStatus(Value),
    Event(&'static str, &'static str, String),
    DeleteJob,
}

fn condition(ty: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": ty, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": now, "lastTransitionTime": now})
}

fn has_condition(job: &Value, ty: &str) -> bool {
    job.at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

fn pod_ready(p: &Value) -> bool {
    p.at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// The finished time of a Job (Complete or Failed condition), if finished.
pub fn finished_at(job: &Value) -> Option<jiff::Timestamp> {
    job.at("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(crate::clock::parse_ts)
}

/// Decide what to do for one Job given its pods (pure).
pub fn reconcile(job: &Value, pods: &[&Value], now: jiff::Timestamp) -> Vec<Change> {
    let mut out = Vec::new();
    let now_s = crate::clock::format_ts(now);
    if podspec::is_deleting(job) {
        let tracked: Vec<String> = pods
            .iter()
            .filter(|p| podspec::has_finalizer(p, JOB_TRACKING_FINALIZER))
            .map(|p| podspec::name(p).to_string())
            .collect();
        if !tracked.is_empty() {
            out.push(Change::ReleasePods(tracked));
        }
        return out;
    }
    let spec = &job["spec"];
    let completions = spec["completions"].as_i64().unwrap_or(1);
    let parallelism = spec["parallelism"].as_i64().unwrap_or(1);
    let backoff_limit = spec["backoffLimit"].as_i64().unwrap_or(6);
    let suspended = spec["suspend"].as_bool() == Some(true);
    let old = job.get("status").cloned().unwrap_or(json!({}));
    let mut status = old.clone();
    let mut succeeded = old["succeeded"].as_i64().unwrap_or(0);
    let mut failed = old["failed"].as_i64().unwrap_or(0);
    let mut release = Vec::new();
    let mut active = Vec::new();
    let mut ready = 0;
    let mut terminating = 0;
    for p in pods {
        let tracked = podspec::has_finalizer(p, JOB_TRACKING_FINALIZER);
        let phase = podspec::phase(p);
        if phase == "Succeeded" {
            if tracked {
                succeeded += 1;
                release.push(podspec::name(p).to_string());
            }
        } else if phase == "Failed" || podspec::is_deleting(p) {
            if podspec::is_deleting(p) && !podspec::is_terminal(p) {
                terminating += 1;
            }
            if tracked {
                failed += 1;
                release.push(podspec::name(p).to_string());
            }
        } else {
            if pod_ready(p) {
                ready += 1;
            }
            active.push(podspec::name(p).to_string());
        }
    }
    if !release.is_empty() {
        out.push(Change::ReleasePods(release));
    }
    let finished = has_condition(job, "Complete") || has_condition(job, "Failed");
    if status["startTime"].is_null() && !suspended && !finished {
        status["startTime"] = json!(now_s);
    }
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["ready"] = json!(ready);
    status["terminating"] = json!(terminating);
    status["uncountedTerminatedPods"] = json!({});
    if let Some(o) = status.as_object_mut() {
        for k in ["succeeded", "failed"] {
            if o.get(k).and_then(Value::as_i64) == Some(0) {
                o.remove(k);
            }
        }
    }
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    if finished {
        status["active"] = json!(active.len());
        if active.is_empty()
            && let Some(o) = status.as_object_mut()
        {
            o.remove("active");
        }
        if let Some(ttl) = spec["ttlSecondsAfterFinished"].as_i64()
            && let Some(at) = finished_at(job)
            && now.duration_since(at).as_secs() >= ttl
        {
            out.push(Change::DeleteJob);
        }
    } else {
        let started = status["startTime"]
            .as_str()
            .and_then(crate::clock::parse_ts);
        let deadline = spec["activeDeadlineSeconds"]
            .as_i64()
            .zip(started)
            .is_some_and(|(ads, st)| now.duration_since(st).as_secs() >= ads);
        let fail = if failed > backoff_limit {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        if let Some((reason, message)) = fail {
            if !active.is_empty() {
                out.push(Change::DeletePods(active.clone()));
            }
            conditions.push(condition("FailureTarget", reason, message, &now_s));
            conditions.push(condition("Failed", reason, message, &now_s));
            out.push(Change::Event("Warning", reason, message.to_string()));
            if let Some(o) = status.as_object_mut() {
                o.remove("active");
            }
        } else if succeeded >= completions {
            let m = "Reached expected number of succeeded pods";
            conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                m,
                &now_s,
            ));
            conditions.push(condition("Complete", "CompletionsReached", m, &now_s));
            status["completionTime"] = json!(now_s);
            if !active.is_empty() {
                out.push(Change::DeletePods(active.clone()));
            }
            if let Some(o) = status.as_object_mut() {
                o.remove("active");
            }
            out.push(Change::Event(
                "Normal",
                "Completed",
                "Job completed".to_string(),
            ));
        } else {
            let want = if suspended {
                0
            } else {
                parallelism.min(completions - succeeded).max(0)
            };
            let missing = want - active.len() as i64;
            if missing > 0 {
                out.push(Change::CreatePods(missing as usize));
            }
            status["active"] = json!(active.len());
            if active.is_empty()
                && let Some(o) = status.as_object_mut()
            {
                o.remove("active");
            }
        }
        if !conditions.is_empty() {
            status["conditions"] = json!(conditions);
        }
    }
    if status != old {
        out.push(Change::SetStatus(status));
    }
    out
}

/// A pod for a Job from its template.
pub fn pod_from_template(job: &Value) -> Value {
    let t = &job["spec"]["template"];
    let mut meta = t.get("metadata").cloned().unwrap_or(json!({}));
    meta["generateName"] = json!(format!("{}-", podspec::name(job)));
    meta["ownerReferences"] = json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": podspec::name(job),
        "uid": podspec::uid(job), "controller": true, "blockOwnerDeletion": true
    }]);
    meta["finalizers"] = json!([JOB_TRACKING_FINALIZER]);
    if let Some(o) = meta.as_object_mut() {
        o.remove("name");
        o.remove("creationTimestamp");
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": t["spec"].clone()})
}

/// When a Job next needs attention for time alone (activeDeadlineSeconds, TTL).
pub fn next_deadline(job: &Value) -> Option<jiff::Timestamp> {
    let spec = &job["spec"];
    match finished_at(job) {
        Some(at) => {
            let ttl = spec["ttlSecondsAfterFinished"].as_i64()?;
            at.checked_add(jiff::SignedDuration::from_secs(ttl)).ok()
        }
        None => {
            let ads = spec["activeDeadlineSeconds"].as_i64()?;
            let start = job
                .at("/status/startTime")
                .and_then(Value::as_str)
                .and_then(crate::clock::parse_ts)?;
            start.checked_add(jiff::SignedDuration::from_secs(ads)).ok()
        }
    }
}

/// The Job controller.
#[derive(Debug, Default)]
pub struct JobController {
    /// Per-Job earliest time of the next pod creation attempt (after a rejection or failure).
    backoff: HashMap<String, Instant>,
    /// Per-Job time-based wake-ups (deadline, TTL).
    wakeups: HashMap<String, Instant>,
    /// Jobs (by uid) touched since the last reconcile.
    dirty: HashSet<String>,
    /// uid → (namespace, name) of every Job seen.
    names: HashMap<String, (String, String)>,
}

impl Controller for JobController {
    fn name(&self) -> &'static str {
        "job-controller"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        if e.rt == resources::JOBS {
            let uid = podspec::uid(&e.object).to_string();
            if e.kind == crate::store::EventType::Deleted {
                self.names.remove(&uid);
                self.backoff.remove(&uid);
                self.wakeups.remove(&uid);
            } else {
                self.names
                    .insert(uid.clone(), (e.namespace.clone(), e.name.clone()));
                self.dirty.insert(uid);
            }
            return true;
        }
        if e.rt == resources::PODS {
            let mut any = false;
            for o in std::iter::once(&e.object).chain(e.old.iter()) {
                if let Some(u) = podspec::controller_uid(o) {
                    any |= self.dirty.insert(u.to_string()) || self.names.contains_key(u);
                }
            }
            return any;
        }
        false
    }

    fn next_wake(&self) -> Option<Instant> {
        self.backoff
            .values()
            .chain(self.wakeups.values())
            .min()
            .copied()
    }

    fn reconcile(&mut self, cluster: &ApiState, full: bool) -> Reconciled {
        let now = cluster.store.clock().now();
        let inst = Instant::now();
        for (uid, t) in self.backoff.iter().chain(self.wakeups.iter()) {
            if *t <= inst {
                self.dirty.insert(uid.clone());
            }
        }
        self.backoff.retain(|_, t| *t > inst);
        self.wakeups.retain(|_, t| *t > inst);
        if full {
            // A full resync marks every Job dirty; it is then handled in chunks like any
            // other batch, so no reconcile holds the store or a core for long.
            let names: HashMap<String, (String, String)> = cluster.store.read(|v| {
                v.list(&resources::JOBS, None)
                    .into_iter()
                    .map(|j| {
                        (
                            podspec::uid(j).to_string(),
                            (
                                podspec::namespace(j).to_string(),
                                podspec::name(j).to_string(),
                            ),
                        )
                    })
                    .collect()
            });
            self.dirty.extend(names.keys().cloned());
            self.names = names;
        }
        if self.dirty.is_empty() {
            return Reconciled::Done;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        super::take_chunk(&mut dirty, &mut self.dirty);
        let targets: Vec<(&String, &(String, String))> = dirty
            .iter()
            .filter_map(|u| self.names.get(u).map(|k| (u, k)))
            .collect();
        // decide under the read lock without copying; copy only Jobs that need work.
        // A Job's pods come from the store's owner index, not from a scan of all pods.
        let (work, deadlines) = cluster.store.read(|v| {
            let mut work: Vec<(Value, Vec<Change>)> = Vec::new();
            let mut deadlines: Vec<(String, jiff::Timestamp)> = Vec::new();
            for (uid, (ns, name)) in targets {
                let Some(j) = v
                    .get(&resources::JOBS, ns, name)
                    .filter(|j| podspec::uid(j) == uid)
                else {
                    continue;
                };
                let pods: Vec<&Value> = v
                    .dependents(uid)
                    .iter()
                    .filter(|(rt, _, _)| *rt == resources::PODS)
                    .filter_map(|(rt, ns, name)| v.get(rt, ns, name))
                    .filter(|p| podspec::controller_uid(p) == Some(uid.as_str()))
                    .map(|p| p.as_ref())
                    .collect();
                let changes = reconcile(j, &pods, now);
                if let Some(d) = next_deadline(j) {
                    deadlines.push((uid.clone(), d));
                }
                if !changes.is_empty() {
                    work.push(((**j).clone(), changes));
                }
            }
            (work, deadlines)
        });
        for (uid, at) in deadlines {
            let wait = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
            self.wakeups
                .insert(uid, inst + wait + Duration::from_millis(5));
        }
        for (job, changes) in work {
            let ns = podspec::namespace(&job).to_string();
            let name = podspec::name(&job).to_string();
            let uid = podspec::uid(&job).to_string();
            for change in changes {
                match change {
                    Change::ReleasePods(names) => {
                        for p in names {
                            super::note_failed(
                                "job",
                                "release pod",
                                Written::new(&resources::PODS, &ns, &p),
                                cluster.release_pod(&ns, &p),
                            );
                        }
                        // a failed pod delays its replacement
                        let delay = cluster
                            .store
                            .clock()
                            .scale(Duration::from_millis(cluster.config.job_backoff_ms));
                        if !delay.is_zero() {
                            self.backoff.entry(uid.clone()).or_insert(inst + delay);
                        }
                    }
                    Change::DeletePods(names) => {
                        for p in names {
                            let opts = DeleteOptions {
                                propagation_policy: Some("Background".into()),
                                ..Default::default()
                            };
                            super::note_failed(
                                "job",
                                "delete",
                                Written::new(&resources::PODS, &ns, &p),
                                cluster.delete(&resources::PODS, &ns, &p, &opts),
                            );
                        }
                    }
                    Change::SetStatus(status) => {
                        super::note_failed(
                            "job",
                            "write",
                            Written::new(&resources::JOBS, &ns, &name),
                            cluster.write(
                                &resources::JOBS,
                                &ns,
                                &name,
                                Subresource::Status,
                                false,
                                |cur| {
                                    let mut c = cur.clone();
                                    c["status"] = status;
                                    if let Some(m) = c["metadata"].as_object_mut() {
                                        m.remove("resourceVersion");
                                    }
                                    Ok(c)
                                },
                            ),
                        );
                    }
                    Change::Event(ty, reason, msg) => {
                        cluster.recorder.record(
                            &cluster.store,
                            &job,
                            ty,
                            reason,
                            &msg,
                            events::JOB_CONTROLLER,
                        );
                    }
                    Change::DeleteJob => {
                        let opts = DeleteOptions {
                            propagation_policy: Some("Background".into()),
                            ..Default::default()
                        };
                        super::note_failed(
                            "job",
                            "delete",
                            Written::new(&resources::JOBS, &ns, &name),
                            cluster.delete(&resources::JOBS, &ns, &name, &opts),
                        );
                    }
                    Change::CreatePods(n) => {
                        if self.backoff.get(&uid).is_some_and(|t| *t > inst) {
                            continue;
                        }
                        for _ in 0..n {
                            match cluster.create(
                                &resources::PODS,
                                &ns,
                                pod_from_template(&job),
                                false,
                            ) {
                                Ok(pod) => cluster.recorder.record(
                                    &cluster.store,
                                    &job,
                                    "Normal",
                                    "SuccessfulCreate",
                                    &format!("Created pod: {}", podspec::name(&pod)),
                                    events::JOB_CONTROLLER,
                                ),
                                Err(e) => {
                                    let msg = format!("Error creating: {e}");
                                    cluster.recorder.record(
                                        &cluster.store,
                                        &job,
                                        "Warning",
                                        "FailedCreate",
                                        &msg,
                                        events::JOB_CONTROLLER,
                                    );
                                    let delay = cluster.store.clock().scale(Duration::from_secs(1));
                                    self.backoff.insert(uid.clone(), inst + delay);
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
        Reconciled::requeue_if(!self.dirty.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra: Value) -> Value {
        let mut j = json!({"metadata": {"name": "j", "namespace": "ns", "uid": "U"},
            "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 0,
                     "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {}});
        json_patch::merge(&mut j, &extra);
        j
    }

    fn pod(phase: &str, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": "j-abcde", "finalizers": [JOB_TRACKING_FINALIZER]},
            "status": {"phase": phase}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        p
    }

    fn now() -> jiff::Timestamp {
        "2026-11-28T23:00:00Z".parse().expect("ts")
    }

    #[test]
    fn creates_first_pod() {
        let c = reconcile(&job(json!({})), &[], now());
        assert!(c.contains(&Change::CreatePods(1)));
    }

    #[test]
    fn deleted_running_pod_fails_job_with_backoff_limit_zero() {
        let p = pod("Running", true);
        let c = reconcile(&job(json!({})), &[&p], now());
        assert!(c.contains(&Change::ReleasePods(vec!["j-abcde".into()])));
        let status = c
            .iter()
            .find_map(|x| match x {
                Change::SetStatus(s) => Some(s.clone()),
                _ => None,
            })
            .expect("status");
        assert_eq!(status["failed"], 1);
        let failed = status["conditions"]
            .as_array()
            .expect("conds")
            .iter()
            .any(|c| c["type"] == "Failed" && c["reason"] == "BackoffLimitExceeded");
        assert!(failed);
    }

    #[test]
    fn success_completes() {
        let p = pod("Succeeded", false);
        let c = reconcile(&job(json!({})), &[&p], now());
        let status = c
            .iter()
            .find_map(|x| match x {
                Change::SetStatus(s) => Some(s.clone()),
                _ => None,
            })
            .expect("status");
        assert_eq!(status["succeeded"], 1);
        assert!(
            status["conditions"]
                .as_array()
                .expect("c")
                .iter()
                .any(|c| c["type"] == "Complete")
        );
    }

    #[test]
    fn deadline_and_ttl() {
        let j = job(
            json!({"spec": {"activeDeadlineSeconds": 10}, "status": {"startTime": "2026-11-28T22:00:00Z"}}),
        );
        let p = pod("Running", false);
        let c = reconcile(&j, &[&p], now());
        assert!(c.contains(&Change::DeletePods(vec!["j-abcde".into()])));
        let j = job(
            json!({"spec": {"ttlSecondsAfterFinished": 5}, "status": {"conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-28T22:59:00Z"}]}}),
        );
        assert!(reconcile(&j, &[], now()).contains(&Change::DeleteJob));
    }
}
