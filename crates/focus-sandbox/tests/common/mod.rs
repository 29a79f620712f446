//! Shared harness of the cluster-backed tests: a sandbox on kube-sim, an HTTP
//! client and a kube-rs client.
#![allow(dead_code)]

use std::time::Duration;

use focus_sandbox::{Sandbox, SandboxOptions};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn options() -> SandboxOptions {
    SandboxOptions {
        sim: kube_sim::SimConfig::fast(),
        ..SandboxOptions::default()
    }
}

pub struct Harness {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    pub kube: Client,
}

impl Harness {
    pub async fn start(opts: SandboxOptions) -> Harness {
        let sandbox = Sandbox::start(opts).await.expect("sandbox starts");
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("http client");
        let kube = sandbox.client();
        Harness {
            sandbox,
            http,
            kube,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.sandbox.api_url());
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn configure(&self, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/configure", Some(body))
            .await
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.kube.clone(), "panda")
    }
    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.kube.clone(), "panda")
    }
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.kube.clone(), "panda")
    }

    pub async fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .jobs()
            .list(&ListParams::default())
            .await
            .expect("jobs")
            .items
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .collect();
        names.extend(
            self.services()
                .list(&ListParams::default())
                .await
                .expect("services")
                .items
                .into_iter()
                .filter_map(|s| s.metadata.name),
        );
        names.sort();
        names
    }

    pub async fn gone(&self, job_id: &str) {
        let jobs = self.jobs();
        let services = self.services();
        for name in [
            format!("grpc-job-{job_id}"),
            format!("cleanup-job-{job_id}"),
        ] {
            let j = jobs.get_opt(&name).await.expect("get");
            if let Some(j) = j {
                let uid = j.metadata.uid.unwrap_or_default();
                tokio::time::timeout(
                    DEADLINE,
                    await_condition(jobs.clone(), &name, conditions::is_deleted(&uid)),
                )
                .await
                .expect("job deleted in time")
                .expect("watch");
            }
        }
        let name = format!("grpc-service-{job_id}");
        if let Some(s) = services.get_opt(&name).await.expect("get") {
            let uid = s.metadata.uid.unwrap_or_default();
            tokio::time::timeout(
                DEADLINE,
                await_condition(services.clone(), &name, conditions::is_deleted(&uid)),
            )
            .await
            .expect("service deleted in time")
            .expect("watch");
        }
    }

    pub async fn pod_running(&self, job_id: &str) -> Pod {
        let cfg = watcher::Config::default().labels(&format!("job-name=grpc-job-{job_id}"));
        let mut events = watcher(self.pods(), cfg).applied_objects().boxed();
        let wait = async {
            while let Some(pod) = events.try_next().await.expect("watch") {
                if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    return pod;
                }
            }
            panic!("watch ended");
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .expect("pod running in time")
    }
}

pub fn live() -> Value {
    json!({
        "displayTimeAxisDuration": 30, "nfftSelection": 1024, "displayInfo": {"height": 600},
        "channels": {"min": 1, "max": 50}, "frequencyRange": {"min": 0, "max": 500},
        "start_time": null, "end_time": null, "view_type": 0
    })
}

impl Harness {
    /// Waits (checking every 200 ms, within `DEADLINE`) until `check` holds.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let wait = async {
            loop {
                tick.tick().await;
                if check().await {
                    return;
                }
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("{what}: not within {DEADLINE:?}"));
    }

    /// Waits until the named Job is gone.
    pub async fn job_gone(&self, name: &str) {
        let jobs = self.jobs();
        if let Some(j) = jobs.get_opt(name).await.expect("get") {
            let uid = j.metadata.uid.unwrap_or_default();
            tokio::time::timeout(
                DEADLINE,
                await_condition(jobs.clone(), name, conditions::is_deleted(&uid)),
            )
            .await
            .unwrap_or_else(|_| panic!("{name} not deleted within {DEADLINE:?}"))
            .expect("watch");
        }
    }

    /// Opens a live investigation; returns its response.
    pub async fn open_live(&self) -> Value {
        let (status, body) = self.configure(&live()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Pods of the investigation's processing Job.
    pub async fn grpc_pods(&self, job_id: &str) -> Vec<Pod> {
        self.pods()
            .list(&ListParams::default().labels(&format!("job-name=grpc-job-{job_id}")))
            .await
            .expect("pods")
            .items
    }
}
