//! Each cluster-level defect, observed through HTTP and kube-rs (validation defects
//! are covered in `tests/rules.rs`).

mod common;

use std::time::{Duration, Instant};

use common::{Harness, live, options};
use focus_sandbox::{Defect, Sandbox, SandboxOptions, ServerConfig, ServerProfile};
use futures::future::join_all;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{ListParams, PostParams};
use serde_json::json;

fn with(defects: &[Defect], server: ServerConfig) -> SandboxOptions {
    SandboxOptions {
        defects: defects.to_vec(),
        server: ServerConfig {
            idle_timeout_secs: 3600,
            ..server
        },
        ..options()
    }
}

async fn cancel(h: &Harness, id: &str) {
    let (code, body) = h
        .send(reqwest::Method::DELETE, &format!("/job/{id}"), None)
        .await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test]
async fn leak_service_on_cancel() {
    let h = Harness::start(with(
        &[Defect::LeakServiceOnCancel],
        ServerConfig::default(),
    ))
    .await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    cancel(&h, &id).await;
    h.job_gone(&format!("grpc-job-{id}")).await;
    assert!(
        h.services()
            .get_opt(&format!("grpc-service-{id}"))
            .await
            .expect("get")
            .is_some()
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn orphan_pods_on_cancel() {
    let h = Harness::start(with(&[Defect::OrphanPodsOnCancel], ServerConfig::default())).await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.pod_running(&id).await;
    cancel(&h, &id).await;
    h.job_gone(&format!("grpc-job-{id}")).await;
    assert!(!h.grpc_pods(&id).await.is_empty(), "pods orphaned");
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn slot_leak_and_metadata_mismatch() {
    let h = Harness::start(with(
        &[Defect::SlotLeak, Defect::MetadataMismatch],
        ServerConfig::default(),
    ))
    .await;
    let first = h.open_live().await;
    let id = first["job_id"].as_str().expect("id").to_owned();
    let (code, meta) = h
        .send(reqwest::Method::GET, &format!("/metadata/{id}"), None)
        .await;
    assert_eq!(code, 200);
    assert_ne!(meta["stream_port"], first["stream_port"]);
    cancel(&h, &id).await;
    h.job_gone(&format!("grpc-job-{id}")).await;
    h.job_gone(&format!("cleanup-job-{id}")).await;
    h.until("service gone", || async {
        h.services()
            .get_opt(&format!("grpc-service-{id}"))
            .await
            .expect("get")
            .is_none()
    })
    .await;
    let second = h.open_live().await;
    assert_eq!(second["stream_port"], 12302, "slot 1 is never reused");
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn no_memory_limit_and_slow_kubelet() {
    let h = Harness::start(with(
        &[Defect::NoMemoryLimit, Defect::SlowKubelet],
        ServerConfig::default(),
    ))
    .await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let job = h.jobs().get(&format!("grpc-job-{id}")).await.expect("job");
    let spec = job.spec.and_then(|s| s.template.spec).expect("pod spec");
    let limits = spec.containers[0]
        .resources
        .clone()
        .and_then(|r| r.limits)
        .unwrap_or_default();
    assert!(!limits.contains_key("memory"));
    assert!(limits.contains_key("nvidia.com/gpu.shared"));
    h.until("pod unschedulable", || async {
        h.grpc_pods(&id).await.iter().any(|p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                })
        })
    })
    .await;
    assert!(
        h.grpc_pods(&id)
            .await
            .iter()
            .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn ignore_port_busy_breaks_the_job() {
    let h = Harness::start(with(&[Defect::IgnorePortBusy], ServerConfig::default())).await;
    let blocker: Service = serde_json::from_value(json!({
        "metadata": {"name": "port-blocker"},
        "spec": {"type": "NodePort", "selector": {"app": "none"},
                 "ports": [{"port": 80, "targetPort": 80, "nodePort": 12301}]}
    }))
    .expect("service");
    h.services()
        .create(&PostParams::default(), &blocker)
        .await
        .expect("blocker");
    let body = h.open_live().await;
    let id = body["job_id"].as_str().expect("id");
    assert_eq!(body["stream_port"], 12301);
    assert!(
        h.services()
            .get_opt(&format!("grpc-service-{id}"))
            .await
            .expect("get")
            .is_none()
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn fail_after_n_jobs_and_slow_configure() {
    let h = Harness::start(with(
        &[Defect::FailAfterNJobs, Defect::SlowConfigure],
        ServerConfig {
            fail_after_jobs: 2,
            slow_configure_ms: 300,
            ..ServerConfig::default()
        },
    ))
    .await;
    let t = Instant::now();
    h.open_live().await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    h.open_live().await;
    let (code, body) = h.configure(&live()).await;
    assert_eq!(code, 503, "{body}");
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn restart_under_load() {
    let h = Harness::start(with(
        &[Defect::RestartUnderLoad],
        ServerConfig {
            restart_threshold: 2,
            ..ServerConfig::default()
        },
    ))
    .await;
    let pods = h.pods();
    let lp = ListParams::default().labels("app.kubernetes.io/name=panda-panda-focus-server");
    h.until("focus server pod", || async {
        !pods.list(&lp).await.expect("pods").items.is_empty()
    })
    .await;
    let before: Vec<_> = pods
        .list(&lp)
        .await
        .expect("pods")
        .items
        .into_iter()
        .filter_map(|p| p.metadata.uid)
        .collect();
    let body = live();
    let answers = join_all((0..6).map(|_| h.configure(&body))).await;
    assert!(answers.iter().any(|(code, _)| *code == 500), "{answers:?}");
    assert!(h.sandbox.state().counters_snapshot().restarts >= 1);
    h.until("focus server pod replaced", || async {
        let now: Vec<_> = pods
            .list(&lp)
            .await
            .expect("pods")
            .items
            .into_iter()
            .filter_map(|p| p.metadata.uid)
            .collect();
        !now.is_empty() && now.iter().all(|u| !before.contains(u))
    })
    .await;
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn seq_never_repeats_across_a_restart_against_an_existing_cluster() {
    let sim = kube_sim::KubeSim::start(kube_sim::SimConfig::fast())
        .await
        .expect("sim");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&path).expect("kubeconfig");
    let opts = || SandboxOptions {
        kubeconfig: Some(path.clone()),
        profile: ServerProfile::AsRequired,
        ..SandboxOptions::default()
    };
    let first = Sandbox::start(opts()).await.expect("sandbox");
    let http = reqwest::Client::new();
    let open = |url: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{url}/configure"))
                .json(&live())
                .send()
                .await
                .expect("send");
            assert_eq!(r.status().as_u16(), 200);
            r.json::<serde_json::Value>().await.expect("json")["job_id"]
                .as_str()
                .expect("id")
                .to_owned()
        }
    };
    let a = open(first.api_url()).await;
    let r = http
        .delete(format!("{}/job/{a}", first.api_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    // Wait until every object is gone: only the recorded seq remains.
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(first.client(), "panda");
    let services: kube::Api<Service> = kube::Api::namespaced(first.client(), "panda");
    let empty = async {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            let ours = |n: &Option<String>| {
                n.as_deref()
                    .is_some_and(|n| n.starts_with("grpc-") || n.starts_with("cleanup-"))
            };
            let j = jobs
                .list(&ListParams::default())
                .await
                .expect("jobs")
                .items
                .iter()
                .filter(|j| ours(&j.metadata.name))
                .count();
            let s = services
                .list(&ListParams::default())
                .await
                .expect("services")
                .items
                .iter()
                .filter(|s| ours(&s.metadata.name))
                .count();
            if j == 0 && s == 0 {
                return;
            }
        }
    };
    tokio::time::timeout(common::DEADLINE, empty)
        .await
        .expect("objects gone");
    // An existing kube-sim is recognised by its version: the conventions are on.
    assert!(first.state().config().sim_conventions);
    first.shutdown().await;

    let second = Sandbox::start(opts()).await.expect("sandbox");
    let b = open(second.api_url()).await;
    // The Focus Server stand-in is created once, not once per start.
    let pods: kube::Api<Pod> = kube::Api::namespaced(second.client(), "panda");
    let lp = ListParams::default().labels("app.kubernetes.io/name=panda-panda-focus-server");
    let stand_ins = pods.list(&lp).await.expect("pods").items;
    assert!(stand_ins.len() <= 1, "{} stand-in pods", stand_ins.len());
    let seq = |id: &str| {
        id.split('-')
            .nth(1)
            .and_then(|s| s.parse::<u64>().ok())
            .expect("seq")
    };
    assert!(seq(&b) > seq(&a), "{a} then {b}");
    second.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn response_and_route_defects() {
    let h = Harness::start(with(
        &[
            Defect::BadResponseShape,
            Defect::OpenapiDrift,
            Defect::MetadataRouteMissing,
        ],
        ServerConfig::default(),
    ))
    .await;
    let body = h.open_live().await;
    // live(): 30 s over 600 rows.
    assert!((body["lines_dt"].as_f64().expect("lines_dt") - 0.05).abs() > 1e-9);
    let distinct: std::collections::BTreeSet<u64> = body["channel_to_stream_index"]
        .as_object()
        .expect("map")
        .values()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_ne!(body["stream_amount"].as_u64(), Some(distinct.len() as u64));
    let (_, doc) = h.send(reqwest::Method::GET, "/openapi.json", None).await;
    assert!(doc["paths"].get("/job/{job_id}").is_none());
    let id = body["job_id"].as_str().expect("id");
    assert_eq!(
        h.send(reqwest::Method::GET, &format!("/metadata/{id}"), None)
            .await,
        (404, json!({"detail": "Not Found"}))
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn job_template_defects() {
    let h = Harness::start(with(
        &[Defect::WrongJobPolicy, Defect::NoRecordingsVolume],
        ServerConfig::default(),
    ))
    .await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let spec = h
        .jobs()
        .get(&format!("grpc-job-{id}"))
        .await
        .expect("job")
        .spec
        .expect("spec");
    assert_eq!(spec.backoff_limit, Some(6));
    assert_eq!(spec.ttl_seconds_after_finished, None);
    let mounts = spec.template.spec.expect("pod").containers[0]
        .volume_mounts
        .clone();
    assert!(mounts.unwrap_or_default().is_empty());
    h.sandbox.shutdown().await;

    let h = Harness::start(with(&[Defect::NoStreamJob], ServerConfig::default())).await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(
        h.jobs()
            .get_opt(&format!("grpc-job-{id}"))
            .await
            .expect("get")
            .is_none()
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn request_defects() {
    let h = Harness::start(with(
        &[Defect::StrictSchema, Defect::ExclusiveBounds],
        ServerConfig::default(),
    ))
    .await;
    let mut extra = live();
    extra["unknown"] = json!(1);
    assert_eq!(h.configure(&extra).await.0, 422);
    let mut string_view = live();
    string_view["view_type"] = json!("0");
    assert_eq!(h.configure(&string_view).await.0, 422);
    // live() asks for channels 1..50: 1 is the lowest channel, now "at its limit".
    let (code, body) = h.configure(&live()).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("channels")
    );
    h.sandbox.shutdown().await;

    let h = Harness::start(with(
        &[Defect::HistoricLookupBroken],
        ServerConfig::default(),
    ))
    .await;
    let now = jiff::Timestamp::now().as_second();
    let window = json!({"start_time": now - 600, "end_time": now - 60});
    let (code, listed) = h
        .send(
            reqwest::Method::POST,
            "/recordings_in_time_range",
            Some(&window),
        )
        .await;
    assert_eq!(code, 200);
    assert!(!listed.as_array().expect("list").is_empty());
    let mut historic = live();
    historic["start_time"] = window["start_time"].clone();
    historic["end_time"] = window["end_time"].clone();
    assert_eq!(h.configure(&historic).await.0, 404);
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn pinned_node_bypasses_the_scheduler() {
    let h = Harness::start(with(&[Defect::PinnedNode], ServerConfig::default())).await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let spec = h
        .jobs()
        .get(&format!("grpc-job-{id}"))
        .await
        .expect("job")
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec");
    assert!(
        spec.node_name.as_deref().is_some_and(|n| !n.is_empty()),
        "the pod template names its node: {:?}",
        spec.node_name
    );
    h.pod_running(&id).await;
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn no_idle_cleanup_keeps_an_investigation_nobody_connects_to() {
    let h = Harness::start(SandboxOptions {
        defects: vec![Defect::NoIdleCleanup],
        server: ServerConfig {
            idle_timeout_secs: 1,
            ..ServerConfig::default()
        },
        ..options()
    })
    .await;
    let id = h.open_live().await["job_id"]
        .as_str()
        .expect("id")
        .to_owned();
    h.until("idle check done", || async {
        h.sandbox.state().counters_snapshot().idle_kept >= 1
    })
    .await;
    assert_eq!(h.sandbox.state().counters_snapshot().idle_removed, 0);
    assert!(
        h.jobs()
            .get_opt(&format!("grpc-job-{id}"))
            .await
            .expect("get")
            .is_some(),
        "the investigation is still there"
    );
    h.sandbox.shutdown().await;
}
