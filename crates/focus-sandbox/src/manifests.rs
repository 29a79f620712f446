//! The typed Kubernetes objects of one investigation: `grpc-job-<id>`,
//! `cleanup-job-<id>` and `grpc-service-<id>` (named by [`crate::names`]), as the real
//! server's templates.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HostPathVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::names::{JobId, cleanup_job_name, grpc_job_name, grpc_service_name};
use crate::validation::Mode;

/// The container port of the processing pod.
pub const GRPC_PORT: i32 = 5000;
/// Where the recordings volume is mounted.
pub const RECORDINGS_MOUNT: &str = "/prisma/root/recordings";
/// The GPU slice resource.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu.shared";

/// Annotations the sandbox keeps on the processing Job, so that metadata survives a restart.
pub mod annotations {
    /// The configure request as received (JSON).
    pub const CONFIGURATION: &str = "focus-sandbox/configuration";
    /// The `stream_url` handed out.
    pub const STREAM_URL: &str = "focus-sandbox/stream-url";
}

/// kube-sim's per-object annotations (only set when `sim_conventions` is on; the
/// values are checked against kube-sim's own constants in the sandbox tests).
pub mod sim {
    /// Pod: image pull fails (`"true"` or a message); the pod stays Pending with ErrImagePull.
    pub const IMAGE_PULL_ERROR: &str = "kube-sim.focus-scope/image-pull-error";
    /// Pod: run this long after starting, then exit.
    pub const RUN_FOR: &str = "kube-sim.focus-scope/run-for";
    /// Pod: exit with this code when the run ends (non-zero: Failed).
    pub const EXIT_CODE: &str = "kube-sim.focus-scope/exit-code";
    /// Pod: OOMKilled (exit 137) when the run ends.
    pub const OOM_KILLED: &str = "kube-sim.focus-scope/oom-killed";
    /// Node: `"true"` → its pod CIDR has no free address (the CNI refuses new pods).
    pub const POD_CIDR_EXHAUSTED: &str = "kube-sim.focus-scope/pod-cidr-exhausted";
    /// Service: number of TCP connections accepted on its node ports.
    pub const CONNECTIONS: &str = "kube-sim.focus-scope/connections";
}

/// Node label no node carries: a pod selecting it never gets scheduled
/// (the `slow-kubelet` defect; works on any cluster).
pub const NEVER_SCHEDULED_LABEL: &str = "focus-sandbox/slow-kubelet";

/// A failure to inject into the next investigation's pod (kube-sim only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PodFailure {
    /// ErrImagePull / ImagePullBackOff.
    ImagePull,
    /// The container exits non-zero.
    Crash,
    /// The container is OOM-killed.
    Oom,
}

/// Everything the manifests depend on.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// The job id.
    pub id: JobId,
    /// NodePort of the Service (= stream_port).
    pub node_port: u16,
    /// Live or historic window.
    pub mode: Mode,
    /// Processing args (`--roi`, `-sg`, ...), without the time window.
    pub args: Vec<String>,
    /// GPU slice request.
    pub gpu: bool,
    /// Memory request and limit, if any.
    pub memory: Option<String>,
    /// CPU request and limit, if any.
    pub cpu: Option<String>,
    /// Image of the processing container.
    pub image: String,
    /// Image of the cleanup container.
    pub cleanup_image: String,
    /// Seconds the cleanup job waits before checking for a client.
    pub idle_secs: u64,
    /// Raw configure request (stored as an annotation).
    pub configuration: String,
    /// The stream URL handed out.
    pub stream_url: String,
    /// Add kube-sim annotations.
    pub sim_conventions: bool,
    /// Failure to inject into the processing pod (kube-sim only).
    pub pod_failure: Option<PodFailure>,
    /// The processing pod never starts (`slow-kubelet`).
    pub never_start: bool,
    /// Kubernetes' default Job policy instead of the template's (`wrong-job-policy`).
    pub default_job_policy: bool,
    /// Mount the recordings storage (off with `no-recordings-volume`).
    pub recordings_volume: bool,
    /// Create the grpc Job at all (off with `no-stream-job`).
    pub stream_job: bool,
    /// The processing pod names its node (`pinned-node`): the scheduler is bypassed.
    pub node_name: Option<String>,
    /// The cleanup pod exits 1 when its idle time ends (`cleanup-job-fails`, kube-sim).
    pub cleanup_fails: bool,
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(name: &str, lbls: BTreeMap<String, String>, ann: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(lbls),
        annotations: (!ann.is_empty()).then_some(ann),
        ..ObjectMeta::default()
    }
}

fn template_meta(lbls: BTreeMap<String, String>, ann: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        labels: Some(lbls),
        annotations: (!ann.is_empty()).then_some(ann),
        ..ObjectMeta::default()
    }
}

/// The processing Job.
pub fn grpc_job(plan: &JobPlan) -> Job {
    let id = plan.id.to_string();
    let name = grpc_job_name(&id);
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if plan.gpu {
        requests.insert(GPU_RESOURCE.to_owned(), Quantity("1".into()));
        limits.insert(GPU_RESOURCE.to_owned(), Quantity("1".into()));
    }
    if let Some(mem) = &plan.memory {
        requests.insert("memory".to_owned(), Quantity(mem.clone()));
        limits.insert("memory".to_owned(), Quantity(mem.clone()));
    }
    if let Some(cpu) = &plan.cpu {
        requests.insert("cpu".to_owned(), Quantity(cpu.clone()));
        limits.insert("cpu".to_owned(), Quantity(cpu.clone()));
    }
    let mut args = plan.args.clone();
    if let Mode::Historic { start, end } = plan.mode {
        args.extend([
            "--time-start".to_owned(),
            start.to_string(),
            "--time-end".to_owned(),
            end.to_string(),
            "--time-zone".to_owned(),
            crate::catalogue::RECORDING_TZ.to_owned(),
        ]);
    }
    let mut pod_ann = BTreeMap::new();
    if plan.sim_conventions {
        let mut put = |k: &str, v: &str| pod_ann.insert(k.to_owned(), v.to_owned());
        match plan.pod_failure {
            Some(PodFailure::ImagePull) => {
                put(sim::IMAGE_PULL_ERROR, "simulated: image not found");
            }
            Some(PodFailure::Crash) => {
                put(sim::RUN_FOR, "1s");
                put(sim::EXIT_CODE, "1");
            }
            Some(PodFailure::Oom) => {
                put(sim::RUN_FOR, "1s");
                put(sim::OOM_KILLED, "true");
            }
            None => {}
        }
    }
    let job_ann = labels(&[
        (annotations::CONFIGURATION, &plan.configuration),
        (annotations::STREAM_URL, &plan.stream_url),
    ]);
    Job {
        metadata: meta(&name, labels(&[("app", &name)]), job_ann),
        spec: Some(JobSpec {
            backoff_limit: Some(if plan.default_job_policy { 6 } else { 0 }),
            ttl_seconds_after_finished: (!plan.default_job_policy).then_some(120),
            template: PodTemplateSpec {
                metadata: Some(template_meta(labels(&[("app", &name)]), pod_ann)),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    node_selector: plan
                        .never_start
                        .then(|| labels(&[(NEVER_SCHEDULED_LABEL, "never")])),
                    node_name: plan.node_name.clone(),
                    containers: vec![Container {
                        name: "grpc-job".into(),
                        image: Some(plan.image.clone()),
                        // A real cluster runs something that accepts TCP on 5000;
                        // the processing args follow as positional parameters.
                        command: Some(vec![
                            "sh".into(),
                            "-c".into(),
                            format!("exec httpd -f -p {GRPC_PORT}"),
                            "grpc-job".into(),
                        ]),
                        args: Some(args),
                        ports: Some(vec![ContainerPort {
                            name: Some("grpc".into()),
                            container_port: GRPC_PORT,
                            protocol: Some("TCP".into()),
                            ..ContainerPort::default()
                        }]),
                        resources: Some(ResourceRequirements {
                            requests: (!requests.is_empty()).then_some(requests),
                            limits: (!limits.is_empty()).then_some(limits),
                            ..ResourceRequirements::default()
                        }),
                        volume_mounts: plan.recordings_volume.then(|| {
                            vec![VolumeMount {
                                name: "recordings".into(),
                                mount_path: RECORDINGS_MOUNT.into(),
                                ..VolumeMount::default()
                            }]
                        }),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "recordings".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: RECORDINGS_MOUNT.into(),
                            type_: Some("DirectoryOrCreate".into()),
                        }),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The cleanup Job: waits the idle time, then the sandbox removes the investigation
/// unless a client is connected.
pub fn cleanup_job(plan: &JobPlan) -> Job {
    let id = plan.id.to_string();
    let name = cleanup_job_name(&id);
    let mut pod_ann = BTreeMap::new();
    if plan.sim_conventions {
        pod_ann.insert(sim::RUN_FOR.to_owned(), format!("{}s", plan.idle_secs));
        if plan.cleanup_fails {
            pod_ann.insert(sim::EXIT_CODE.to_owned(), "1".to_owned());
        }
    }
    let pod_meta = template_meta(labels(&[("app", &name)]), pod_ann);
    Job {
        metadata: meta(
            &name,
            labels(&[("app", &name), ("focus-sandbox/investigation", &id)]),
            BTreeMap::new(),
        ),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(10),
            template: PodTemplateSpec {
                metadata: Some(pod_meta),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "cleanup".into(),
                        image: Some(plan.cleanup_image.clone()),
                        command: Some(vec![
                            "sh".into(),
                            "-c".into(),
                            format!("sleep {}", plan.idle_secs),
                        ]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

/// The NodePort Service whose nodePort is the stream port.
pub fn grpc_service(plan: &JobPlan) -> Service {
    let id = plan.id.to_string();
    let name = grpc_service_name(&id);
    let app = grpc_job_name(&id);
    Service {
        metadata: meta(&name, labels(&[("app", &app)]), BTreeMap::new()),
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some(labels(&[("app", &app)])),
            ports: Some(vec![ServicePort {
                name: Some("grpc".into()),
                port: GRPC_PORT,
                target_port: Some(IntOrString::Int(GRPC_PORT)),
                node_port: Some(i32::from(plan.node_port)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> JobPlan {
        JobPlan {
            id: JobId { slot: 3, seq: 17 },
            node_port: 12303,
            mode: Mode::Historic {
                start: 100,
                end: 200,
            },
            args: vec!["--roi".into(), "1".into(), "50".into()],
            gpu: true,
            memory: Some("2Gi".into()),
            cpu: None,
            image: "img".into(),
            cleanup_image: "img".into(),
            idle_secs: 50,
            configuration: "{}".into(),
            stream_url: "http://10.0.0.1".into(),
            sim_conventions: true,
            pod_failure: Some(PodFailure::Oom),
            never_start: false,
            default_job_policy: false,
            recordings_volume: true,
            stream_job: true,
            node_name: None,
            cleanup_fails: false,
        }
    }

    #[test]
    fn grpc_job_spec() {
        let job = serde_json::to_value(grpc_job(&plan())).expect("json");
        assert_eq!(job["metadata"]["name"], "grpc-job-3-17");
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 120);
        let t = &job["spec"]["template"];
        assert_eq!(t["metadata"]["labels"]["app"], "grpc-job-3-17");
        assert_eq!(t["metadata"]["annotations"][sim::OOM_KILLED], "true");
        let c = &t["spec"]["containers"][0];
        assert_eq!(c["ports"][0]["containerPort"], 5000);
        assert_eq!(c["resources"]["requests"][GPU_RESOURCE], "1");
        assert_eq!(c["resources"]["limits"][GPU_RESOURCE], "1");
        assert_eq!(c["resources"]["limits"]["memory"], "2Gi");
        assert_eq!(c["volumeMounts"][0]["mountPath"], RECORDINGS_MOUNT);
        let args: Vec<String> = serde_json::from_value(c["args"].clone()).expect("args");
        assert!(
            args.contains(&"--time-start".to_owned()) && args.contains(&"--time-end".to_owned())
        );
    }

    #[test]
    fn cleanup_and_service() {
        let p = plan();
        let cj = serde_json::to_value(cleanup_job(&p)).expect("json");
        assert_eq!(cj["metadata"]["name"], "cleanup-job-3-17");
        assert_eq!(cj["spec"]["ttlSecondsAfterFinished"], 10);
        assert_eq!(cj["spec"]["backoffLimit"], 0);
        let svc = serde_json::to_value(grpc_service(&p)).expect("json");
        assert_eq!(svc["metadata"]["name"], "grpc-service-3-17");
        assert_eq!(svc["spec"]["type"], "NodePort");
        assert_eq!(svc["spec"]["selector"]["app"], "grpc-job-3-17");
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 12303);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 5000);
    }
}
