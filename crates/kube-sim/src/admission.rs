//! Defaulting and validation on create and update (the apiserver's strategies),
//! plus NodePort/ClusterIP allocation and quota admission. Runs under the store lock.
//!
//! One module past ~400 lines: the per-kind defaulting and validation run as one
//! `Admission` under the store lock, with the NodePort/ClusterIP allocation they check.

use crate::podspec::At;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rand::Rng;
use serde_json::{Value, json};

use crate::podspec;
use crate::quantity::Quantity;
use crate::quota;
use crate::resources::{self, ResourceType};
use crate::status::{ApiError, Cause};
use crate::store::View;

/// Settings admission needs.
#[derive(Debug, Clone)]
pub struct Admission {
    pub node_port_range: [u16; 2],
    pub cluster_ip_base: Ipv4Addr,
}

/// Finalizer the Job controller puts on its pods (upstream `batch.kubernetes.io/job-tracking`).
pub const JOB_TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

fn set_default(obj: &mut Value, pointer: &str, value: Value) {
    if obj.at(pointer).is_none_or(Value::is_null) {
        let mut cur = obj;
        let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
        for (i, p) in parts.iter().enumerate() {
            if !cur.is_object() {
                *cur = json!({});
            }
            if i + 1 == parts.len() {
                cur[*p] = value;
                return;
            }
            if cur.get(*p).is_none_or(|v| !v.is_object()) {
                cur[*p] = json!({});
            }
            cur = &mut cur[*p];
        }
    }
}

/// Kind-specific name rules beyond the generic RFC 1123 subdomain the store checks.
pub fn validate_name(rt: &ResourceType, name: &str) -> Result<(), ApiError> {
    let invalid = |detail: &str| {
        Err(ApiError::invalid(
            rt,
            name,
            vec![Cause::invalid("metadata.name", &json!(name), detail)],
        ))
    };
    match rt.plural {
        "services" => {
            let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return invalid(
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
                );
            }
            if name.len() > 63 {
                return invalid("must be no more than 63 characters");
            }
            Ok(())
        }
        "namespaces" => {
            if name.contains('.') {
                return invalid(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                );
            }
            if name.len() > 63 {
                return invalid("must be no more than 63 characters");
            }
            Ok(())
        }
        // the name becomes the `job-name` label value
        "jobs" if name.len() > 63 => invalid("must be no more than 63 characters"),
        _ => Ok(()),
    }
}

/// Namespaces the apiserver refuses to delete.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

impl Admission {
    /// Default and validate a new object.
    pub fn create(
        &self,
        rt: &ResourceType,
        view: &View<'_>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        validate_name(rt, podspec::name(obj))?;
        match (rt.group, rt.plural) {
            ("", "namespaces") => {
                let name = podspec::name(obj).to_string();
                set_default(obj, "/spec/finalizers", json!(["kubernetes"]));
                obj["status"] = json!({"phase": "Active"});
                obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                Ok(())
            }
            ("", "pods") => {
                default_pod(obj);
                validate_pod(rt, obj, "spec")?;
                obj["status"] = json!({"phase": "Pending", "qosClass": qos_class(obj)});
                self.quota_pod(view, obj)
            }
            ("batch", "jobs") => {
                default_job(obj);
                validate_job(rt, obj)?;
                obj["status"] = json!({});
                self.quota_count(rt, view, obj)
            }
            ("apps", "deployments") => {
                default_deployment(obj);
                obj["status"] = json!({});
                self.quota_count(rt, view, obj)
            }
            ("", "services") => {
                self.service(view, obj, None)?;
                self.quota_count(rt, view, obj)
            }
            ("", "resourcequotas") => {
                let hard = obj.at("/spec/hard").cloned().unwrap_or(json!({}));
                obj["status"] = json!({"hard": hard, "used": {}});
                Ok(())
            }
            ("", "configmaps") => self.quota_count(rt, view, obj),
            _ => Ok(()),
        }
    }

    /// Validate an update (`new` already carries the client's changes).
    pub fn update(
        &self,
        rt: &ResourceType,
        view: &View<'_>,
        old: &Value,
        new: &mut Value,
    ) -> Result<(), ApiError> {
        match (rt.group, rt.plural) {
            ("batch", "jobs") => {
                let name = podspec::name(old);
                for field in ["template", "selector", "completions"] {
                    let (o, n) = (old["spec"].get(field), new["spec"].get(field));
                    if field == "completions" && n.is_none() {
                        continue;
                    }
                    if o != n {
                        return Err(ApiError::invalid(
                            rt,
                            name,
                            vec![Cause::invalid(
                                format!("spec.{field}"),
                                n.unwrap_or(&Value::Null),
                                "field is immutable",
                            )],
                        ));
                    }
                }
                Ok(())
            }
            ("", "services") => self.service(view, new, Some(old)),
            ("", "resourcequotas") => {
                let hard = new.at("/spec/hard").cloned().unwrap_or(json!({}));
                new["status"]["hard"] = hard;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn quota_pod(&self, view: &View<'_>, pod: &Value) -> Result<(), ApiError> {
        let ns = podspec::namespace(pod);
        let quotas = view.list(&resources::RESOURCE_QUOTAS, Some(ns));
        if quotas.is_empty() {
            return Ok(());
        }
        let quotas: Vec<&Value> = quotas.iter().map(|q| q.as_ref()).collect();
        let used = quota::namespace_usage(view, ns);
        quota::check(&quotas, &used, &quota::pod_usage(pod))
            .map_err(|detail| ApiError::forbidden(&resources::PODS, podspec::name(pod), detail))
    }

    fn quota_count(&self, rt: &ResourceType, view: &View<'_>, obj: &Value) -> Result<(), ApiError> {
        let ns = podspec::namespace(obj);
        let quotas = view.list(&resources::RESOURCE_QUOTAS, Some(ns));
        if quotas.is_empty() {
            return Ok(());
        }
        let quotas: Vec<&Value> = quotas.iter().map(|q| q.as_ref()).collect();
        let used = quota::namespace_usage(view, ns);
        quota::check(&quotas, &used, &quota::object_usage(rt))
            .map_err(|detail| ApiError::forbidden(rt, podspec::name(obj), detail))
    }

    /// Service defaults, ClusterIP and NodePort allocation (unique cluster-wide).
    fn service(
        &self,
        view: &View<'_>,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let rt = &resources::SERVICES;
        let name = podspec::name(svc).to_string();
        let self_uid = podspec::uid(svc).to_string();
        set_default(svc, "/spec/type", json!("ClusterIP"));
        set_default(svc, "/spec/sessionAffinity", json!("None"));
        set_default(svc, "/status/loadBalancer", json!({}));
        let ty = svc["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string();
        if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&ty.as_str()) {
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![Cause::unsupported(
                    "spec.type",
                    &json!(ty),
                    &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
                )],
            ));
        }
        // ClusterIP
        let mut used_ips = BTreeSet::new();
        let mut used_ports = BTreeSet::new();
        for s in view.list(rt, None) {
            if podspec::uid(s) == self_uid {
                continue;
            }
            if let Some(ip) = s.at("/spec/clusterIP").and_then(Value::as_str) {
                used_ips.insert(ip.to_string());
            }
            if let Some(ports) = s.at("/spec/ports").and_then(Value::as_array) {
                for p in ports {
                    if let Some(n) = p["nodePort"].as_u64() {
                        used_ports.insert(n);
                    }
                }
            }
        }
        if let Some(old) = old {
            for f in ["clusterIP", "clusterIPs"] {
                if svc["spec"].get(f).is_none_or(|v| v.is_null() || v == "")
                    && let Some(v) = old["spec"].get(f)
                {
                    svc["spec"][f] = v.clone();
                }
            }
        }
        if ty != "ExternalName"
            && svc["spec"]
                .get("clusterIP")
                .is_none_or(|v| v.is_null() || v == "")
        {
            let base = u32::from(self.cluster_ip_base);
            let mut rng = rand::rng();
            let ip = (0..1000)
                .map(|_| Ipv4Addr::from(base + rng.random_range(10..65_000u32)).to_string())
                .find(|ip| !used_ips.contains(ip))
                .ok_or_else(|| {
                    ApiError::Internal("failed to allocate a serviceIP: range is full".into())
                })?;
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        }
        let Some(ports) = svc["spec"]["ports"].as_array().cloned() else {
            if ty == "ExternalName" {
                return Ok(());
            }
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![Cause::required("spec.ports")],
            ));
        };
        let old_ports: Vec<Value> = old
            .and_then(|o| o.at("/spec/ports").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        let [lo, hi] = self.node_port_range;
        let mut new_ports = Vec::with_capacity(ports.len());
        let mut mine = BTreeSet::new();
        for (i, mut p) in ports.into_iter().enumerate() {
            let Some(port) = p["port"].as_u64() else {
                return Err(ApiError::invalid(
                    rt,
                    &name,
                    vec![Cause::required(format!("spec.ports[{i}].port"))],
                ));
            };
            set_default(&mut p, "/protocol", json!("TCP"));
            if p.get("targetPort").is_none_or(Value::is_null) {
                p["targetPort"] = json!(port);
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                let requested = p["nodePort"].as_u64().filter(|n| *n != 0).or_else(|| {
                    old_ports
                        .iter()
                        .find(|op| op["port"] == p["port"] && op["protocol"] == p["protocol"])
                        .and_then(|op| op["nodePort"].as_u64())
                });
                let np = match requested {
                    Some(n) => {
                        let field = format!("spec.ports[{i}].nodePort");
                        if n < u64::from(lo) || n > u64::from(hi) {
                            return Err(ApiError::invalid(
                                rt,
                                &name,
                                vec![Cause::invalid(
                                    field,
                                    &json!(n),
                                    &format!(
                                        "provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
                                    ),
                                )],
                            ));
                        }
                        if used_ports.contains(&n) || mine.contains(&n) {
                            return Err(ApiError::invalid(
                                rt,
                                &name,
                                vec![Cause::invalid(
                                    field,
                                    &json!(n),
                                    "provided port is already allocated",
                                )],
                            ));
                        }
                        n
                    }
                    None => {
                        let free: Vec<u64> = (u64::from(lo)..=u64::from(hi))
                            .filter(|n| !used_ports.contains(n) && !mine.contains(n))
                            .collect();
                        if free.is_empty() {
                            return Err(ApiError::Internal(
                                "failed to allocate a nodePort: range is full".into(),
                            ));
                        }
                        free[rand::rng().random_range(0..free.len())]
                    }
                };
                mine.insert(np);
                p["nodePort"] = json!(np);
            } else if let Some(o) = p.as_object_mut() {
                o.remove("nodePort");
            }
            new_ports.push(p);
        }
        svc["spec"]["ports"] = Value::Array(new_ports);
        Ok(())
    }
}

fn default_pod(pod: &mut Value) {
    set_default(pod, "/spec/restartPolicy", json!("Always"));
    set_default(pod, "/spec/schedulerName", json!("default-scheduler"));
    set_default(pod, "/spec/dnsPolicy", json!("ClusterFirst"));
    set_default(pod, "/spec/terminationGracePeriodSeconds", json!(30));
    set_default(pod, "/spec/serviceAccountName", json!("default"));
    set_default(pod, "/spec/securityContext", json!({}));
    set_default(pod, "/spec/priority", json!(0));
    set_default(pod, "/spec/enableServiceLinks", json!(true));
    // limits stand in for missing requests of extended resources (and cpu/memory)
    if let Some(cs) = pod
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in cs {
            set_default(c, "/terminationMessagePath", json!("/dev/termination-log"));
            if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    set_default(p, "/protocol", json!("TCP"));
                }
            }
            set_default(c, "/terminationMessagePolicy", json!("File"));
            let latest = c["image"].as_str().is_some_and(|i| {
                i.ends_with(":latest") || !i.rsplit('/').next().unwrap_or(i).contains(':')
            });
            set_default(
                c,
                "/imagePullPolicy",
                json!(if latest { "Always" } else { "IfNotPresent" }),
            );
            if let Some(limits) = c
                .at("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            {
                for (k, v) in limits {
                    if c.at("/resources/requests")
                        .and_then(|r| r.get(&k))
                        .is_none()
                    {
                        c["resources"]["requests"][k] = v;
                    }
                }
            }
        }
    }
}

fn qos_class(pod: &Value) -> &'static str {
    let cs = pod.at("/spec/containers").and_then(Value::as_array);
    let mut any = false;
    let mut guaranteed = true;
    for c in cs.into_iter().flatten() {
        let req = c.at("/resources/requests").and_then(Value::as_object);
        let lim = c.at("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for k in ["cpu", "memory"] {
            let r = req.and_then(|r| r.get(k));
            let l = lim.and_then(|l| l.get(k));
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Pod spec validation (`prefix` = `spec` or `spec.template.spec`).
fn validate_pod(rt: &ResourceType, obj: &Value, prefix: &str) -> Result<(), ApiError> {
    let name = podspec::name(obj).to_string();
    let spec_ptr = format!("/{}", prefix.replace('.', "/"));
    let spec = obj.at(&spec_ptr).cloned().unwrap_or(Value::Null);
    let mut causes = Vec::new();
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        causes.push(Cause::required(format!("{prefix}.containers")));
    }
    for (i, c) in containers.iter().enumerate() {
        if c["name"].as_str().is_none_or(str::is_empty) {
            causes.push(Cause::required(format!("{prefix}.containers[{i}].name")));
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            causes.push(Cause::required(format!("{prefix}.containers[{i}].image")));
        }
        for kind in ["requests", "limits"] {
            if let Some(m) = c
                .at(&format!("/resources/{kind}"))
                .and_then(Value::as_object)
            {
                for (k, v) in m {
                    let field = format!("{prefix}.containers[{i}].resources.{kind}[{k}]");
                    let parsed = match v {
                        Value::String(s) => Quantity::parse(s).ok(),
                        Value::Number(n) => n.as_i64().map(Quantity::from_units),
                        _ => None,
                    };
                    match parsed {
                        None => causes.push(Cause::invalid(field, v, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
                        Some(q) if podspec::is_extended(k) && !q.is_integer() => {
                            causes.push(Cause::invalid(field, v, "must be an integer"))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let (Some(req), Some(lim)) = (
            c.at("/resources/requests").and_then(Value::as_object),
            c.at("/resources/limits").and_then(Value::as_object),
        ) {
            for (k, r) in req {
                if podspec::is_extended(k) && lim.get(k).is_some_and(|l| l != r) {
                    causes.push(Cause::invalid(
                        format!("{prefix}.containers[{i}].resources.requests"),
                        r,
                        &format!(
                            "must be equal to {k} limit of {}",
                            lim[k].as_str().unwrap_or("")
                        ),
                    ));
                } else if podspec::is_extended(k) && lim.get(k).is_none() {
                    causes.push(Cause::required(format!(
                        "{prefix}.containers[{i}].resources.limits[{k}]"
                    )));
                }
            }
        }
    }
    if let Some(rp) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&rp)
    {
        causes.push(Cause::unsupported(
            format!("{prefix}.restartPolicy"),
            &json!(rp),
            &["Always", "OnFailure", "Never"],
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, &name, causes))
    }
}

fn default_job(job: &mut Value) {
    let uid = podspec::uid(job).to_string();
    let name = podspec::name(job).to_string();
    set_default(job, "/spec/parallelism", json!(1));
    set_default(job, "/spec/completions", json!(1));
    set_default(job, "/spec/backoffLimit", json!(6));
    set_default(job, "/spec/completionMode", json!("NonIndexed"));
    set_default(job, "/spec/suspend", json!(false));
    set_default(
        job,
        "/spec/podReplacementPolicy",
        json!("TerminatingOrFailed"),
    );
    set_default(job, "/spec/manualSelector", json!(false));
    let manual = job["spec"]["manualSelector"].as_bool() == Some(true);
    if !manual {
        job["spec"]["selector"] =
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        let labels = &mut job["spec"]["template"]["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        labels["batch.kubernetes.io/controller-uid"] = json!(uid);
        labels["batch.kubernetes.io/job-name"] = json!(name);
        labels["controller-uid"] = json!(uid);
        labels["job-name"] = json!(name);
    }
    if job["metadata"]["labels"]
        .as_object()
        .is_none_or(|l| l.is_empty())
    {
        job["metadata"]["labels"] = json!({
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        });
    }
    if let Some(spec) = job.pointer_mut("/spec/template/spec") {
        let mut tmp = json!({"spec": spec.take()});
        default_pod(&mut tmp);
        *spec = tmp["spec"].take();
    }
}

fn validate_job(rt: &ResourceType, job: &Value) -> Result<(), ApiError> {
    let name = podspec::name(job).to_string();
    let rp = job
        .at("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    if rp != "Never" && rp != "OnFailure" {
        return Err(ApiError::invalid(
            rt,
            &name,
            vec![Cause::unsupported(
                "spec.template.spec.restartPolicy",
                &json!(rp),
                &["OnFailure", "Never"],
            )],
        ));
    }
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(v) = job["spec"].get(f).filter(|v| !v.is_null())
            && v.as_i64().is_none_or(|n| n < 0)
        {
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![Cause::invalid(
                    format!("spec.{f}"),
                    v,
                    "must be greater than or equal to 0",
                )],
            ));
        }
    }
    validate_pod(rt, job, "spec.template.spec")
}

fn default_deployment(d: &mut Value) {
    set_default(d, "/spec/replicas", json!(1));
    set_default(d, "/spec/revisionHistoryLimit", json!(10));
    set_default(d, "/spec/progressDeadlineSeconds", json!(600));
    set_default(
        d,
        "/spec/strategy",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
    );
    if let Some(spec) = d.pointer_mut("/spec/template/spec") {
        let mut tmp = json!({"spec": spec.take()});
        default_pod(&mut tmp);
        *spec = tmp["spec"].take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_defaults_labels_and_selector() {
        let mut job = json!({"metadata": {"name": "j", "uid": "u1"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        default_job(&mut job);
        assert_eq!(job["spec"]["backoffLimit"], 6);
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "j"
        );
        assert!(validate_job(&resources::JOBS, &job).is_ok());
        job["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        let e = validate_job(&resources::JOBS, &job).expect_err("invalid");
        assert_eq!(
            e.to_string(),
            "Job.batch \"j\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        );
    }

    #[test]
    fn kind_specific_names() {
        assert!(validate_name(&resources::SERVICES, "grpc-service-1").is_ok());
        let e = validate_name(&resources::SERVICES, "1grpc").expect_err("dns-1035");
        assert!(e.to_string().starts_with("Service \"1grpc\" is invalid: metadata.name: Invalid value: \"1grpc\": a DNS-1035 label"));
        let long = "a".repeat(64);
        assert!(validate_name(&resources::JOBS, &long).is_err());
        assert!(validate_name(&resources::PODS, &long).is_ok());
    }

    #[test]
    fn gpu_requests_must_equal_limits() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"nvidia.com/gpu.shared": "1"}}}]}});
        default_pod(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu.shared"],
            "1"
        );
        assert!(validate_pod(&resources::PODS, &pod, "spec").is_ok());
        pod["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu.shared"] = json!("2");
        assert!(validate_pod(&resources::PODS, &pod, "spec").is_err());
    }
}
