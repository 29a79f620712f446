//! kube-rs 5, unmodified, against kube-sim over HTTP.

mod common;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube_sim::SimConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_pod_reaches_running_via_watch() {
    let (sim, client) = start(SimConfig::fast()).await;
    namespace(&client, "panda").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "panda");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "panda");
    let job = jobs
        .create(&PostParams::default(), &job("grpc-job-1", json!({}), 1))
        .await
        .expect("job created");
    let uid = job.metadata.uid.clone().expect("uid");
    let pod = wait_pod(&pods, "job-name=grpc-job-1", |p| phase(p) == "Running").await;
    let name = pod.metadata.name.clone().expect("name");
    assert!(
        name.starts_with("grpc-job-1-") && name.len() == "grpc-job-1-".len() + 5,
        "{name}"
    );
    let owner = &pod.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Job", uid.as_str(), Some(true))
    );
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod ip");
    assert!(ip.starts_with("10.244."), "{ip}");
    let labels = pod.metadata.labels.clone().expect("labels");
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
    // the Job reports it active and ready
    let ready = await_condition(jobs.clone(), "grpc-job-1", |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref()).and_then(|s| s.ready) == Some(1)
    });
    tokio::time::timeout(WAIT, ready)
        .await
        .expect("ready in time")
        .expect("watch");
    // events: SuccessfulCreate on the Job, Scheduled/Pulled/Created/Started on the pod
    let events: Api<Event> = Api::namespaced(client.clone(), "panda");
    let lp = ListParams::default().fields("involvedObject.name=grpc-job-1,involvedObject.kind=Job");
    let evs = events.list(&lp).await.expect("events");
    assert!(
        evs.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("SuccessfulCreate")
                && e.message.as_deref() == Some(&format!("Created pod: {name}")))
    );
    let pod_events = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .expect("events");
    for reason in ["Scheduled", "Created", "Started"] {
        assert!(
            pod_events
                .items
                .iter()
                .any(|e| e.reason.as_deref() == Some(reason)),
            "{reason}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_for_completes_job_and_deleted_pod_fails_it() {
    let (sim, client) = start(SimConfig::fast()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    jobs.create(
        &PostParams::default(),
        &job("cleanup", json!({kube_sim::ANNOTATION_RUN_FOR: "50ms"}), 0),
    )
    .await
    .expect("created");
    let done = await_condition(jobs.clone(), "cleanup", conditions::is_job_completed());
    tokio::time::timeout(WAIT, done)
        .await
        .expect("completes in time")
        .expect("watch");
    let j = jobs.get("cleanup").await.expect("job");
    assert_eq!(j.status.as_ref().and_then(|s| s.succeeded), Some(1));

    jobs.create(&PostParams::default(), &job("victim", json!({}), 0))
        .await
        .expect("created");
    let p = wait_pod(&pods, "job-name=victim", |p| phase(p) == "Running").await;
    pods.delete(
        p.metadata.name.as_deref().expect("name"),
        &DeleteParams::default(),
    )
    .await
    .expect("deleted");
    let failed = await_condition(jobs.clone(), "victim", |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Failed" && c.status == "True"))
    });
    tokio::time::timeout(WAIT, failed)
        .await
        .expect("fails in time")
        .expect("watch");
    let j = jobs.get("victim").await.expect("job");
    let c = j.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        c.iter()
            .any(|c| c.type_ == "Failed" && c.reason.as_deref() == Some("BackoffLimitExceeded"))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_by_kube() {
    let (sim, client) = start(SimConfig::fast()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    assert!(jobs.get_opt("missing").await.expect("get_opt ok").is_none());
    match jobs.get("missing").await {
        Err(kube::Error::Api(s)) => {
            assert!(s.is_not_found());
            assert_eq!(s.message, "jobs.batch \"missing\" not found");
        }
        other => panic!("{other:?}"),
    }
    jobs.create(&PostParams::default(), &job("dup", json!({}), 0))
        .await
        .expect("first");
    match jobs
        .create(&PostParams::default(), &job("dup", json!({}), 0))
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert!(s.is_already_exists());
            assert_eq!(s.message, "jobs.batch \"dup\" already exists");
        }
        other => panic!("{other:?}"),
    }
    // stale resourceVersion
    let mut j = jobs.get("dup").await.expect("get");
    j.metadata.resource_version = Some("1".into());
    j.metadata
        .labels
        .get_or_insert_default()
        .insert("x".into(), "y".into());
    match jobs.replace("dup", &PostParams::default(), &j).await {
        Err(kube::Error::Api(s)) => assert!(s.is_conflict(), "{s:?}"),
        other => panic!("{other:?}"),
    }
    // NodePort collision
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let svc = |name: &str| -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"type": "NodePort",
            "selector": {"app": name}, "ports": [{"port": 50051, "nodePort": 12301}]}}),
        )
        .expect("svc")
    };
    let s1 = svcs
        .create(&PostParams::default(), &svc("a"))
        .await
        .expect("first service");
    assert_eq!(
        s1.spec.and_then(|s| s.ports).expect("ports")[0].node_port,
        Some(12301)
    );
    match svcs.create(&PostParams::default(), &svc("b")).await {
        Err(kube::Error::Api(s)) => {
            assert!(s.is_invalid());
            assert_eq!(
                s.message,
                "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 12301: provided port is already allocated"
            );
        }
        other => panic!("{other:?}"),
    }
    // namespace must exist
    let other: Api<Job> = Api::namespaced(client.clone(), "nope");
    match other
        .create(&PostParams::default(), &job("x", json!({}), 0))
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert!(s.is_not_found());
            assert_eq!(s.message, "namespaces \"nope\" not found");
        }
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_delete_default_orphans_background_cascades() {
    let (sim, client) = start(SimConfig::fast()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("orph", json!({}), 0))
        .await
        .expect("created");
    let p = wait_pod(&pods, "job-name=orph", |p| phase(p) == "Running").await;
    let pname = p.metadata.name.clone().expect("name");
    jobs.delete("orph", &DeleteParams::default())
        .await
        .expect("deleted");
    assert!(jobs.get_opt("orph").await.expect("get").is_none());
    let p = pods.get(&pname).await.expect("pod kept");
    assert!(p.metadata.owner_references.unwrap_or_default().is_empty());
    assert!(p.metadata.deletion_timestamp.is_none());

    jobs.create(&PostParams::default(), &job("bg", json!({}), 0))
        .await
        .expect("created");
    let p = wait_pod(&pods, "job-name=bg", |p| phase(p) == "Running").await;
    let pname = p.metadata.name.clone().expect("name");
    jobs.delete("bg", &DeleteParams::background())
        .await
        .expect("deleted");
    let gone = await_condition(
        pods.clone(),
        &pname,
        conditions::is_deleted(p.metadata.uid.as_deref().expect("uid")),
    );
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("pod gone in time")
        .expect("watch");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patches_and_apply() {
    let (sim, client) = start(SimConfig::fast()).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("p", json!({}), 0))
        .await
        .expect("created");
    let patched = jobs
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.metadata.labels.expect("labels")["team"], "a");
    let patched = jobs
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Strategic(json!({"metadata": {"annotations": {"k": "v"}}})),
        )
        .await
        .expect("strategic");
    assert_eq!(patched.metadata.annotations.expect("ann")["k"], "v");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::default_namespaced(client.clone());
    let ssa = PatchParams::apply("focus-scope").force();
    let cm = cms
        .patch("cfg", &ssa, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}})))
        .await
        .expect("apply creates");
    assert_eq!(cm.data.expect("data")["a"], "1");
    let cm = cms
        .patch("cfg", &ssa, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"b": "2"}})))
        .await
        .expect("apply updates");
    assert_eq!(cm.data.expect("data")["b"], "2");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_collection_and_metadata_api() {
    let (sim, client) = start(SimConfig::fast()).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for i in 0..3 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("m-{i}"), json!({}), 0),
        )
        .await
        .expect("created");
    }
    let meta = pods
        .list_metadata(&ListParams::default())
        .await
        .expect("metadata list");
    assert_eq!(meta.items.len(), 3);
    let one = pods.get_metadata("m-0").await.expect("metadata get");
    assert_eq!(one.metadata.name.as_deref(), Some("m-0"));
    let lp = ListParams::default().labels("app=m-1");
    pods.delete_collection(&DeleteParams::default(), &lp)
        .await
        .expect("delete collection");
    let left = pods.list(&ListParams::default()).await.expect("list");
    let names: Vec<_> = left
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, vec!["m-0".to_string(), "m-2".to_string()]);
    sim.shutdown().await;
}

#[test]
fn detached_instance_serves_a_blocking_caller() {
    let sim = kube_sim::KubeSim::start_detached(SimConfig::fast()).expect("detached start");
    // a current-thread runtime that blocks between requests must not stall the server
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = kube::Client::try_from(kube::Config::new(sim.url().parse().expect("url")))
            .expect("client");
        let jobs: Api<Job> = Api::default_namespaced(client.clone());
        jobs.create(&PostParams::default(), &job("detached", json!({}), 0))
            .await
            .expect("created");
        std::thread::sleep(std::time::Duration::from_millis(50));
        let pods: Api<Pod> = Api::default_namespaced(client);
        wait_pod(&pods, "job-name=detached", |p| phase(p) == "Running").await;
    });
    assert!(
        sim.request_log()
            .iter()
            .any(|r| r.verb == "create" && r.resource == "jobs")
    );
    sim.shutdown();
}

/// A delete whose `preconditions.uid` names another object (the name was reused)
/// answers 409 Conflict and deletes nothing, as the real API server does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_a_stale_uid_precondition_is_a_conflict() {
    let (sim, client) = start(SimConfig::fast()).await;
    namespace(&client, "panda").await;
    let services: Api<Service> = Api::namespaced(client.clone(), "panda");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "grpc-service-1-1"},
        "spec": {"ports": [{"port": 5000}]}
    }))
    .expect("service");
    let created = services
        .create(&PostParams::default(), &svc)
        .await
        .expect("create");
    let stale = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("uid-of-an-object-long-gone".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match services.delete("grpc-service-1-1", &stale).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("expected 409 Conflict, got {other:?}"),
    }
    assert!(
        services
            .get_opt("grpc-service-1-1")
            .await
            .expect("get")
            .is_some(),
        "nothing is deleted on a failed precondition"
    );
    let current = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    services
        .delete("grpc-service-1-1", &current)
        .await
        .expect("the object's own uid deletes it");
    sim.shutdown().await;
}
