//! The API server's state (store, admission, configuration, request log) and the verbs
//! over it (create, replace, patch, delete) that the HTTP API and the controllers share.
//!
//! One module past ~400 lines: the verbs share one write path (admission, preconditions,
//! main/status split, propagation); the delete's cascade is apart (`cascade.rs`).

mod cascade;

use crate::podspec::At;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::admission::{Admission, JOB_TRACKING_FINALIZER};
use crate::config::SimConfig;
use crate::patch::{self, PatchType};
use crate::podspec;
use crate::resources::{self, ResourceType};
use crate::status::{ApiError, success_status};
use crate::store::{DeleteOutcome, DeleteRequest, Obj, Store};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

/// DeleteOptions (from the JSON body or the query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Read a metav1.DeleteOptions JSON body.
    pub fn from_body(v: &Value) -> Self {
        let propagation_policy = v["propagationPolicy"]
            .as_str()
            .map(String::from)
            .or_else(|| {
                v["orphanDependents"]
                    .as_bool()
                    .map(|o| if o { "Orphan" } else { "Background" }.to_string())
            });
        DeleteOptions {
            propagation_policy,
            grace_period_seconds: v["gracePeriodSeconds"].as_i64(),
            precondition_uid: v
                .at("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            precondition_rv: v
                .at("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            dry_run: v["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
        }
    }
}

/// Upstream warning when a batch/v1 Job is deleted without a propagation policy.
pub const JOB_ORPHAN_WARNING: &str = "299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\"";

/// The answer to a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// `Status` (removed now) or the object with `deletionTimestamp` (pending).
    pub body: Value,
    pub warning: Option<&'static str>,
}

/// One API request, as seen by the optional request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// The client's `User-Agent` header (e.g. `kubectl/v1.37.1 …`), when it sent one.
    pub user_agent: Option<String>,
}

/// The API server's state and verbs, shared by the HTTP API and the controllers.
#[derive(Debug)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub admission: Admission,
    pub config: SimConfig,
    pub shutdown: watch::Receiver<bool>,
    pub request_log: Option<Mutex<Vec<RequestRecord>>>,
    /// Open `request_log_file`, if configured.
    pub request_log_file: Option<Mutex<std::fs::File>>,
    pub recorder: crate::events::Recorder,
}

impl ApiState {
    pub fn new(config: SimConfig, shutdown: watch::Receiver<bool>) -> Self {
        let clock = crate::clock::Clock::new(config.speed).offset_by(config.clock_offset_ms);
        ApiState {
            store: Arc::new(Store::new(
                config.watch_history,
                config.watch_channel_capacity,
                clock,
            )),
            admission: Admission {
                node_port_range: config.node_port_range,
                cluster_ip_base: config.service_cluster_ip_base,
            },
            request_log: config.request_log.then(|| Mutex::new(Vec::new())),
            request_log_file: config.request_log_file.as_ref().and_then(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(
                        |e| tracing::warn!(path = %p.display(), error = %e, "request log file"),
                    )
                    .ok()
                    .map(Mutex::new)
            }),
            recorder: crate::events::Recorder::default(),
            config,
            shutdown,
        }
    }

    pub fn log_request(&self, r: RequestRecord) {
        if let Some(f) = &self.request_log_file {
            use std::io::Write;
            let line = json!({"verb": r.verb, "group": r.group, "resource": r.resource,
                "subresource": r.subresource, "namespace": r.namespace, "name": r.name,
                "user_agent": r.user_agent});
            // The whole line in one write: a reader following the file sees it at once.
            let line = format!("{line}\n");
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            let _ = f.write_all(line.as_bytes());
        }
        if let Some(log) = &self.request_log {
            log.lock().unwrap_or_else(|p| p.into_inner()).push(r);
        }
    }

    /// Create with admission.
    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        body: Value,
        dry_run: bool,
    ) -> Result<Obj, ApiError> {
        let adm = &self.admission;
        let created = self
            .store
            .create(rt, ns, body, dry_run, |view, obj| adm.create(rt, view, obj))?;
        if *rt == resources::NAMESPACES && !dry_run {
            // the service-account controller's job: every namespace has `default`
            let name = podspec::name(&created).to_string();
            let sa = json!({"metadata": {"name": "default"}});
            let created_sa = self.store.create(
                &resources::SERVICE_ACCOUNTS,
                &name,
                sa,
                false,
                |_, _| Ok(()),
            );
            // One left from before (AlreadyExists) is as good; anything else is worth a line.
            if let Err(e) = created_sa
                && !matches!(e, ApiError::AlreadyExists { .. })
            {
                tracing::warn!(error = %e, namespace = %name, "creating the default ServiceAccount");
            }
        }
        Ok(created)
    }

    /// Read-modify-write with the main/status split, optimistic concurrency on a
    /// resourceVersion the edit leaves in place, and update admission.
    pub fn write(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        dry_run: bool,
        edit: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Obj, ApiError> {
        let adm = &self.admission;
        self.store.update(rt, ns, name, dry_run, |view, obj| {
            let old = obj.clone();
            let mut new = edit(&old)?;
            if !new.is_object() {
                return Err(ApiError::BadRequest("the body must be a JSON object".into()));
            }
            let cur_rv = old["metadata"]["resourceVersion"].as_str().unwrap_or("");
            if let Some(rv) = new
                .at("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                && rv != cur_rv {
                    return Err(ApiError::conflict_modified(rt, name));
                }
            if let Some(body_name) = new.at("/metadata/name").and_then(Value::as_str)
                && body_name != name {
                    return Err(ApiError::BadRequest(format!(
                        "the name of the object ({body_name}) does not match the name on the URL ({name})"
                    )));
                }
            match sub {
                Subresource::Main if rt.has_status => match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                },
                Subresource::Main => {}
                Subresource::Status => {
                    let status = new.get("status").cloned();
                    new = old.clone();
                    match status {
                        Some(s) => new["status"] = s,
                        None => {
                            if let Some(o) = new.as_object_mut() {
                                o.remove("status");
                            }
                        }
                    }
                }
            }
            if sub == Subresource::Main {
                adm.update(rt, view, &old, &mut new)?;
            }
            *obj = new;
            Ok(())
        })
    }

    /// PUT.
    pub fn replace(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        body: Value,
        dry_run: bool,
    ) -> Result<Obj, ApiError> {
        self.write(rt, ns, name, sub, dry_run, move |_| Ok(body))
    }

    #[allow(clippy::too_many_arguments)]
    /// PATCH (apply-patch creates the object when absent). Returns the object and
    /// whether it was created.
    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        sub: Subresource,
        ty: PatchType,
        body: &[u8],
        dry_run: bool,
    ) -> Result<(Obj, bool), ApiError> {
        if ty == PatchType::Apply
            && sub == Subresource::Main
            && self
                .store
                .get(rt, if rt.namespaced { ns } else { "" }, name)
                .is_none()
        {
            let mut obj = patch::parse_body(body)?;
            if !obj.is_object() {
                return Err(ApiError::BadRequest(
                    "the body must be a JSON object".into(),
                ));
            }
            obj["metadata"]["name"] = json!(name);
            if let Some(o) = obj["metadata"].as_object_mut() {
                o.remove("managedFields");
                o.remove("resourceVersion");
            }
            return match self.create(rt, ns, obj, dry_run) {
                Ok(o) => Ok((o, true)),
                // lost a race with another creator: patch instead
                Err(ApiError::AlreadyExists { .. }) => self
                    .write(rt, ns, name, sub, dry_run, |cur| {
                        patch::apply(cur, ty, body)
                    })
                    .map(|o| (o, false)),
                Err(e) => Err(e),
            };
        }
        self.write(rt, ns, name, sub, dry_run, |cur| {
            let mut out = patch::apply(cur, ty, body)?;
            if let Some(o) = out["metadata"].as_object_mut() {
                o.remove("managedFields");
                if ty == PatchType::Apply {
                    o.remove("resourceVersion");
                }
            }
            Ok(out)
        })
        .map_err(|e| match e {
            ApiError::Invalid { causes, .. } if ty == PatchType::Json => {
                ApiError::invalid(rt, name, causes)
            }
            other => other,
        })
        .map(|o| (o, false))
    }

    /// DELETE with propagation (Background, Foreground, Orphan; Jobs default to Orphan
    /// with the upstream warning) and graceful pod deletion.
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let ns = if rt.namespaced { ns } else { "" };
        let current = self
            .store
            .get(rt, ns, name)
            .ok_or_else(|| ApiError::not_found(rt, name))?;
        if *rt == resources::NAMESPACES && crate::admission::IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                rt,
                name,
                "this namespace may not be deleted".to_string(),
            ));
        }
        let (policy, warning) = match opts.propagation_policy.as_deref() {
            Some(p @ ("Orphan" | "Background" | "Foreground")) => (p.to_string(), None),
            Some(other) => {
                return Err(ApiError::invalid(
                    rt,
                    name,
                    vec![crate::status::Cause::unsupported(
                        "propagationPolicy",
                        &json!(other),
                        &["Foreground", "Background", "Orphan", "nil"],
                    )],
                ));
            }
            None if *rt == resources::JOBS => ("Orphan".to_string(), Some(JOB_ORPHAN_WARNING)),
            None => ("Background".to_string(), None),
        };
        let grace = if *rt == resources::PODS {
            let default = current
                .at("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30);
            let g = opts.grace_period_seconds.unwrap_or(default).max(0);
            if podspec::node_name(&current).is_none() || podspec::is_terminal(&current) {
                0
            } else {
                g
            }
        } else {
            0
        };
        let mut req = DeleteRequest {
            grace_seconds: grace,
            add_finalizers: Vec::new(),
            precondition_uid: opts.precondition_uid.clone(),
            precondition_rv: opts.precondition_rv.clone(),
            dry_run: opts.dry_run,
        };
        let uid = podspec::uid(&current).to_string();
        let has_dependents = self.store.read(|v| !v.dependents(&uid).is_empty());
        let outcome = match policy.as_str() {
            "Orphan" if has_dependents && !opts.dry_run => {
                req.add_finalizers.push("orphan".to_string());
                self.store.delete(rt, ns, name, &req)?;
                cascade::orphan_dependents(self, &uid);
                let after = self.write(rt, ns, name, Subresource::Main, false, |cur| {
                    let mut c = cur.clone();
                    podspec::remove_finalizer(&mut c, "orphan");
                    Ok(c)
                });
                match after {
                    Ok(o) if self.store.get(rt, ns, name).is_some() => DeleteOutcome::Pending(o),
                    Ok(o) => DeleteOutcome::Removed(o),
                    Err(ApiError::NotFound { .. }) => DeleteOutcome::Removed(current.clone()),
                    Err(e) => return Err(e),
                }
            }
            "Foreground" if has_dependents && !opts.dry_run => {
                req.add_finalizers.push("foregroundDeletion".to_string());
                let out = self.store.delete(rt, ns, name, &req)?;
                cascade::delete_dependents(self, &uid);
                out
            }
            _ => {
                let out = self.store.delete(rt, ns, name, &req)?;
                if matches!(out, DeleteOutcome::Removed(_)) && has_dependents && !opts.dry_run {
                    cascade::delete_dependents(self, &uid);
                }
                out
            }
        };
        let body = match outcome {
            DeleteOutcome::Removed(_) => success_status(rt, name, &uid),
            DeleteOutcome::Pending(o) => (*o).clone(),
        };
        Ok(Deleted { body, warning })
    }

    /// Remove the job-tracking finalizer from a pod (used when its Job is gone).
    pub fn release_pod(&self, ns: &str, name: &str) -> Result<(), ApiError> {
        self.write(
            &resources::PODS,
            ns,
            name,
            Subresource::Main,
            false,
            |cur| {
                let mut c = cur.clone();
                podspec::remove_finalizer(&mut c, JOB_TRACKING_FINALIZER);
                Ok(c)
            },
        )
        .map(|_| ())
    }
}
