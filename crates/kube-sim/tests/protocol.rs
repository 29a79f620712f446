//! Protocol details over the router (in-process `oneshot`) and kube-rs: golden Status
//! bodies, query parsing, watch semantics, paging, dryRun, subresources, request log.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use futures::{StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::runtime::{WatchStreamExt, watcher};
use kube_sim::{KubeSim, SimConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    sim: &KubeSim,
    method: &str,
    uri: &str,
    ct: &str,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", ct)
        .body(body)
        .expect("request");
    let resp = kube_sim::router(sim.api_state())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn json_call(sim: &KubeSim, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let (s, _, b) = call(sim, method, uri, "application/json", body).await;
    (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

fn job_body(name: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_status_bodies() {
    let sim = KubeSim::start(SimConfig::fast()).await.expect("start");
    let (s, b) = json_call(
        &sim,
        "GET",
        "/api/v1/namespaces/default/pods/missing",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "pods \"missing\" not found", "reason": "NotFound",
        "details": {"name": "missing", "kind": "pods"}, "code": 404})
    );
    let (_, b) = json_call(
        &sim,
        "GET",
        "/apis/batch/v1/namespaces/default/jobs/x",
        Value::Null,
    )
    .await;
    assert_eq!(b["message"], "jobs.batch \"x\" not found");
    assert_eq!(
        b["details"],
        json!({"name": "x", "group": "batch", "kind": "jobs"})
    );
    let (s, b) = json_call(&sim, "GET", "/apis/example.com/v1/widgets", Value::Null).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource", "reason": "NotFound",
        "details": {}, "code": 404})
    );
    let (s, _) = json_call(
        &sim,
        "POST",
        "/apis/batch/v1/namespaces/default/jobs",
        job_body("j"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = json_call(
        &sim,
        "POST",
        "/apis/batch/v1/namespaces/default/jobs",
        job_body("j"),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        b,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "jobs.batch \"j\" already exists", "reason": "AlreadyExists",
        "details": {"name": "j", "group": "batch", "kind": "jobs"}, "code": 409})
    );
    let mut stale = job_body("j");
    stale["metadata"]["resourceVersion"] = json!("1");
    let (s, b) = json_call(
        &sim,
        "PUT",
        "/apis/batch/v1/namespaces/default/jobs/j",
        stale,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(b["reason"], "Conflict");
    assert_eq!(
        b["message"],
        "Operation cannot be fulfilled on jobs.batch \"j\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let svc = |name: &str| json!({"metadata": {"name": name}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 12301}]}});
    json_call(
        &sim,
        "POST",
        "/api/v1/namespaces/default/services",
        svc("a"),
    )
    .await;
    let (s, b) = json_call(
        &sim,
        "POST",
        "/api/v1/namespaces/default/services",
        svc("b"),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 12301: provided port is already allocated",
        "reason": "Invalid", "details": {"name": "b", "kind": "Service", "causes": [{"reason": "FieldValueInvalid",
        "message": "Invalid value: 12301: provided port is already allocated", "field": "spec.ports[0].nodePort"}]}, "code": 422})
    );
    let (s, b) = json_call(
        &sim,
        "GET",
        "/api/v1/pods?fieldSelector=spec.foo%3Dx",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "field label not supported: spec.foo", "reason": "BadRequest", "code": 400})
    );
    let (s, _, b) = call(
        &sim,
        "PATCH",
        "/apis/batch/v1/namespaces/default/jobs/j",
        "text/plain",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(b.contains("\"reason\":\"UnsupportedMediaType\""));
    // Job delete with no policy: orphan + upstream warning
    let (s, h, b) = call(
        &sim,
        "DELETE",
        "/apis/batch/v1/namespaces/default/jobs/j",
        "application/json",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(b.contains("\"status\":\"Success\""), "{b}");
    assert_eq!(
        h["warning"],
        "299 - \"child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning\""
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_paging_dry_run_and_discovery() {
    let sim = KubeSim::start(SimConfig::fast()).await.expect("start");
    let (s, b) = json_call(&sim, "GET", "/api/v1/namespaces?&limit=2", Value::Null).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["kind"], "NamespaceList");
    assert_eq!(b["items"].as_array().map(Vec::len), Some(2));
    assert!(
        !b["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .is_empty()
    );
    let cont = b["metadata"]["continue"]
        .as_str()
        .expect("continue")
        .to_string();
    let (_, b2) = json_call(
        &sim,
        "GET",
        &format!("/api/v1/namespaces?limit=2&continue={cont}"),
        Value::Null,
    )
    .await;
    assert_eq!(b2["items"].as_array().map(Vec::len), Some(1));
    assert!(b2["metadata"].get("continue").is_none());
    // dryRun creates nothing
    let (s, _) = json_call(
        &sim,
        "POST",
        "/apis/batch/v1/namespaces/default/jobs?dryRun=All",
        job_body("dry"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = json_call(
        &sim,
        "GET",
        "/apis/batch/v1/namespaces/default/jobs/dry",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // discovery and version
    let (_, v) = json_call(&sim, "GET", "/version", Value::Null).await;
    assert_eq!(v["major"], "1");
    let (_, groups) = json_call(&sim, "GET", "/apis", Value::Null).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for g in [
        "batch",
        "apps",
        "coordination.k8s.io",
        "rbac.authorization.k8s.io",
    ] {
        assert!(names.contains(&g), "{g}");
    }
    let (_, core) = json_call(&sim, "GET", "/api/v1", Value::Null).await;
    assert!(
        core["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|r| r["name"] == "pods/log")
    );
    // the request log saw the create
    let log = sim.request_log();
    assert!(log.iter().any(|r| r.verb == "create"
        && r.resource == "jobs"
        && r.namespace.as_deref() == Some("default")));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_initial_events_ends_with_marked_bookmark() {
    let sim = KubeSim::start(SimConfig::fast()).await.expect("start");
    let (s, _, body) = call(
        &sim,
        "GET",
        "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.iter().filter(|l| l["type"] == "ADDED").count(), 3);
    let marked = lines.iter().position(|l| {
        l["type"] == "BOOKMARK"
            && l["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
    });
    assert_eq!(marked, Some(3));
    assert_eq!(lines[3]["object"]["kind"], "Namespace");
    assert_eq!(lines[3]["object"]["apiVersion"], "v1");
    sim.shutdown().await;
}

/// A watch resumed from a resourceVersion with bookmarks allowed gets, right after the
/// replay it is owed, a bookmark at the current resourceVersion: at or past a list taken
/// after the replayed changes, long before the watch's timeout (30 s; the test waits at
/// most `WAIT`, 20 s, and periodic bookmarks come every 60 s, so neither the bookmark
/// sent at the deadline nor a periodic one can be the one seen).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_watch_bookmarks_the_end_of_its_replay() {
    let mut config = SimConfig::fast();
    config.bookmark_interval_secs = 60;
    let (sim, client) = start(config).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let rv_of = |l: kube::api::ObjectList<ConfigMap>| {
        let rv = l.metadata.resource_version.unwrap_or_default();
        rv.parse::<u64>()
            .expect("kube-sim's resourceVersions are integers")
    };
    let since = rv_of(cms.list(&ListParams::default()).await.expect("list"));
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "brief"}})).expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("created");
    cms.delete("brief", &Default::default())
        .await
        .expect("deleted");
    let after = rv_of(cms.list(&ListParams::default()).await.expect("list"));
    assert!(
        after > since,
        "premise not met: the list after the changes is newer"
    );
    let wp = kube::api::WatchParams::default().timeout(30);
    assert!(wp.bookmarks, "kube-rs allows bookmarks by default");
    let mut stream = std::pin::pin!(
        cms.watch(&wp, &since.to_string())
            .await
            .expect("watch")
            .boxed()
    );
    let mut kinds = Vec::new();
    let bookmark = loop {
        let ev = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("a bookmark before the watch's timeout")
            .expect("ok")
            .expect("the watch stays open");
        match ev {
            kube::api::WatchEvent::Added(_) => kinds.push("ADDED"),
            kube::api::WatchEvent::Deleted(_) => kinds.push("DELETED"),
            kube::api::WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            kube::api::WatchEvent::Bookmark(b) => break b,
            kube::api::WatchEvent::Error(e) => panic!("watch refused: {e}"),
        }
    };
    assert_eq!(
        kinds,
        vec!["ADDED", "DELETED"],
        "the replay precedes the bookmark"
    );
    let at: u64 = bookmark
        .metadata
        .resource_version
        .parse()
        .expect("integer resourceVersion");
    assert!(
        at >= after,
        "bookmark at {at}, list after the changes at {after}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_transitions_arrive_as_added_and_deleted() {
    let (sim, client) = start(SimConfig::fast()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c", "labels": {"x": "no"}}}))
            .expect("cm");
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("created");
    let rv = cms
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .unwrap_or_default();
    let wp = kube::api::WatchParams::default()
        .labels("x=yes")
        .timeout(10);
    let mut stream = std::pin::pin!(cms.watch(&wp, &rv).await.expect("watch").boxed());
    let set = |v: &str| Patch::Merge(json!({"metadata": {"labels": {"x": v}}}));
    cms.patch("c", &PatchParams::default(), &set("yes"))
        .await
        .expect("patch");
    cms.patch("c", &PatchParams::default(), &set("no"))
        .await
        .expect("patch");
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let ev = tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("event")
            .expect("ok")
            .expect("some");
        match ev {
            kube::api::WatchEvent::Added(_) => kinds.push("ADDED"),
            kube::api::WatchEvent::Deleted(_) => kinds.push("DELETED"),
            kube::api::WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            _ => {}
        }
    }
    assert_eq!(kinds, vec!["ADDED", "DELETED"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_survives_410_relist_and_lagged_streams() {
    let config = SimConfig {
        watch_history: 8,
        watch_channel_capacity: 4,
        ..SimConfig::fast()
    };
    let (sim, client) = start(config).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut wc = watcher::Config::default().timeout(1);
    wc.bookmarks = false;
    let mut names = std::pin::pin!(watcher(cms.clone(), wc).applied_objects());
    let cm = |n: String| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).expect("cm")
    };
    cms.create(&PostParams::default(), &cm("seed".into()))
        .await
        .expect("seed");
    let first = tokio::time::timeout(WAIT, names.try_next())
        .await
        .expect("seed seen")
        .expect("ok")
        .expect("some");
    assert_eq!(first.metadata.name.as_deref(), Some("seed"));
    // far more changes than history or channel keep, while the watch is parked
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for i in 0..40 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("noise-{i}"), json!({}), 0),
        )
        .await
        .expect("noise");
    }
    for i in 0..30 {
        cms.create(&PostParams::default(), &cm(format!("c-{i}")))
            .await
            .expect("cm");
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut expired = 0;
    let fut = async {
        while seen.len() < 30 {
            // kube's watcher reports the 410 (or a closed stream) as an item, then re-lists
            match names.next().await.expect("watcher keeps going") {
                Ok(o) => {
                    if let Some(n) = o.metadata.name.filter(|n| n.starts_with("c-")) {
                        seen.insert(n);
                    }
                }
                Err(watcher::Error::WatchError(s)) if s.code == 410 => expired += 1,
                Err(e) => panic!("unexpected watcher error: {e}"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("every configmap seen");
    assert!(expired <= 30, "relists stay bounded ({expired})");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_scale_leases_rbac_and_logs() {
    let (sim, client) = start(SimConfig::fast()).await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})).expect("d");
    deps.create(&PostParams::default(), &d)
        .await
        .expect("created");
    let ready = await_condition(deps.clone(), "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.ready_replicas)
            == Some(2)
    });
    tokio::time::timeout(WAIT, ready)
        .await
        .expect("2 ready")
        .expect("watch");
    let scale = deps.get_scale("web").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 0}})),
    )
    .await
    .expect("scale 0");
    let empty = async {
        loop {
            let l = pods
                .list(&ListParams::default().labels("app=web"))
                .await
                .expect("list");
            if l.items.is_empty() {
                return;
            }
            let rv = l.metadata.resource_version.unwrap_or_default();
            let wp = kube::api::WatchParams::default()
                .labels("app=web")
                .timeout(5);
            let mut s = std::pin::pin!(pods.watch(&wp, &rv).await.expect("watch").boxed());
            let _ = s.next().await;
        }
    };
    tokio::time::timeout(WAIT, empty)
        .await
        .expect("scaled to zero");
    deps.patch_scale(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .expect("scale 1");
    let p = wait_pod(&pods, "app=web", |p| phase(p) == "Running").await;
    let log = pods
        .logs(
            p.metadata.name.as_deref().expect("name"),
            &Default::default(),
        )
        .await
        .expect("log");
    assert!(log.contains("started"), "{log}");
    // stored-only kinds round-trip
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::default_namespaced(client.clone());
    let l: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(
        json!({"metadata": {"name": "lock"}, "spec": {"holderIdentity": "me"}}),
    )
    .expect("lease");
    leases
        .create(&PostParams::default(), &l)
        .await
        .expect("lease");
    assert_eq!(
        leases
            .get("lock")
            .await
            .expect("get")
            .spec
            .and_then(|s| s.holder_identity)
            .as_deref(),
        Some("me")
    );
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::default_namespaced(client.clone());
    let r: k8s_openapi::api::rbac::v1::Role =
        serde_json::from_value(json!({"metadata": {"name": "suite"},
        "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]}))
        .expect("role");
    roles
        .create(&PostParams::default(), &r)
        .await
        .expect("role");
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::default_namespaced(client.clone());
    assert!(sas.get_opt("default").await.expect("sa").is_some());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_streaming_list_watcher() {
    let (sim, client) = start(SimConfig::fast()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    for i in 0..3 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("s-{i}")}})).expect("cm");
        cms.create(&PostParams::default(), &cm)
            .await
            .expect("created");
    }
    let stream = watcher(cms.clone(), watcher::Config::default().streaming_lists());
    let mut stream = std::pin::pin!(stream);
    let fut = async {
        let mut seen = 0;
        loop {
            match stream.try_next().await.expect("ok").expect("some") {
                watcher::Event::InitApply(_) => seen += 1,
                watcher::Event::InitDone => return seen,
                _ => {}
            }
        }
    };
    let seen = tokio::time::timeout(WAIT, fut)
        .await
        .expect("InitDone after the initial-events-end bookmark");
    assert_eq!(seen, 3);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_openapi_for_kubectl() {
    let sim = KubeSim::start(SimConfig::fast()).await.expect("start");
    let req = Request::builder()
        .uri("/api/v1/nodes?limit=500")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
        .body(Body::empty())
        .expect("request");
    let resp = kube_sim::router(sim.api_state())
        .oneshot(req)
        .await
        .expect("infallible");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let t: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["columnDefinitions"][1]["name"], "Status");
    assert_eq!(t["rows"].as_array().map(Vec::len), Some(4));
    assert_eq!(t["rows"][0]["cells"][1], "Ready");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    let (_, root) = json_call(&sim, "GET", "/openapi/v3", Value::Null).await;
    let url = root["paths"]["apis/batch/v1"]["serverRelativeURL"]
        .as_str()
        .expect("batch doc")
        .to_string();
    let (_, doc) = json_call(&sim, "GET", &url, Value::Null).await;
    let patch = &doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Job");
    assert!(
        patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_writes_keep_spec_and_main_writes_keep_status() {
    let (sim, client) = start(SimConfig::fast()).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "s"}, "spec": {"replicas": 0,
        "selector": {"matchLabels": {"app": "s"}},
        "template": {"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}))
    .expect("d");
    deps.create(&PostParams::default(), &d)
        .await
        .expect("created");
    // a status patch that also tries to change spec: spec is kept
    let p = Patch::Merge(json!({"spec": {"replicas": 5}, "status": {"observedGeneration": 42}}));
    let after = deps
        .patch_status("s", &PatchParams::default(), &p)
        .await
        .expect("status patch");
    assert_eq!(after.spec.as_ref().and_then(|s| s.replicas), Some(0));
    assert_eq!(
        after.status.as_ref().and_then(|s| s.observed_generation),
        Some(42)
    );
    // a main patch that also tries to change status: status is kept
    let p = Patch::Merge(
        json!({"metadata": {"labels": {"x": "y"}}, "status": {"observedGeneration": 7}}),
    );
    let after = deps
        .patch("s", &PatchParams::default(), &p)
        .await
        .expect("main patch");
    assert_eq!(
        after
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("x"))
            .map(String::as_str),
        Some("y")
    );
    assert_ne!(
        after.status.as_ref().and_then(|s| s.observed_generation),
        Some(7)
    );
    // JSON patch over HTTP (kube's json-patch feature is off; use the router)
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "j"}, "data": {"a": "1"}})).expect("cm");
    cms.create(&PostParams::default(), &cm).await.expect("cm");
    let (s, _, body) = call(
        &sim,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/j",
        "application/json-patch+json",
        json!([{"op": "replace", "path": "/data/a", "value": "2"}, {"op": "add", "path": "/data/b", "value": "3"}]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got = cms.get("j").await.expect("get").data.unwrap_or_default();
    assert_eq!((got["a"].as_str(), got["b"].as_str()), ("2", "3"));
    let (s, _, body) = call(
        &sim,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/j",
        "application/json-patch+json",
        json!([{"op": "test", "path": "/data/a", "value": "nope"}]),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    sim.shutdown().await;
}

/// The request log (in memory and as JSON lines) carries each client's User-Agent, so
/// one client's requests can be told from another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_records_the_user_agent() {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("requests-ua-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut config = SimConfig::fast();
    config.request_log_file = Some(file.clone());
    let sim = KubeSim::start(config).await.expect("start");
    let req = Request::builder()
        .method("GET")
        .uri("/api/v1/namespaces/default/configmaps")
        .header("user-agent", "focus-scope/0.1.0")
        .body(Body::empty())
        .expect("request");
    let resp = kube_sim::router(sim.api_state())
        .oneshot(req)
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    // and one without a User-Agent
    let (s, _) = json_call(&sim, "GET", "/api/v1/namespaces/default/pods", Value::Null).await;
    assert_eq!(s, StatusCode::OK);

    let log = sim.request_log();
    let agent = |resource: &str| {
        log.iter()
            .find(|r| r.resource == resource)
            .map(|r| r.user_agent.clone())
    };
    assert_eq!(agent("configmaps"), Some(Some("focus-scope/0.1.0".into())));
    assert_eq!(agent("pods"), Some(None));
    let lines: Vec<Value> = std::fs::read_to_string(&file)
        .expect("request log file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["resource"] == "configmaps" && l["user_agent"] == "focus-scope/0.1.0"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["resource"] == "pods" && l["user_agent"].is_null()),
        "{lines:?}"
    );
    sim.shutdown().await;
    let _ = std::fs::remove_file(&file);
}
