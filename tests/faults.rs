//! The kubernetes fault driver's live-stream cut: the profile's Deployment is scaled to
//! 0 and back to what it had, through the Kubernetes API (works on a real cluster).

use std::time::Duration;

use focus_sandbox::kube_sim::{KubeSim, SimConfig};
use focus_scope::cluster::Cluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_scaled_to_zero_and_back() {
    let sim = KubeSim::start(SimConfig::fast()).await.expect("kube-sim");
    let dir = tempfile::tempdir().expect("dir");
    let kc = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kc).expect("kubeconfig");
    let cluster = Cluster::connect(Some(&kc), None, "panda", Duration::from_secs(10))
        .await
        .expect("cluster");
    let ns: Api<Namespace> = Api::all(cluster.client());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": "panda"}})).expect("ns"),
    )
    .await
    .expect("namespace");
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), "panda");
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "fiber-ingest"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "fiber-ingest"}},
                 "template": {"metadata": {"labels": {"app": "fiber-ingest"}},
                              "spec": {"containers": [{"name": "ingest", "image": "busybox"}]}}}
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &d)
        .await
        .expect("create");

    assert_eq!(
        cluster
            .scale_deployment("fiber-ingest", 0)
            .await
            .expect("scale down"),
        2
    );
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(0));
    assert_eq!(
        cluster
            .scale_deployment("fiber-ingest", 2)
            .await
            .expect("scale back"),
        0
    );
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(2));
    sim.shutdown().await;
}
