//! Services: real stream ports (NodePort allocation itself is admission, see
//! `admission.rs`): while a NodePort Service selects a Running pod, kube-sim accepts
//! TCP on every node IP at that nodePort (no protocol is spoken: connections are held
//! open until the peer closes them or the port is withdrawn) and counts the accepted
//! connections per Service in the [`ANNOTATION_CONNECTIONS`] annotation.

use crate::podspec::At;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::annotations::{ANNOTATION_CONNECTIONS, ANNOTATION_LISTENING};
use crate::api_state::ApiState;
use crate::controllers::{Controller, Reconciled, Written};
use crate::podspec;
use crate::resources;
use crate::selector::LabelSelector;
use crate::store::StoreEvent;

/// A Service key: namespace and name.
pub type ServiceKey = (String, String);

/// NodePorts that should accept connections now, by Service (pure).
pub fn desired_ports(services: &[&Value], pods: &[&Value]) -> BTreeMap<u16, ServiceKey> {
    // index Running pods by (namespace, label key, label value): O(pods + services)
    let mut by_label: HashMap<(&str, &str, &str), Vec<&Value>> = HashMap::new();
    for p in pods {
        if podspec::phase(p) != "Running" || podspec::is_deleting(p) {
            continue;
        }
        let ns = podspec::namespace(p);
        if let Some(labels) = p.at("/metadata/labels").and_then(Value::as_object) {
            for (k, v) in labels {
                if let Some(v) = v.as_str() {
                    by_label.entry((ns, k.as_str(), v)).or_default().push(p);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for s in services {
        let ty = s.at("/spec/type").and_then(Value::as_str).unwrap_or("");
        if ty != "NodePort" && ty != "LoadBalancer" {
            continue;
        }
        let Some(sel_map) = s.at("/spec/selector").and_then(Value::as_object) else {
            continue;
        };
        let Some((k0, v0)) = sel_map.iter().next() else {
            continue;
        };
        let sel = LabelSelector::from_map(sel_map);
        let ns = podspec::namespace(s);
        let backed = by_label
            .get(&(ns, k0.as_str(), v0.as_str().unwrap_or("")))
            .is_some_and(|cands| cands.iter().any(|p| sel.matches(p)));
        if !backed {
            continue;
        }
        for p in s
            .at("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tcp = p["protocol"].as_str().unwrap_or("TCP") == "TCP";
            if let Some(np) = p["nodePort"].as_u64().and_then(|n| u16::try_from(n).ok())
                && tcp
            {
                out.insert(np, (ns.to_string(), podspec::name(s).to_string()));
            }
        }
    }
    out
}

struct Listening {
    service: ServiceKey,
    accept_tasks: Vec<JoinHandle<()>>,
    /// Dropping it tells every held connection to close.
    _stop: watch::Sender<()>,
}

/// Opens and closes node-port listeners as Services and pods change.
pub struct PortManager {
    node_ips: Vec<Ipv4Addr>,
    open: BTreeMap<u16, Listening>,
    counters: BTreeMap<ServiceKey, Arc<AtomicU64>>,
    cluster_weak: Option<std::sync::Weak<ApiState>>,
}

impl std::fmt::Debug for PortManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortManager")
            .field("node_ips", &self.node_ips)
            .field("open", &self.open.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl PortManager {
    pub fn new(cluster: &Arc<ApiState>, node_ips: Vec<Ipv4Addr>) -> Self {
        PortManager {
            node_ips,
            open: BTreeMap::new(),
            counters: BTreeMap::new(),
            cluster_weak: Some(Arc::downgrade(cluster)),
        }
    }

    /// Listen on every node IP; returns how many listeners are up.
    fn open_port(&mut self, port: u16, service: ServiceKey) -> usize {
        let counter = self.counters.entry(service.clone()).or_default().clone();
        let (stop_tx, stop_rx) = watch::channel(());
        let mut tasks = Vec::new();
        for ip in &self.node_ips {
            let addr = SocketAddr::from((*ip, port));
            let listener = match std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|_| l))
                .and_then(tokio::net::TcpListener::from_std)
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen on node port");
                    continue;
                }
            };
            let counter = counter.clone();
            let stop = stop_rx.clone();
            let weak = self.cluster_weak.clone();
            let svc = service.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(c) = weak.as_ref().and_then(std::sync::Weak::upgrade) {
                        record_connections(&c, &svc, n);
                    }
                    let mut stop = stop.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 4096];
                        loop {
                            tokio::select! {
                                r = sock.read(&mut buf) => match r {
                                    Ok(0) | Err(_) => break,
                                    Ok(_) => {}
                                },
                                r = stop.changed() => if r.is_err() { break },
                            }
                        }
                    });
                }
            }));
        }
        let n = tasks.len();
        if n == 0 {
            // nothing bound (e.g. the old listener is still closing): retry next reconcile
            return 0;
        }
        self.open.insert(
            port,
            Listening {
                service,
                accept_tasks: tasks,
                _stop: stop_tx,
            },
        );
        n
    }

    /// Stop accepting on a port; the returned tasks end (closing their listeners) soon
    /// after — await them to know the port is closed.
    fn close_port(&mut self, port: u16) -> Vec<JoinHandle<()>> {
        match self.open.remove(&port) {
            Some(l) => {
                for t in &l.accept_tasks {
                    t.abort();
                }
                l.accept_tasks
            }
            None => Vec::new(),
        }
    }

    /// Ports currently accepting connections.
    pub fn open_ports(&self) -> BTreeSet<u16> {
        self.open.keys().copied().collect()
    }
}

impl Drop for PortManager {
    fn drop(&mut self) {
        let ports: Vec<u16> = self.open.keys().copied().collect();
        for p in ports {
            drop(self.close_port(p));
        }
    }
}

fn set_listening(cluster: &ApiState, svc: &ServiceKey, on: bool) {
    super::note_failed(
        "service",
        "update",
        Written::new(&resources::SERVICES, &svc.0, &svc.1),
        cluster
            .store
            .update(&resources::SERVICES, &svc.0, &svc.1, false, |_, s| {
                if on {
                    if !s["metadata"]["annotations"].is_object() {
                        s["metadata"]["annotations"] = json!({});
                    }
                    s["metadata"]["annotations"][ANNOTATION_LISTENING] = json!("true");
                } else if let Some(a) = s["metadata"]["annotations"].as_object_mut() {
                    a.remove(ANNOTATION_LISTENING);
                }
                Ok(())
            }),
    );
}

fn record_connections(cluster: &ApiState, svc: &ServiceKey, n: u64) {
    super::note_failed(
        "service",
        "update",
        Written::new(&resources::SERVICES, &svc.0, &svc.1),
        cluster
            .store
            .update(&resources::SERVICES, &svc.0, &svc.1, false, |_, s| {
                let current = podspec::annotation(s, ANNOTATION_CONNECTIONS)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                if n > current {
                    if !s["metadata"]["annotations"].is_object() {
                        s["metadata"]["annotations"] = json!({});
                    }
                    s["metadata"]["annotations"][ANNOTATION_CONNECTIONS] = json!(n.to_string());
                }
                Ok(())
            }),
    );
}

impl Controller for PortManager {
    fn name(&self) -> &'static str {
        "node-ports"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        e.rt == resources::SERVICES || e.rt == resources::PODS
    }

    fn debounce(&self) -> std::time::Duration {
        std::time::Duration::from_millis(10)
    }

    fn stop(&mut self) -> Vec<JoinHandle<()>> {
        let ports: Vec<u16> = self.open.keys().copied().collect();
        ports.into_iter().flat_map(|p| self.close_port(p)).collect()
    }

    fn reconcile(&mut self, cluster: &ApiState, _full: bool) -> Reconciled {
        let desired = cluster.store.read(|v| {
            let services: Vec<&Value> = v
                .list(&resources::SERVICES, None)
                .into_iter()
                .map(|s| s.as_ref())
                .collect();
            let pods: Vec<&Value> = v
                .list(&resources::PODS, None)
                .into_iter()
                .map(|p| p.as_ref())
                .collect();
            desired_ports(&services, &pods)
        });
        let stale: Vec<u16> = self
            .open
            .iter()
            .filter(|(p, l)| desired.get(p) != Some(&l.service))
            .map(|(p, _)| *p)
            .collect();
        for p in stale {
            if let Some(svc) = self.open.get(&p).map(|l| l.service.clone()) {
                let closing = self.close_port(p);
                if !self.open.values().any(|l| l.service == svc) {
                    // announce "not listening" only once the listeners are really gone
                    let weak = self.cluster_weak.clone();
                    tokio::spawn(async move {
                        for t in closing {
                            let _ = t.await;
                        }
                        if let Some(c) = weak.as_ref().and_then(std::sync::Weak::upgrade) {
                            set_listening(&c, &svc, false);
                        }
                    });
                }
            }
        }
        for (port, svc) in desired {
            if !self.open.contains_key(&port) && self.open_port(port, svc.clone()) > 0 {
                set_listening(cluster, &svc, true);
            }
        }
        self.counters.retain(|k, _| {
            cluster
                .store
                .get(&resources::SERVICES, &k.0, &k.1)
                .is_some()
        });
        Reconciled::Done
    }
}

/// Raise the open-files soft limit towards the hard limit (listeners need descriptors).
pub fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(1 << 16) {
        Ok(n) => tracing::debug!(limit = n, "open-files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backed_nodeport_services_listen() {
        let svc = json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"type": "NodePort",
            "selector": {"app": "a"}, "ports": [{"port": 1, "nodePort": 12301, "protocol": "TCP"}]}});
        let running = json!({"metadata": {"namespace": "ns", "labels": {"app": "a"}}, "status": {"phase": "Running"}});
        let pending = json!({"metadata": {"namespace": "ns", "labels": {"app": "a"}}, "status": {"phase": "Pending"}});
        let other_ns = json!({"metadata": {"namespace": "x", "labels": {"app": "a"}}, "status": {"phase": "Running"}});
        assert_eq!(
            desired_ports(&[&svc], &[&running])
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![12301]
        );
        assert!(desired_ports(&[&svc], &[&pending, &other_ns]).is_empty());
    }
}
