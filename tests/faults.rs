//! The kubernetes fault driver through the Kubernetes API (works on a real cluster):
//! the live-stream cut (the profile's Deployment scaled to 0 and back to what it had),
//! and cordoning every node (and only uncordoning what the run cordoned, also after a
//! crash, by the run's label).

mod support;

use std::time::Duration;

use focus_scope::target::kube::EventSubject;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::PostParams;
use support::{create_panda_namespace, simulated_cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_scaled_to_zero_and_back() {
    let (sim, cluster, client, _dir) = simulated_cluster().await;
    create_panda_namespace(&client).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "panda");
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
            .deployment_replicas("fiber-ingest")
            .await
            .expect("replicas"),
        2
    );
    cluster
        .scale_deployment_for_run("fiber-ingest", 0, 2, "run-a")
        .await
        .expect("scale down");
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(0));
    let marked = deployments.get("fiber-ingest").await.expect("deployment");
    assert_eq!(
        marked
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(focus_scope::target::names::ORIGINAL_REPLICAS))
            .map(String::as_str),
        Some("2"),
        "the scaled Deployment says what it had"
    );
    // Another run's undo leaves it alone; this run's restores it and removes the mark.
    cluster
        .restore_deployment_scale("fiber-ingest", 2, "run-b")
        .await
        .expect("another run's undo");
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(0));
    cluster
        .restore_deployment_scale("fiber-ingest", 2, "run-a")
        .await
        .expect("scale back");
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(2));
    // Scaled back is not serving yet: the undo waits for its pods to be available.
    cluster
        .until_deployment_available("fiber-ingest", 2, Duration::from_secs(20))
        .await
        .expect("the restored Deployment's replicas become available");
    let restored = deployments.get("fiber-ingest").await.expect("deployment");
    assert!(
        restored
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key(focus_scope::target::names::ORIGINAL_REPLICAS)),
        "the mark is removed"
    );
    // With the ledger lost, the run's label and annotation alone restore it (cleanup
    // from a mirror); another run's label finds nothing to do.
    cluster
        .scale_deployment_for_run("fiber-ingest", 0, 2, "run-a")
        .await
        .expect("scale down again");
    let other = cluster
        .restore_labelled_deployment("fiber-ingest", "run-b")
        .await
        .expect("another run's sweep");
    assert_eq!(other, None);
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(0));
    let done = cluster
        .restore_labelled_deployment("fiber-ingest", "run-a")
        .await
        .expect("this run's sweep");
    assert!(done.is_some_and(|d| d.contains("scaled back to 2")));
    let now = deployments.get_scale("fiber-ingest").await.expect("scale");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(2));
    sim.shutdown().await;
}

fn unschedulable(n: &k8s_openapi::api::core::v1::Node) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_takes_only_schedulable_nodes_and_the_run_label_finds_them_again() {
    use k8s_openapi::api::core::v1::Node;
    use kube::api::{ListParams, Patch, PatchParams};
    let (sim, cluster, client, _dir) = simulated_cluster().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let mut names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    // Someone else cordoned one node before the run.
    let theirs = names[0].clone();
    nodes
        .patch(
            &theirs,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .expect("cordon theirs");

    let mut listed = cluster.schedulable_nodes().await.expect("schedulable");
    listed.sort();
    assert_eq!(listed, names[1..].to_vec(), "only the schedulable nodes");
    // Between the run's listing and its cordon, another operator cordons one of them:
    // that cordon is theirs, and the run's undo must leave it.
    let late = names[1].clone();
    nodes
        .patch(
            &late,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
        )
        .await
        .expect("cordon late");
    cluster.cordon(&listed, "run-a").await.expect("cordon");
    let ours: Vec<String> = listed.iter().filter(|n| **n != late).cloned().collect();
    let theirs_all = [theirs.clone(), late.clone()];
    for n in nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
    {
        assert!(unschedulable(&n), "{:?} is cordoned", n.metadata.name);
        let labelled = n
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(focus_scope::target::names::RUN_LABEL))
            .cloned();
        let expected = n
            .metadata
            .name
            .as_ref()
            .is_some_and(|m| !theirs_all.contains(m))
            .then(|| "run-a".to_string());
        assert_eq!(labelled, expected, "{:?}", n.metadata.name);
    }

    // Another run's label finds nothing; the crashed run's label finds exactly its nodes.
    assert!(
        cluster
            .uncordon_labelled("run-b")
            .await
            .expect("other run")
            .is_empty()
    );
    let mut undone = cluster.uncordon_labelled("run-a").await.expect("uncordon");
    undone.sort();
    assert_eq!(undone, ours);
    for n in nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
    {
        let name = n.metadata.name.clone().unwrap_or_default();
        assert_eq!(unschedulable(&n), theirs_all.contains(&name), "{name}");
        assert!(
            n.metadata
                .labels
                .as_ref()
                .is_none_or(|l| !l.contains_key(focus_scope::target::names::RUN_LABEL)),
            "{name} carries no run label any more"
        );
    }
    sim.shutdown().await;
}

/// An event about `name` (of `kind`, with `uid`) saying `message`.
fn event(n: usize, kind: &str, name: &str, uid: &str, reason: &str, message: &str) -> Event {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("ev-{n}"), "namespace": "panda"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "panda", "uid": uid},
        "reason": reason, "message": message, "type": "Warning"
    }))
    .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_wait_takes_only_events_about_the_object_itself() {
    let (_sim, cluster, client, _dir) = simulated_cluster().await;
    create_panda_namespace(&client).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "panda");
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "grpc-job-1-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                 "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .expect("job");
    let uid = jobs
        .create(&PostParams::default(), &job)
        .await
        .expect("create")
        .metadata
        .uid
        .expect("uid");
    let events: Api<Event> = Api::namespaced(client.clone(), "panda");
    let pp = PostParams::default();
    // A namesake by prefix, and an earlier Job of the same name: neither counts.
    for e in [
        event(
            1,
            "Job",
            "grpc-job-1-10",
            "another",
            "FailedCreate",
            "namesake",
        ),
        event(
            2,
            "Job",
            "grpc-job-1-1",
            "an-earlier-job",
            "FailedCreate",
            "stale",
        ),
        event(
            3,
            "Pod",
            "grpc-job-1-10-abcde",
            "a-pod",
            "FailedScheduling",
            "namesake pod",
        ),
    ] {
        events.create(&pp, &e).await.expect("event");
    }
    let short = Duration::from_secs(2);
    let got = cluster
        .wait_event(EventSubject::Job("grpc-job-1-1"), "FailedCreate", short)
        .await;
    assert!(got.is_err(), "took an event of another object: {got:?}");
    let got = cluster
        .wait_event(
            EventSubject::PodsOfJob("grpc-job-1-1"),
            "FailedScheduling",
            short,
        )
        .await;
    assert!(got.is_err(), "took an event of another pod: {got:?}");

    events
        .create(
            &pp,
            &event(4, "Job", "grpc-job-1-1", &uid, "FailedCreate", "mine"),
        )
        .await
        .expect("event");
    let got = cluster
        .wait_event(EventSubject::Job("grpc-job-1-1"), "FailedCreate", short)
        .await
        .expect("the Job's own event");
    assert_eq!(got, "mine");
}
