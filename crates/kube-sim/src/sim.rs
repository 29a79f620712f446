//! `KubeSim`: start/stop one simulated cluster (server, controllers, port listeners).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_state::{ApiState, RequestRecord};
use crate::config::SimConfig;
use crate::netblock::Block;
use crate::resources;
use crate::{Error, controllers};

/// One running simulated cluster.
#[derive(Debug)]
pub struct KubeSim {
    cluster: Arc<ApiState>,
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
    node_ips: Vec<Ipv4Addr>,
    _block: Block,
}

impl KubeSim {
    /// Bind 127.0.0.1:0, seed namespaces and nodes, start the controllers.
    pub async fn start(config: SimConfig) -> Result<KubeSim, Error> {
        Self::start_on(config, 0).await
    }

    /// Like `start`, on a given port (0 = any).
    pub async fn start_on(config: SimConfig, port: u16) -> Result<KubeSim, Error> {
        config.validate()?;
        let nodes = config.resolved_nodes()?;
        if nodes.len() > 250 {
            return Err(Error::Config(crate::config::ConfigError::Invalid(
                "at most 250 nodes fit a loopback block".into(),
            )));
        }
        let block = Block::claim()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let cluster = Arc::new(ApiState::new(config.clone(), shutdown_rx.clone()));
        for ns in &config.namespaces {
            cluster
                .create(
                    &resources::NAMESPACES,
                    "",
                    json!({"metadata": {"name": ns}}),
                    false,
                )
                .map_err(|e| Error::Seed(Box::new(e)))?;
        }
        let mut node_ips = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let ip = block.ip(i as u8 + 1);
            node_ips.push(ip);
            cluster
                .create(
                    &resources::NODES,
                    "",
                    node_object(n, ip, &cluster.store.clock().now_rfc3339()),
                    false,
                )
                .map_err(|e| Error::Seed(Box::new(e)))?;
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        let app = crate::api::router(cluster.clone());
        let mut stop = shutdown_rx.clone();
        let server = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "kube-sim server stopped");
            }
        });
        let mut tasks = controllers::spawn_all(&cluster);
        if config.stream_ports {
            crate::controllers::service::raise_nofile_limit();
            let pm = crate::controllers::service::PortManager::new(&cluster, node_ips.clone());
            let resync = cluster.store.clock().scale(Duration::from_millis(250));
            tasks.push(tokio::spawn(controllers::run(cluster.clone(), pm, resync)));
        }
        tracing::info!(%addr, nodes = nodes.len(), "kube-sim started");
        Ok(KubeSim {
            cluster,
            addr,
            shutdown_tx,
            server: Some(server),
            tasks,
            node_ips,
            _block: block,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kubeconfig text (JSON, which is YAML): cluster, context and user `kube-sim`,
    /// namespace `default`.
    pub fn kubeconfig(&self) -> String {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-sim", "cluster": {"server": self.url()}}],
            "users": [{"name": "kube-sim", "user": {}}],
            "contexts": [{"name": "kube-sim", "context": {"cluster": "kube-sim", "user": "kube-sim", "namespace": "default"}}],
            "current-context": "kube-sim",
            "preferences": {}
        });
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// Each node's InternalIP (loopback addresses of this instance's block), in node order.
    pub fn node_ips(&self) -> Vec<Ipv4Addr> {
        self.node_ips.clone()
    }

    /// The shared cluster state (store, verbs) for in-process inspection.
    pub fn api_state(&self) -> Arc<ApiState> {
        self.cluster.clone()
    }

    /// Requests served so far (when `request_log` is on).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.cluster
            .request_log
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Mark a node Ready or NotReady (its pods stop progressing; nothing new is scheduled there).
    pub fn set_node_ready(&self, node: &str, ready: bool) -> Result<(), crate::status::ApiError> {
        set_node_ready(&self.cluster, node, ready)
    }

    /// Start on a dedicated thread with its own multi-thread tokio runtime, so callers on
    /// any runtime (or none, or one that blocks, e.g. while running kubectl) are safe.
    pub fn start_detached(config: SimConfig) -> Result<DetachedKubeSim, Error> {
        type Ready = Result<(String, String, Vec<Ipv4Addr>, Arc<ApiState>), Error>;
        let (tx, rx) = std::sync::mpsc::channel::<Ready>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("kube-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Runtime(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match KubeSim::start(config).await {
                        Ok(sim) => {
                            let _ = tx.send(Ok((
                                sim.url(),
                                sim.kubeconfig(),
                                sim.node_ips(),
                                sim.api_state(),
                            )));
                            let _ = stop_rx.await;
                            sim.shutdown().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(Error::Runtime)?;
        match rx.recv() {
            Ok(Ok((url, kubeconfig, node_ips, cluster))) => Ok(DetachedKubeSim {
                url,
                kubeconfig,
                node_ips,
                cluster,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::Runtime(std::io::Error::other(
                    "the kube-sim thread ended early",
                )))
            }
        }
    }

    /// Stop the server, the controllers and every port listener.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        let handles = self
            .server
            .take()
            .into_iter()
            .chain(std::mem::take(&mut self.tasks));
        for mut h in handles {
            if tokio::time::timeout(Duration::from_secs(2), &mut h)
                .await
                .is_err()
            {
                h.abort();
            }
        }
    }
}

impl Drop for KubeSim {
    /// Dropping without `shutdown` still stops everything (without waiting).
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

fn set_node_ready(
    cluster: &ApiState,
    node: &str,
    ready: bool,
) -> Result<(), crate::status::ApiError> {
    let now = cluster.store.clock().now_rfc3339();
    cluster
        .store
        .update(&resources::NODES, "", node, false, |_, n| {
            set_ready_condition(n, ready, &now);
            Ok(())
        })
        .map(|_| ())
}

/// A [`KubeSim`] on its own thread and runtime (see [`KubeSim::start_detached`]).
/// Dropping it stops the simulator and waits for its thread.
#[derive(Debug)]
pub struct DetachedKubeSim {
    url: String,
    kubeconfig: String,
    node_ips: Vec<Ipv4Addr>,
    cluster: Arc<ApiState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DetachedKubeSim {
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn kubeconfig(&self) -> String {
        self.kubeconfig.clone()
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.kubeconfig)
    }

    pub fn node_ips(&self) -> Vec<Ipv4Addr> {
        self.node_ips.clone()
    }

    pub fn api_state(&self) -> Arc<ApiState> {
        self.cluster.clone()
    }

    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.cluster
            .request_log
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    pub fn set_node_ready(&self, node: &str, ready: bool) -> Result<(), crate::status::ApiError> {
        set_node_ready(&self.cluster, node, ready)
    }

    /// Stop the simulator and wait for its thread (blocking, normally milliseconds).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DetachedKubeSim {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn set_ready_condition(node: &mut Value, ready: bool, now: &str) {
    let cond = if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
            "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime is down", "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    if let Some(cs) = node
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        cs.retain(|c| c["type"] != "Ready");
        cs.push(cond);
    }
}

fn node_object(n: &crate::config::ResolvedNode, ip: Ipv4Addr, now: &str) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": n.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "type": "kube-sim",
    });
    for (k, v) in &n.labels {
        labels[k] = json!(v);
    }
    let taints: Vec<Value> = n
        .taints
        .iter()
        .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect}))
        .collect();
    let mut spec = json!({"podCIDR": n.pod_cidr.to_string(), "podCIDRs": [n.pod_cidr.to_string()]});
    if n.unschedulable {
        spec["unschedulable"] = json!(true);
    }
    if !taints.is_empty() {
        spec["taints"] = json!(taints);
    }
    let mut node = json!({
        "metadata": {"name": n.name, "labels": labels, "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {
            "capacity": n.allocatable,
            "allocatable": n.allocatable,
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now, "lastTransitionTime": now}
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip.to_string()},
                {"type": "Hostname", "address": n.name}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "6.1.0-kube-sim",
                "osImage": "kube-sim", "containerRuntimeVersion": "containerd://1.7.0",
                "kubeletVersion": "v1.33.0-kube-sim", "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": "amd64"
            }
        }
    });
    set_ready_condition(&mut node, true, now);
    node
}
