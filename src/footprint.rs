//! The Kubernetes footprint an investigation must have (contract: "Kubernetes footprint
//! of one investigation"), as pure checks over typed objects. Each returns every
//! violation found, in words that name the rule.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

/// The extended resource of one GPU slice.
pub const GPU_SLICE: &str = "nvidia.com/gpu.shared";
/// Where the recordings storage is mounted in the stream container.
pub const RECORDINGS_MOUNT: &str = "/prisma/root/recordings";
/// The stream container's port.
pub const STREAM_CONTAINER_PORT: i32 = 5000;

fn pod_spec(job: &Job) -> Option<&PodSpec> {
    job.spec.as_ref()?.template.spec.as_ref()
}

fn containers(job: &Job) -> &[Container] {
    pod_spec(job)
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[])
}

fn name(job: &Job) -> &str {
    job.metadata.name.as_deref().unwrap_or("?")
}

/// backoffLimit and ttlSecondsAfterFinished of a Job.
pub fn job_policy(job: &Job, backoff: i32, ttl: i32) -> Vec<String> {
    let mut v = Vec::new();
    let spec = job.spec.as_ref();
    let b = spec.and_then(|s| s.backoff_limit);
    if b != Some(backoff) {
        v.push(format!(
            "Job {} has backoffLimit {b:?}, required {backoff}",
            name(job)
        ));
    }
    let t = spec.and_then(|s| s.ttl_seconds_after_finished);
    if t != Some(ttl) {
        v.push(format!(
            "Job {} has ttlSecondsAfterFinished {t:?}, required {ttl}",
            name(job)
        ));
    }
    v
}

/// The stream Job's pod template: label `app: <job>` and container port 5000.
pub fn stream_template(job: &Job) -> Vec<String> {
    let mut v = Vec::new();
    let labels = job
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref());
    if labels.and_then(|l| l.get("app")).map(String::as_str) != Some(name(job)) {
        v.push(format!(
            "Job {}: pod template label `app` is not `{}`",
            name(job),
            name(job)
        ));
    }
    let ports: Vec<i32> = containers(job)
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| p.container_port)
        .collect();
    if !ports.contains(&STREAM_CONTAINER_PORT) {
        v.push(format!(
            "Job {}: container ports {ports:?} lack {STREAM_CONTAINER_PORT}",
            name(job)
        ));
    }
    v
}

fn quantity(c: &Container, which: &str, resource: &str) -> Option<String> {
    let r = c.resources.as_ref()?;
    let map = if which == "requests" {
        r.requests.as_ref()
    } else {
        r.limits.as_ref()
    };
    map?.get(resource).map(|q| q.0.clone())
}

/// Exactly one GPU slice requested and limited, across the pod's containers.
pub fn gpu_slice(job: &Job) -> Vec<String> {
    let mut v = Vec::new();
    for which in ["requests", "limits"] {
        let total: Vec<String> = containers(job)
            .iter()
            .filter_map(|c| quantity(c, which, GPU_SLICE))
            .collect();
        if total != ["1"] {
            v.push(format!(
                "Job {}: {which} of {GPU_SLICE} are {total:?}, required exactly one slice",
                name(job)
            ));
        }
    }
    v
}

/// A memory request and limit on every container.
pub fn memory(job: &Job) -> Vec<String> {
    let mut v = Vec::new();
    for c in containers(job) {
        for which in ["requests", "limits"] {
            if quantity(c, which, "memory").is_none() {
                v.push(format!(
                    "Job {}: container {} has no memory in {which}",
                    name(job),
                    c.name
                ));
            }
        }
    }
    if containers(job).is_empty() {
        v.push(format!("Job {} has no containers", name(job)));
    }
    v
}

/// The recordings storage is a volume of the pod mounted at /prisma/root/recordings.
pub fn recordings_storage(job: &Job) -> Vec<String> {
    let mount = containers(job)
        .iter()
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .find(|m| m.mount_path == RECORDINGS_MOUNT);
    let Some(mount) = mount else {
        return vec![format!(
            "Job {}: nothing is mounted at {RECORDINGS_MOUNT}",
            name(job)
        )];
    };
    let declared = pod_spec(job)
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|vs| vs.iter().any(|v| v.name == mount.name));
    if declared {
        Vec::new()
    } else {
        vec![format!(
            "Job {}: volume `{}` mounted at {RECORDINGS_MOUNT} is not declared in the pod",
            name(job),
            mount.name
        )]
    }
}

/// The pod carries `app` and `job-name` labels of its Job and a controller ownerReference to it.
pub fn pod_belongs_to(pod: &Pod, job: &str) -> Vec<String> {
    let mut v = Vec::new();
    let pname = pod.metadata.name.as_deref().unwrap_or("?");
    let labels = pod.metadata.labels.as_ref();
    for key in ["app", "job-name"] {
        if labels.and_then(|l| l.get(key)).map(String::as_str) != Some(job) {
            v.push(format!("pod {pname}: label `{key}` is not `{job}`"));
        }
    }
    let owned = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Job" && o.name == job && o.controller == Some(true));
    if !owned {
        v.push(format!(
            "pod {pname}: no controller ownerReference to Job {job}"
        ));
    }
    v
}

/// `(type, reason)` of the Job's conditions whose status is True.
pub fn true_conditions(job: &Job) -> Vec<(String, String)> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// The Job is running: one active pod and no terminal condition.
pub fn job_active(job: &Job) -> Vec<String> {
    let mut v = Vec::new();
    let active = job.status.as_ref().and_then(|s| s.active).unwrap_or(0);
    if active != 1 {
        v.push(format!(
            "Job {} has {active} active pods, expected 1",
            name(job)
        ));
    }
    let terminal: Vec<_> = true_conditions(job)
        .into_iter()
        .filter(|(t, _)| t == "Failed" || t == "Complete")
        .collect();
    if !terminal.is_empty() {
        v.push(format!(
            "Job {} has terminal conditions {terminal:?}",
            name(job)
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(json: serde_json::Value) -> Job {
        serde_json::from_value(json).expect("job fixture")
    }

    fn stream_job() -> Job {
        job(serde_json::json!({
            "metadata": {"name": "grpc-job-1-2"},
            "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 120, "template": {
                "metadata": {"labels": {"app": "grpc-job-1-2"}},
                "spec": {"containers": [{"name": "grpc", "ports": [{"containerPort": 5000}],
                    "resources": {"requests": {"nvidia.com/gpu.shared": "1", "memory": "4Gi"},
                                  "limits": {"nvidia.com/gpu.shared": "1", "memory": "4Gi"}},
                    "volumeMounts": [{"name": "rec", "mountPath": "/prisma/root/recordings"}]}],
                    "volumes": [{"name": "rec", "emptyDir": {}}]}}}
        }))
    }

    #[test]
    fn the_required_template_passes_every_check() {
        let j = stream_job();
        assert!(job_policy(&j, 0, 120).is_empty());
        assert!(stream_template(&j).is_empty());
        assert!(gpu_slice(&j).is_empty());
        assert!(memory(&j).is_empty());
        assert!(recordings_storage(&j).is_empty());
    }

    #[test]
    fn each_missing_piece_is_named() {
        let mut j = stream_job();
        let spec = j
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .expect("spec");
        spec.containers[0].resources = None;
        spec.volumes = None;
        assert_eq!(gpu_slice(&j).len(), 2);
        assert_eq!(memory(&j).len(), 2);
        assert_eq!(recordings_storage(&j).len(), 1);
        assert!(job_policy(&j, 0, 10)[0].contains("ttlSecondsAfterFinished"));
    }
}
