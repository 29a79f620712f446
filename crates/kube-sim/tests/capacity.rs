//! Capacity realism (issue 3 acceptance): GPU slices, max pods, pod CIDR exhaustion,
//! cordon, quota, and NodePort listeners on two instances side by side.

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, Pod, ResourceQuota, Service};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube_sim::SimConfig;
use kube_sim::config::{NodeDefaults, NodesConfig};
use serde_json::json;

fn shape(nodes: usize, gpus: u32, pods: u32, prefix: u8) -> SimConfig {
    SimConfig {
        nodes: NodesConfig::Count(nodes),
        node_defaults: NodeDefaults {
            pods,
            pod_cidr_prefix: prefix,
            extended: BTreeMap::from([("nvidia.com/gpu.shared".to_string(), gpus.to_string())]),
            ..NodeDefaults::default()
        },
        ..SimConfig::fast()
    }
}

async fn wait_event(events: &Api<Event>, fields: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let lp = ListParams::default().fields(fields);
    let fut = async {
        loop {
            let list = events.list(&lp).await.expect("events");
            if let Some(e) = list.items.into_iter().find(|e| pred(e)) {
                return e;
            }
            let rv = events
                .list(&ListParams::default().limit(1))
                .await
                .expect("rv")
                .metadata
                .resource_version
                .unwrap_or_default();
            let wp = kube::api::WatchParams::default().fields(fields).timeout(5);
            let mut s = std::pin::pin!(events.watch(&wp, &rv).await.expect("watch"));
            let _ = futures::StreamExt::next(&mut s).await;
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("event within deadline")
}

async fn running_count(pods: &Api<Pod>, labels: &str, want: usize) {
    let lp = ListParams::default().labels(labels);
    let fut = async {
        loop {
            let list = pods.list(&lp).await.expect("list");
            let n = list.items.iter().filter(|p| phase(p) == "Running").count();
            if n >= want {
                return;
            }
            let wp = kube::api::WatchParams::default().labels(labels).timeout(5);
            let rv = list.metadata.resource_version.unwrap_or_default();
            let mut s = std::pin::pin!(pods.watch(&wp, &rv).await.expect("watch"));
            let _ = futures::StreamExt::next(&mut s).await;
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("pods running within deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventeenth_gpu_pod_waits_for_a_free_slice() {
    let (sim, client) = start(shape(2, 8, 110, 24)).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let events: Api<Event> = Api::default_namespaced(client.clone());
    for i in 0..16 {
        let mut p = pod(&format!("gpu-{i}"), json!({}), 1);
        p.metadata
            .labels
            .get_or_insert_default()
            .insert("set".to_string(), "gpu".to_string());
        pods.create(&PostParams::default(), &p)
            .await
            .expect("created");
    }
    pods.create(&PostParams::default(), &pod("gpu-16", json!({}), 1))
        .await
        .expect("created");
    let e = wait_event(
        &events,
        "involvedObject.name=gpu-16,reason=FailedScheduling",
        |_| true,
    )
    .await;
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.shared. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        )
    );
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    let p = pods.get("gpu-16").await.expect("pod");
    assert_eq!(phase(&p), "Pending");
    let cond = p.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(cond.iter().any(|c| c.type_ == "PodScheduled"
        && c.status == "False"
        && c.reason.as_deref() == Some("Unschedulable")));
    // gpu-0 finishes (run-for set on a running pod ends it now); gpu-16 gets its slice
    wait_pod(&pods, "app=gpu-0", |p| phase(p) == "Running").await;
    let end_now =
        Patch::Merge(json!({"metadata": {"annotations": {kube_sim::ANNOTATION_RUN_FOR: "0s"}}}));
    pods.patch("gpu-0", &PatchParams::default(), &end_now)
        .await
        .expect("annotated");
    wait_pod(&pods, "app=gpu-16", |p| phase(p) == "Running").await;
    assert_eq!(phase(&pods.get("gpu-0").await.expect("pod")), "Succeeded");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_111_on_one_node_stays_pending() {
    let (sim, client) = start(shape(1, 0, 110, 24)).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let events: Api<Event> = Api::default_namespaced(client.clone());
    for i in 0..111 {
        let mut p = pod(&format!("p-{i}"), json!({}), 0);
        p.metadata.labels = Some(BTreeMap::from([("set".to_string(), "many".to_string())]));
        pods.create(&PostParams::default(), &p)
            .await
            .expect("created");
    }
    let e = wait_event(&events, "reason=FailedScheduling", |_| true).await;
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
    );
    running_count(&pods, "set=many", 110).await;
    let all = pods.list(&ListParams::default()).await.expect("list");
    let unbound: Vec<_> = all
        .items
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_none())
        .collect();
    assert_eq!(unbound.len(), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_27_pod_cidr_exhausts_at_30() {
    let (sim, client) = start(shape(1, 0, 110, 27)).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let events: Api<Event> = Api::default_namespaced(client.clone());
    for i in 0..31 {
        let mut p = pod(&format!("ip-{i}"), json!({}), 0);
        p.metadata.labels = Some(BTreeMap::from([("set".to_string(), "ip".to_string())]));
        pods.create(&PostParams::default(), &p)
            .await
            .expect("created");
    }
    running_count(&pods, "set=ip", 30).await;
    let e = wait_event(&events, "reason=FailedCreatePodSandBox", |_| true).await;
    let msg = e.message.unwrap_or_default();
    assert!(msg.starts_with("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox"), "{msg}");
    assert!(
        msg.ends_with("no IP addresses available in range set: 10.244.0.1-10.244.0.30"),
        "{msg}"
    );
    let list = pods
        .list(&ListParams::default().labels("set=ip"))
        .await
        .expect("list");
    assert_eq!(
        list.items.iter().filter(|p| phase(p) == "Pending").count(),
        1
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordoned_node_gets_no_pods_and_not_ready_node_stalls() {
    let (sim, client) = start(shape(2, 8, 110, 24)).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    nodes
        .patch(
            "sim-node-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .expect("cordon");
    for i in 0..6 {
        let mut p = pod(&format!("c-{i}"), json!({}), 1);
        p.metadata.labels = Some(BTreeMap::from([("set".to_string(), "c".to_string())]));
        pods.create(&PostParams::default(), &p)
            .await
            .expect("created");
    }
    running_count(&pods, "set=c", 6).await;
    let list = pods
        .list(&ListParams::default().labels("set=c"))
        .await
        .expect("list");
    assert!(
        list.items
            .iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("sim-node-2"))
    );
    // a NotReady node: its new pods make no progress
    sim.set_node_ready("sim-node-2", false).expect("not ready");
    pods.create(&PostParams::default(), &pod("stalled", json!({}), 0))
        .await
        .expect("created");
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let e = wait_event(
        &events,
        "involvedObject.name=stalled,reason=FailedScheduling",
        |_| true,
    )
    .await;
    assert!(
        e.message
            .unwrap_or_default()
            .contains("1 node(s) were unschedulable")
    );
    sim.set_node_ready("sim-node-2", true).expect("ready");
    wait_pod(&pods, "app=stalled", |p| phase(p) == "Running").await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refuses_with_403_and_job_shows_failed_create() {
    let (sim, client) = start(SimConfig::fast()).await;
    let quotas: Api<ResourceQuota> = Api::default_namespaced(client.clone());
    let q: ResourceQuota = serde_json::from_value(json!({"metadata": {"name": "gpu"},
        "spec": {"hard": {"requests.nvidia.com/gpu.shared": "1"}}}))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &q)
        .await
        .expect("quota created");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("first", json!({}), 1))
        .await
        .expect("fits");
    match pods
        .create(&PostParams::default(), &pod("second", json!({}), 1))
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert!(s.is_forbidden(), "{s:?}");
            assert_eq!(s.code, 403);
            assert_eq!(
                s.message,
                "pods \"second\" is forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu.shared=1, used: requests.nvidia.com/gpu.shared=1, limited: requests.nvidia.com/gpu.shared=1"
            );
        }
        other => panic!("{other:?}"),
    }
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("blocked", json!({}), 1))
        .await
        .expect("job created");
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let e = wait_event(
        &events,
        "involvedObject.name=blocked,reason=FailedCreate",
        |_| true,
    )
    .await;
    let msg = e.message.unwrap_or_default();
    assert!(msg.starts_with("Error creating: pods \"blocked-"), "{msg}");
    assert!(
        msg.contains(
            "is forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu.shared=1"
        ),
        "{msg}"
    );
    // status.used is maintained
    let used = await_condition(quotas.clone(), "gpu", |q: Option<&ResourceQuota>| {
        q.and_then(|q| q.status.as_ref())
            .and_then(|s| s.used.as_ref())
            .and_then(|u| u.get("requests.nvidia.com/gpu.shared"))
            .is_some_and(|v| v.0 == "1")
    });
    tokio::time::timeout(WAIT, used)
        .await
        .expect("status.used")
        .expect("watch");
    sim.shutdown().await;
}

async fn fifty_services(client: &kube::Client) -> Vec<u16> {
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let mut ports = Vec::new();
    for i in 0..50 {
        let name = format!("grpc-{i}");
        pods.create(&PostParams::default(), &pod(&name, json!({}), 1))
            .await
            .expect("pod");
        let s: Service = serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"type": "NodePort",
            "selector": {"app": name}, "ports": [{"port": 50051, "targetPort": 50051}]}}),
        )
        .expect("svc");
        let s = svcs
            .create(&PostParams::default(), &s)
            .await
            .expect("service");
        let np = s
            .spec
            .and_then(|s| s.ports)
            .and_then(|p| p[0].node_port)
            .expect("nodePort");
        ports.push(u16::try_from(np).expect("port"));
    }
    ports
}

async fn connect_all(client: &kube::Client, ips: &[std::net::Ipv4Addr], ports: &[u16]) {
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    for i in 0..ports.len() {
        // the listener opens once the pod is Running; the Service says so
        let name = format!("grpc-{i}");
        let listening = await_condition(svcs.clone(), &name, |s: Option<&Service>| {
            s.and_then(|s| s.metadata.annotations.as_ref())
                .and_then(|a| a.get(kube_sim::ANNOTATION_LISTENING))
                .is_some_and(|v| v == "true")
        });
        tokio::time::timeout(WAIT, listening)
            .await
            .expect("listening in time")
            .expect("watch");
    }
    for ip in ips {
        for port in ports {
            let addr = std::net::SocketAddr::from((*ip, *port));
            let s = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr))
                .await
                .expect("connect in time")
                .expect("port accepts TCP");
            drop(s);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fifty_node_ports_each_accept_tcp() {
    let (a, ca) = start(SimConfig::fast()).await;
    let (b, cb) = start(SimConfig::fast()).await;
    assert!(a.node_ips().iter().all(|ip| !b.node_ips().contains(ip)));
    assert!(a.node_ips().iter().all(|ip| ip.is_loopback()));
    let pa = fifty_services(&ca).await;
    let pb = fifty_services(&cb).await;
    connect_all(&ca, &a.node_ips(), &pa).await;
    connect_all(&cb, &b.node_ips(), &pb).await;
    // connections are counted on the Service
    let svcs: Api<Service> = Api::default_namespaced(ca.clone());
    let want = a.node_ips().len().to_string();
    let counted = await_condition(svcs.clone(), "grpc-0", move |s: Option<&Service>| {
        s.and_then(|s| s.metadata.annotations.as_ref())
            .and_then(|a| a.get(kube_sim::ANNOTATION_CONNECTIONS))
            .is_some_and(|v| *v == want)
    });
    tokio::time::timeout(WAIT, counted)
        .await
        .expect("connection count")
        .expect("watch");
    // no Running pod → the port closes
    let pods: Api<Pod> = Api::default_namespaced(ca.clone());
    pods.delete(
        "grpc-0",
        &kube::api::DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .expect("deleted");
    let closed = await_condition(svcs.clone(), "grpc-0", |s: Option<&Service>| {
        s.and_then(|s| s.metadata.annotations.as_ref())
            .is_some_and(|a| !a.contains_key(kube_sim::ANNOTATION_LISTENING))
    });
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("port withdrawn")
        .expect("watch");
    let refused = tokio::net::TcpStream::connect((a.node_ips()[0], pa[0])).await;
    assert!(refused.is_err(), "port closed once no Running pod backs it");
    let still_open = (a.node_ips()[1], pa[1]);
    assert!(tokio::net::TcpStream::connect(still_open).await.is_ok());
    a.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(still_open).await.is_err(),
        "shutdown closes every node port"
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_shape_holds_200_investigations() {
    let (sim, client) = start(SimConfig::fast()).await;
    namespace(&client, "panda").await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "panda");
    let svcs: Api<Service> = Api::namespaced(client.clone(), "panda");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "panda");
    let started = std::time::Instant::now();
    for i in 0..200 {
        let mut grpc = job(&format!("grpc-job-{i}"), json!({}), 1);
        if let Some(t) = grpc
            .spec
            .as_mut()
            .and_then(|s| s.template.metadata.as_mut())
        {
            t.labels = Some(BTreeMap::from([
                ("app".to_string(), format!("grpc-{i}")),
                ("role".to_string(), "grpc".to_string()),
            ]));
        }
        jobs.create(&PostParams::default(), &grpc)
            .await
            .expect("grpc job");
        let mut cleanup = job(&format!("cleanup-job-{i}"), json!({}), 0);
        if let Some(t) = cleanup
            .spec
            .as_mut()
            .and_then(|s| s.template.metadata.as_mut())
        {
            t.labels = Some(BTreeMap::from([(
                "role".to_string(),
                "cleanup".to_string(),
            )]));
        }
        jobs.create(&PostParams::default(), &cleanup)
            .await
            .expect("cleanup job");
        let s: Service = serde_json::from_value(json!({"metadata": {"name": format!("grpc-service-{i}")},
            "spec": {"type": "NodePort", "selector": {"app": format!("grpc-{i}")}, "ports": [{"port": 50051}]}}))
        .expect("svc");
        svcs.create(&PostParams::default(), &s)
            .await
            .expect("service");
    }
    running_count(&pods, "role=grpc", 200).await;
    running_count(&pods, "role=cleanup", 200).await;
    let elapsed = started.elapsed();
    eprintln!("200 investigations running after {elapsed:?}");
    // the 201st GPU pod does not fit 4 × 64 = 256 slices? It does: 56 remain free.
    let events: Api<Event> = Api::namespaced(client.clone(), "panda");
    let failed = events
        .list(&ListParams::default().fields("reason=FailedScheduling"))
        .await
        .expect("events");
    assert!(
        failed.items.is_empty(),
        "no scheduling failures at 200 investigations"
    );
    // tearing everything down cascades to every pod
    let started = std::time::Instant::now();
    for i in 0..200 {
        for name in [format!("grpc-job-{i}"), format!("cleanup-job-{i}")] {
            jobs.delete(&name, &kube::api::DeleteParams::background())
                .await
                .expect("job deleted");
        }
    }
    let gone = async {
        loop {
            let l = pods.list(&ListParams::default()).await.expect("list");
            if l.items.is_empty() {
                return;
            }
            let rv = l.metadata.resource_version.unwrap_or_default();
            let wp = kube::api::WatchParams::default().timeout(5);
            let mut s = std::pin::pin!(pods.watch(&wp, &rv).await.expect("watch"));
            let _ = futures::StreamExt::next(&mut s).await;
        }
    };
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("all pods gone");
    eprintln!(
        "400 pods gone {:?} after the deletes began",
        started.elapsed()
    );
    sim.shutdown().await;
}
