//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use kube_sim::{KubeSim, SimConfig};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(20);

pub async fn start(config: SimConfig) -> (KubeSim, Client) {
    let sim = KubeSim::start(config).await.expect("kube-sim starts");
    let mut cfg = Config::new(sim.url().parse().expect("url"));
    cfg.default_namespace = "default".into();
    let client = Client::try_from(cfg).expect("client");
    (sim, client)
}

pub async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

pub fn job(name: &str, annotations: serde_json::Value, gpus: u32) -> Job {
    let mut resources = json!({});
    if gpus > 0 {
        resources = json!({"limits": {"nvidia.com/gpu.shared": gpus.to_string()}});
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "main", "image": "registry.local/grpc:1.0", "resources": resources}]}}}
    }))
    .expect("job")
}

pub fn pod(name: &str, annotations: serde_json::Value, gpus: u32) -> Pod {
    let mut resources = json!({});
    if gpus > 0 {
        resources = json!({"limits": {"nvidia.com/gpu.shared": gpus.to_string()}});
    }
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations, "labels": {"app": name}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "registry.local/grpc:1.0", "resources": resources}]}
    }))
    .expect("pod")
}

/// Wait (watch, with a deadline) until a pod matching `labels` satisfies `cond`.
pub async fn wait_pod(api: &Api<Pod>, labels: &str, cond: impl Fn(&Pod) -> bool) -> Pod {
    let stream = watcher(api.clone(), watcher::Config::default().labels(labels));
    let fut = async {
        let mut s = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
        while let Some(p) = s.try_next().await.expect("watch works") {
            if cond(&p) {
                return p;
            }
        }
        panic!("watch ended");
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("pod condition within deadline")
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Collect watch events until `pred` holds or timeout.
pub async fn events_until<K, F>(api: &Api<K>, pred: F)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: Fn(&[K]) -> bool,
{
    let fut = async {
        loop {
            let list = api.list(&Default::default()).await.expect("list");
            if pred(&list.items) {
                return;
            }
            let mut w = std::pin::pin!(
                api.watch(
                    &Default::default(),
                    &list.metadata.resource_version.unwrap_or_default()
                )
                .await
                .expect("watch")
                .boxed()
            );
            // one change, then re-evaluate
            let _ = w.next().await;
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("condition within deadline");
}
