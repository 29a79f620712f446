//! The Kubernetes footprint an investigation must have (contract: "Kubernetes footprint
//! of one investigation"), as pure checks over typed objects. Each returns every
//! violation found, in words that name the rule.
//!
//! Size: ~280 lines of checks, one per rule of the footprint; the rest is their tests.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

use crate::target::config::RecordingsVolume;
use crate::target::kube::true_conditions;
use crate::target::names::GPU_SLICE;
use crate::target::profile::{MemoryBound, memory_bytes};

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

/// A memory request and limit on every container, each within the profile's bound.
pub fn memory(job: &Job, request: &MemoryBound, limit: &MemoryBound) -> Vec<String> {
    let mut v = Vec::new();
    for c in containers(job) {
        for (which, bound) in [("requests", request), ("limits", limit)] {
            match quantity(c, which, "memory") {
                None => v.push(format!(
                    "Job {}: container {} has no memory in {which}",
                    name(job),
                    c.name
                )),
                Some(q) if !bound.admits(&q) => v.push(format!(
                    "Job {}: container {} has memory {which} {q}, expected {}",
                    name(job),
                    c.name,
                    bound.text()
                )),
                Some(_) => {}
            }
        }
    }
    if containers(job).is_empty() {
        v.push(format!("Job {} has no containers", name(job)));
    }
    v
}

/// The recordings storage is the expected volume (hostPath or PVC) of the pod,
/// mounted at /prisma/root/recordings; any other volume there (an emptyDir) fails.
pub fn recordings_storage(job: &Job, expected: &RecordingsVolume) -> Vec<String> {
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
    let volume = pod_spec(job)
        .and_then(|s| s.volumes.as_ref())
        .and_then(|vs| vs.iter().find(|v| v.name == mount.name));
    let Some(volume) = volume else {
        return vec![format!(
            "Job {}: volume `{}` mounted at {RECORDINGS_MOUNT} is not declared in the pod",
            name(job),
            mount.name
        )];
    };
    let found = match (&volume.host_path, &volume.persistent_volume_claim) {
        (Some(h), _) => Some(RecordingsVolume::HostPath {
            path: h.path.clone(),
        }),
        (None, Some(c)) => Some(RecordingsVolume::Pvc {
            claim: c.claim_name.clone(),
        }),
        (None, None) => None,
    };
    if found.as_ref() == Some(expected) {
        Vec::new()
    } else {
        vec![format!(
            "Job {}: the recordings volume `{}` mounted at {RECORDINGS_MOUNT} is {}, expected {expected} (expect.recordings_volume)",
            name(job),
            mount.name,
            found
                .map(|f| f.to_string())
                .unwrap_or_else(|| "neither a hostPath nor a PVC".into())
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

/// Where the metadata's `resources` (`requests`/`limits` by resource name) disagree
/// with the Job's containers on the GPU slice and memory: each must be what the Job
/// holds (absent where the Job sets none).
pub fn metadata_resources(job: &Job, metadata: &serde_json::Value) -> Vec<String> {
    let Some(reported) = metadata.get("resources").filter(|r| r.is_object()) else {
        return vec![format!(
            "the metadata reports no `resources` object for Job {}",
            name(job)
        )];
    };
    let mut v = Vec::new();
    for which in ["requests", "limits"] {
        for resource in [GPU_SLICE, "memory"] {
            let given: Vec<String> = containers(job)
                .iter()
                .filter_map(|c| quantity(c, which, resource))
                .collect();
            let said = match &reported[which][resource] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let same = match (given.as_slice(), &said) {
                ([], None) => true,
                ([g], Some(s)) if resource == "memory" => {
                    memory_bytes(g).is_some() && memory_bytes(g) == memory_bytes(s)
                }
                ([g], Some(s)) => g.trim() == s.trim(),
                _ => false,
            };
            if !same {
                v.push(format!(
                    "the metadata reports {which} of {resource} {said:?}, Job {} was given {given:?}",
                    name(job)
                ));
            }
        }
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
                    "volumes": [{"name": "rec", "hostPath": {"path": "/data/recordings"}}]}}}
        }))
    }

    fn expected_volume() -> RecordingsVolume {
        RecordingsVolume::HostPath {
            path: "/data/recordings".into(),
        }
    }

    fn bound(s: &str) -> MemoryBound {
        MemoryBound::parse(s).expect("bound")
    }

    #[test]
    fn the_required_template_passes_every_check() {
        let j = stream_job();
        assert!(job_policy(&j, 0, 120).is_empty());
        assert!(stream_template(&j).is_empty());
        assert!(gpu_slice(&j).is_empty());
        assert!(memory(&j, &bound("4Gi"), &bound("4Gi")).is_empty());
        assert!(memory(&j, &bound("1Gi..4Gi"), &bound("4096Mi")).is_empty());
        assert!(recordings_storage(&j, &expected_volume()).is_empty());
    }

    /// The old checks passed any memory and any volume at the mount path (an emptyDir).
    #[test]
    fn other_values_than_the_profile_states_fail() {
        let j = stream_job();
        let v = memory(&j, &bound("2Gi"), &bound("8Gi..32Gi"));
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("requests 4Gi, expected 2Gi"), "{v:?}");
        let pvc = RecordingsVolume::Pvc {
            claim: "recordings".into(),
        };
        assert_eq!(recordings_storage(&j, &pvc).len(), 1);
        let mut e = stream_job();
        let spec = e
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
            .expect("spec");
        spec.volumes = Some(vec![
            serde_json::from_value(serde_json::json!({"name": "rec", "emptyDir": {}}))
                .expect("volume"),
        ]);
        let v = recordings_storage(&e, &expected_volume());
        assert!(v[0].contains("neither a hostPath nor a PVC"), "{v:?}");
    }

    #[test]
    fn memory_bounds_parse() {
        assert!(MemoryBound::parse("1Gi..32Gi").is_ok());
        assert!(MemoryBound::parse("4Gi..1Gi").is_err());
        assert!(MemoryBound::parse("lots").is_err());
        assert_eq!(memory_bytes("1.5Ki"), Some(1536.0));
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
        assert_eq!(memory(&j, &bound("4Gi"), &bound("4Gi")).len(), 2);
        assert_eq!(recordings_storage(&j, &expected_volume()).len(), 1);
        assert!(job_policy(&j, 0, 10)[0].contains("ttlSecondsAfterFinished"));
    }
}

#[cfg(test)]
mod metadata_resources_tests {
    use serde_json::json;

    use super::*;

    fn job() -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": "grpc-job-1-1"}, "spec": {"template": {"spec": {
            "containers": [{"name": "grpc", "resources": {
                "requests": {"nvidia.com/gpu.shared": "1", "memory": "2Gi"},
                "limits": {"nvidia.com/gpu.shared": "1", "memory": "2Gi"}}}]}}}}),
        )
        .expect("job")
    }

    #[test]
    fn what_the_job_holds_in_any_unit_agrees() {
        let m = json!({"resources": {
            "requests": {"nvidia.com/gpu.shared": 1, "memory": "2048Mi"},
            "limits": {"nvidia.com/gpu.shared": "1", "memory": "2Gi"}}});
        assert_eq!(metadata_resources(&job(), &m), Vec::<String>::new());
    }

    #[test]
    fn another_amount_or_a_missing_report_disagrees() {
        let m = json!({"resources": {
            "requests": {"nvidia.com/gpu.shared": "2", "memory": "1Gi"},
            "limits": {"memory": "2Gi"}}});
        assert_eq!(metadata_resources(&job(), &m).len(), 3);
        assert_eq!(metadata_resources(&job(), &json!({})).len(), 1);
    }
}
