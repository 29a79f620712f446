//! Sandbox::start with kube-sim: investigations through HTTP, checked through kube-rs.

mod common;

use common::{Harness, live, options};
use focus_sandbox::{Defect, SandboxOptions, ServerConfig, ServerProfile};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Service;
use kube::api::PostParams;
use serde_json::json;

#[tokio::test]
async fn a_live_investigation_creates_its_three_objects() {
    let h = Harness::start(options()).await;
    let (status, body) = h.configure(&live()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Config received");
    let job_id = body["job_id"].as_str().expect("job_id").to_owned();
    assert!(job_id.starts_with("1-"), "{job_id}");
    assert_eq!(body["stream_port"], 12301);
    let url = body["stream_url"].as_str().expect("stream_url");
    let ip: std::net::Ipv4Addr = url.trim_start_matches("http://").parse().expect("an IP");
    assert!(h.sandbox.sim().expect("sim").node_ips().contains(&ip));
    assert_eq!(body["channel_amount"], 50);
    assert_eq!(body["stream_amount"], 3);
    assert_eq!(body["view_type"], 0);
    assert_eq!(
        body["frequencies_amount"].as_u64(),
        body["frequencies_list"].as_array().map(|l| l.len() as u64)
    );

    let job = h
        .jobs()
        .get(&format!("grpc-job-{job_id}"))
        .await
        .expect("grpc job");
    let spec = job.spec.expect("spec");
    assert_eq!(spec.backoff_limit, Some(0));
    assert_eq!(spec.ttl_seconds_after_finished, Some(120));
    let pod_spec = spec.template.spec.expect("pod spec");
    let c = &pod_spec.containers[0];
    let res = c.resources.clone().expect("resources");
    let limits = res.limits.expect("limits");
    assert_eq!(
        limits.get("nvidia.com/gpu.shared").map(|q| q.0.as_str()),
        Some("1")
    );
    assert!(limits.contains_key("memory"));
    assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(5000));
    assert_eq!(
        c.volume_mounts.as_ref().map(|m| m[0].mount_path.as_str()),
        Some("/prisma/root/recordings")
    );
    let cleanup = h
        .jobs()
        .get(&format!("cleanup-job-{job_id}"))
        .await
        .expect("cleanup job");
    assert_eq!(
        cleanup
            .spec
            .as_ref()
            .and_then(|s| s.ttl_seconds_after_finished),
        Some(10)
    );
    let svc = h
        .services()
        .get(&format!("grpc-service-{job_id}"))
        .await
        .expect("service");
    let sspec = svc.spec.expect("spec");
    assert_eq!(sspec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        sspec.ports.as_ref().and_then(|p| p[0].node_port),
        Some(12301)
    );
    assert_eq!(
        sspec
            .selector
            .as_ref()
            .and_then(|s| s.get("app"))
            .map(String::as_str),
        Some(format!("grpc-job-{job_id}").as_str())
    );

    let pod = h.pod_running(&job_id).await;
    let args = pod
        .spec
        .and_then(|s| s.containers[0].args.clone())
        .unwrap_or_default();
    assert!(
        !args.contains(&"--time-start".to_owned()),
        "live pods have no time window"
    );

    // Metadata reports the same fields plus job status and the configuration.
    let (status, meta) = h
        .send(reqwest::Method::GET, &format!("/metadata/{job_id}"), None)
        .await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["stream_port"], 12301);
    assert_eq!(meta["job_status"], "running");
    assert_eq!(meta["configuration"], live());

    // Cancel: 200, then 404 for the same id, and everything is gone.
    let (status, c) = h
        .send(reqwest::Method::DELETE, &format!("/job/{job_id}"), None)
        .await;
    assert_eq!(
        (status, c),
        (200, json!({"job_id": job_id, "status": "cancelled"}))
    );
    let (status, _) = h
        .send(reqwest::Method::DELETE, &format!("/job/{job_id}"), None)
        .await;
    assert_eq!(status, 404);
    h.gone(&job_id).await;
    let (status, _) = h
        .send(reqwest::Method::GET, &format!("/metadata/{job_id}"), None)
        .await;
    assert_eq!(status, 404);

    // The slot is free again; seq never repeats.
    let (status, next) = h.configure(&live()).await;
    assert_eq!(status, 200);
    let next_id = next["job_id"].as_str().expect("id");
    assert!(next_id.starts_with("1-") && next_id != job_id, "{next_id}");
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn historic_pods_carry_the_time_window() {
    let h = Harness::start(options()).await;
    let now = Timestamp::now().as_second();
    let mut body = live();
    body["start_time"] = json!(now - 600);
    body["end_time"] = json!(now - 60);
    let (status, resp) = h.configure(&body).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp["metadata"].is_object());
    let job_id = resp["job_id"].as_str().expect("id");
    let job = h
        .jobs()
        .get(&format!("grpc-job-{job_id}"))
        .await
        .expect("job");
    let args = job
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers[0].args.clone())
        .unwrap_or_default();
    let start = (now - 600).to_string();
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--time-start" && w[1] == start),
        "{args:?}"
    );
    assert!(args.contains(&"--time-end".to_owned()));
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_taken_node_port_is_skipped_and_rejections_leave_nothing() {
    let h = Harness::start(options()).await;
    // Someone else's Service holds 12301.
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
    let (status, body) = h.configure(&live()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stream_port"], 12302);
    assert!(body["job_id"].as_str().is_some_and(|j| j.starts_with("2-")));

    let before = h.names().await;
    let mut bad = live();
    bad["nfftSelection"] = json!(1000);
    assert_eq!(h.configure(&bad).await.0, 400);
    assert_eq!(
        h.names().await,
        before,
        "a rejected request creates nothing"
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn as_observed_a_taken_port_breaks_the_job() {
    let h = Harness::start(SandboxOptions {
        profile: ServerProfile::AsObserved,
        ..options()
    })
    .await;
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
    let (status, body) = h.configure(&live()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "");
    let job_id = body["job_id"].as_str().expect("id");
    assert_eq!(body["stream_port"], 12301);
    assert!(
        h.jobs()
            .get_opt(&format!("grpc-job-{job_id}"))
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        h.services()
            .get_opt(&format!("grpc-service-{job_id}"))
            .await
            .expect("get")
            .is_none()
    );
    // No CPU/memory resources as observed.
    let job = h
        .jobs()
        .get(&format!("grpc-job-{job_id}"))
        .await
        .expect("job");
    let limits = job
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers[0].resources.clone())
        .and_then(|r| r.limits)
        .unwrap_or_default();
    assert!(!limits.contains_key("memory") && limits.contains_key("nvidia.com/gpu.shared"));
    // Metadata 404 and no DELETE route.
    assert_eq!(
        h.send(reqwest::Method::GET, &format!("/metadata/{job_id}"), None)
            .await,
        (404, json!({"error": "Invalid job_id"}))
    );
    assert_eq!(
        h.send(reqwest::Method::DELETE, &format!("/job/{job_id}"), None)
            .await,
        (404, json!({"detail": "Not Found"}))
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn no_free_slot_is_503_and_leaves_nothing() {
    let h = Harness::start(SandboxOptions {
        server: ServerConfig {
            max_slots: 3,
            ..ServerConfig::default()
        },
        ..options()
    })
    .await;
    let mut ports = Vec::new();
    for _ in 0..3 {
        let (status, body) = h.configure(&live()).await;
        assert_eq!(status, 200, "{body}");
        ports.push(body["stream_port"].as_u64().expect("port"));
    }
    assert_eq!(ports, vec![12301, 12302, 12303]);
    let before = h.names().await;
    let (status, body) = h.configure(&live()).await;
    assert_eq!(status, 503);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("No free stream port")
    );
    assert_eq!(h.names().await, before);
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn https_with_prefix() {
    let h = Harness::start(SandboxOptions {
        tls: true,
        prefix: Some("/focus-server".into()),
        ..options()
    })
    .await;
    let url = h.sandbox.api_url();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/focus-server"),
        "{url}"
    );
    assert_eq!(h.send(reqwest::Method::GET, "/ack", None).await.0, 200);
    // A client that trusts exactly the generated certificate verifies it.
    let pem = h.sandbox.cert_pem().expect("certificate");
    let cert = reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem");
    let strict = reqwest::Client::builder()
        .tls_certs_only([cert])
        .build()
        .expect("client");
    let resp = strict
        .get(format!("{url}/ack"))
        .send()
        .await
        .expect("verified TLS");
    assert_eq!(resp.status().as_u16(), 200);
    // One that trusts nothing refuses it: the certificate is self-signed.
    assert!(
        reqwest::Client::new()
            .get(format!("{url}/ack"))
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        h.send(reqwest::Method::GET, "/channels", None).await,
        (200, json!({"lowest_channel": 1, "highest_channel": 2337}))
    );
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn defects_reach_the_cluster() {
    let h = Harness::start(SandboxOptions {
        defects: vec![
            Defect::NoGpuRequest,
            Defect::WrongStreamUrl,
            Defect::DuplicatePorts,
        ],
        ..options()
    })
    .await;
    let (_, a) = h.configure(&live()).await;
    let (_, b) = h.configure(&live()).await;
    assert_eq!(a["stream_port"], b["stream_port"], "duplicate-ports");
    assert_eq!(a["stream_url"], "http://192.0.2.10");
    let job_id = b["job_id"].as_str().expect("id");
    let job = h
        .jobs()
        .get(&format!("grpc-job-{job_id}"))
        .await
        .expect("job");
    let limits = job
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers[0].resources.clone())
        .and_then(|r| r.limits)
        .unwrap_or_default();
    assert!(!limits.contains_key("nvidia.com/gpu.shared"));
    h.sandbox.shutdown().await;
}

#[test]
fn sim_annotations_match_kube_sim() {
    use focus_sandbox::manifests::sim;
    assert_eq!(sim::IMAGE_PULL_ERROR, kube_sim::ANNOTATION_IMAGE_PULL_ERROR);
    assert_eq!(sim::RUN_FOR, kube_sim::ANNOTATION_RUN_FOR);
    assert_eq!(sim::EXIT_CODE, kube_sim::ANNOTATION_EXIT_CODE);
    assert_eq!(sim::OOM_KILLED, kube_sim::ANNOTATION_OOM_KILLED);
    assert_eq!(sim::CONNECTIONS, kube_sim::ANNOTATION_CONNECTIONS);
}

#[tokio::test]
async fn stream_url_names_only_ready_nodes() {
    use k8s_openapi::api::core::v1::Node;
    let h = Harness::start(options()).await;
    let sim = h.sandbox.sim().expect("sim");
    for n in 2..=4 {
        sim.set_node_ready(&format!("sim-node-{n}"), false)
            .expect("not ready");
    }
    let node: Node = kube::Api::all(h.kube.clone())
        .get("sim-node-1")
        .await
        .expect("node");
    let ip = node
        .status
        .and_then(|s| s.addresses)
        .and_then(|a| a.into_iter().find(|a| a.type_ == "InternalIP"))
        .map(|a| a.address)
        .expect("InternalIP");
    for _ in 0..4 {
        let body = h.open_live().await;
        assert_eq!(body["stream_url"], format!("http://{ip}"));
    }
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_launch_that_fails_half_way_is_rolled_back() {
    use k8s_openapi::api::core::v1::ResourceQuota;
    let h = Harness::start(options()).await;
    let quotas: kube::Api<ResourceQuota> = kube::Api::namespaced(h.kube.clone(), "panda");
    // One Job allowed: the grpc Job is created, the cleanup Job is refused.
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "one-job"},
        "spec": {"hard": {"count/jobs.batch": "1"}}
    }))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &quota)
        .await
        .expect("quota");
    let (status, body) = h.configure(&live()).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("quota"),
        "{body}"
    );
    h.until("rolled back", || async {
        h.names()
            .await
            .iter()
            .all(|n| n == "panda-panda-focus-server")
    })
    .await;
    assert_eq!(h.sandbox.state().counters_snapshot().rollbacks, 1);
    h.sandbox.shutdown().await;
}

#[tokio::test]
async fn as_observed_accepts_the_listed_invalid_inputs() {
    let h = Harness::start(SandboxOptions {
        profile: ServerProfile::AsObserved,
        ..options()
    })
    .await;
    let now = Timestamp::now().as_second();
    let edits: Vec<(&str, serde_json::Value)> = vec![
        ("height 0", json!({"displayInfo": {"height": 0}})),
        ("height -100", json!({"displayInfo": {"height": -100}})),
        ("nfft 1000", json!({"nfftSelection": 1000})),
        ("nfft 4096", json!({"nfftSelection": 4096})),
        (
            "above Nyquist",
            json!({"frequencyRange": {"min": 0, "max": 1500}}),
        ),
        (
            "frequency min == max",
            json!({"frequencyRange": {"min": 250, "max": 250}}),
        ),
        ("null frequencyRange", json!({"frequencyRange": null})),
        ("null nfftSelection", json!({"nfftSelection": null})),
        ("null duration", json!({"displayTimeAxisDuration": null})),
        (
            "2300 channels",
            json!({"channels": {"min": 1, "max": 2300}}),
        ),
        (
            "singlechannel min != max",
            json!({"view_type": 1, "channels": {"min": 3, "max": 9}}),
        ),
        ("only start_time", json!({"start_time": now - 600})),
        ("only end_time", json!({"end_time": now - 600})),
        (
            "future window",
            json!({"start_time": now + 3600, "end_time": now + 7200}),
        ),
        ("view_type 3", json!({"view_type": 3})),
        (
            "negative channels (PZ-13760)",
            json!({"channels": {"min": -10, "max": 50}}),
        ),
        (
            "negative window (PZ-13759)",
            json!({"start_time": -100, "end_time": -1}),
        ),
        (
            "window tomorrow (PZ-13870)",
            json!({"start_time": now + 86_400, "end_time": now + 86_700}),
        ),
    ];
    for (what, edit) in edits {
        let mut body = live();
        for (k, v) in edit.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, resp) = h.configure(&body).await;
        assert_eq!(status, 200, "{what}: {resp}");
        assert_eq!(resp["status"], "", "{what}");
        assert!(resp["job_id"].is_string(), "{what}");
    }
    h.sandbox.shutdown().await;
}
