//! Pod lifecycle annotations, Job deadlines and TTL, foreground and namespace deletion.

mod common;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube_sim::SimConfig;
use serde_json::json;

fn terminated(p: &Pod) -> Option<(i32, String)> {
    let s = p.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let t = s.state.as_ref()?.terminated.as_ref()?;
    Some((t.exit_code, t.reason.clone().unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_choose_the_pod_fate() {
    let (sim, client) = start(SimConfig::fast()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let make = |name: &str, ann: serde_json::Value| pod(name, ann, 0);
    pods.create(
        &PostParams::default(),
        &make(
            "pull",
            json!({kube_sim::ANNOTATION_IMAGE_PULL_ERROR: "true"}),
        ),
    )
    .await
    .expect("c");
    pods.create(
        &PostParams::default(),
        &make(
            "crash",
            json!({kube_sim::ANNOTATION_EXIT_CODE: "3", kube_sim::ANNOTATION_RUN_FOR: "20ms"}),
        ),
    )
    .await
    .expect("c");
    pods.create(
        &PostParams::default(),
        &make("oom", json!({kube_sim::ANNOTATION_OOM_KILLED: "true"})),
    )
    .await
    .expect("c");
    pods.create(
        &PostParams::default(),
        &make("lazy", json!({kube_sim::ANNOTATION_NEVER_READY: "true"})),
    )
    .await
    .expect("c");
    pods.create(
        &PostParams::default(),
        &make("done", json!({kube_sim::ANNOTATION_RUN_FOR: "20ms"})),
    )
    .await
    .expect("c");

    let p = wait_pod(&pods, "app=pull", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("ErrImagePull")
    })
    .await;
    assert_eq!(phase(&p), "Pending");
    let p = wait_pod(&pods, "app=crash", |p| phase(p) == "Failed").await;
    assert_eq!(terminated(&p), Some((3, "Error".to_string())));
    let p = wait_pod(&pods, "app=oom", |p| phase(p) == "Failed").await;
    assert_eq!(terminated(&p), Some((137, "OOMKilled".to_string())));
    let p = wait_pod(&pods, "app=done", |p| phase(p) == "Succeeded").await;
    assert_eq!(terminated(&p), Some((0, "Completed".to_string())));
    let p = wait_pod(&pods, "app=lazy", |p| phase(p) == "Running").await;
    let ready = p
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready");
    assert_eq!(ready.map(|c| c.status), Some("False".to_string()));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_fails_job_and_ttl_deletes_it() {
    let (sim, client) = start(SimConfig::fast()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let mut j = job("slow", json!({}), 0);
    if let Some(spec) = j.spec.as_mut() {
        spec.active_deadline_seconds = Some(1);
    }
    jobs.create(&PostParams::default(), &j)
        .await
        .expect("created");
    let failed = await_condition(jobs.clone(), "slow", |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Failed" && c.reason.as_deref() == Some("DeadlineExceeded"))
            })
    });
    tokio::time::timeout(WAIT, failed)
        .await
        .expect("deadline in time")
        .expect("watch");

    let mut j = job("short", json!({kube_sim::ANNOTATION_RUN_FOR: "10ms"}), 0);
    if let Some(spec) = j.spec.as_mut() {
        spec.ttl_seconds_after_finished = Some(0);
    }
    let created = jobs
        .create(&PostParams::default(), &j)
        .await
        .expect("created");
    let gone = await_condition(
        jobs.clone(),
        "short",
        conditions::is_deleted(created.metadata.uid.as_deref().expect("uid")),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("ttl in time")
        .expect("watch");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_and_namespace_deletion() {
    let (sim, client) = start(SimConfig::fast()).await;
    namespace(&client, "scratch").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "scratch");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "scratch");
    let created = jobs
        .create(&PostParams::default(), &job("fg", json!({}), 0))
        .await
        .expect("created");
    wait_pod(&pods, "job-name=fg", |p| phase(p) == "Running").await;
    let r = jobs
        .delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    assert!(
        r.left()
            .is_some_and(|j| j.metadata.deletion_timestamp.is_some()),
        "pending foreground delete returns the object"
    );
    let gone = await_condition(
        jobs.clone(),
        "fg",
        conditions::is_deleted(created.metadata.uid.as_deref().expect("uid")),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("foreground done")
        .expect("watch");
    assert!(
        pods.list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );

    jobs.create(&PostParams::default(), &job("in-ns", json!({}), 0))
        .await
        .expect("created");
    wait_pod(&pods, "job-name=in-ns", |p| phase(p) == "Running").await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns = nss.get("scratch").await.expect("ns");
    nss.delete("scratch", &DeleteParams::default())
        .await
        .expect("delete ns");
    let gone = await_condition(
        nss.clone(),
        "scratch",
        conditions::is_deleted(ns.metadata.uid.as_deref().expect("uid")),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("namespace gone")
        .expect("watch");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_node_freezes_its_pods() {
    let (sim, client) = start(SimConfig::fast()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    sim.set_node_ready("sim-node-1", false).expect("not ready");
    // bound directly to the NotReady node (no scheduler involved)
    let mut p = pod("frozen", json!({}), 0);
    if let Some(spec) = p.spec.as_mut() {
        spec.node_name = Some("sim-node-1".into());
    }
    pods.create(&PostParams::default(), &p)
        .await
        .expect("created");
    // a pod on a Ready node reaches Running in the same time, the frozen one does not
    pods.create(&PostParams::default(), &pod("control", json!({}), 0))
        .await
        .expect("created");
    wait_pod(&pods, "app=control", |p| phase(p) == "Running").await;
    let control_node = pods
        .get("control")
        .await
        .expect("pod")
        .spec
        .and_then(|s| s.node_name);
    assert_ne!(control_node.as_deref(), Some("sim-node-1"));
    // give the frozen pod many kubelet delays' worth of events to prove nothing moves
    for i in 0..20 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("tick-{i}"), json!({}), 0),
        )
        .await
        .expect("created");
    }
    wait_pod(&pods, "app=tick-19", |p| phase(p) == "Running").await;
    assert_eq!(phase(&pods.get("frozen").await.expect("pod")), "Pending");
    sim.set_node_ready("sim-node-1", true).expect("ready");
    wait_pod(&pods, "app=frozen", |p| phase(p) == "Running").await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_and_node_loss() {
    let (sim, client) = start(SimConfig::fast()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let p = pods
        .create(&PostParams::default(), &pod("evictee", json!({}), 0))
        .await
        .expect("created");
    wait_pod(&pods, "app=evictee", |p| phase(p) == "Running").await;
    pods.evict("evictee", &Default::default())
        .await
        .expect("evicted");
    let gone = await_condition(
        pods.clone(),
        "evictee",
        conditions::is_deleted(p.metadata.uid.as_deref().expect("uid")),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("evicted pod gone")
        .expect("watch");

    // losing the node of a Job's pod fails that pod (backoffLimit 0 → the Job fails)
    jobs.create(&PostParams::default(), &job("lost", json!({}), 0))
        .await
        .expect("created");
    let p = wait_pod(&pods, "job-name=lost", |p| phase(p) == "Running").await;
    let node = p.spec.and_then(|s| s.node_name).expect("bound");
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    nodes
        .delete(&node, &DeleteParams::default())
        .await
        .expect("node deleted");
    let failed = await_condition(jobs.clone(), "lost", |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref()).and_then(|s| s.failed) == Some(1)
    });
    tokio::time::timeout(WAIT, failed)
        .await
        .expect("pod loss counted")
        .expect("watch");
    sim.shutdown().await;
}
