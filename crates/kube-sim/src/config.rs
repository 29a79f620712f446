//! The cluster shape and timing, read from TOML.
//!
//! Past ~400 lines only by its tests (the last ~60 lines).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;

use crate::quantity::Quantity;

/// Errors reading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid kube-sim config {path}: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("invalid kube-sim config: {0}")]
    Invalid(String),
}

/// Whole simulator configuration. Every key is optional; see the crate README.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Either a node count (`nodes = 4`, each built from `node_defaults`) or a list of
    /// `[[nodes]]` tables.
    pub nodes: NodesConfig,
    /// Values used for every node field a node does not set.
    pub node_defaults: NodeDefaults,
    /// NodePort range, inclusive (`[30000, 32767]` upstream; default `[12300, 12999]`).
    pub node_port_range: [u16; 2],
    /// Kubelet stage delays (each stage waits a uniformly jittered delay in this range).
    pub kubelet_delay_min_ms: u64,
    pub kubelet_delay_max_ms: u64,
    /// Global speed factor: every simulated delay is divided by it (2.0 = twice as fast).
    pub speed: f64,
    /// The cluster's clock against the host's, in ms (negative: behind). Every
    /// timestamp the simulator writes (creationTimestamp, events, conditions) carries
    /// it, as a real cluster's clock may differ from its clients'.
    pub clock_offset_ms: i64,
    /// Namespaces created at start.
    pub namespaces: Vec<String>,
    /// Watch events retained for resuming watches; older resourceVersions get 410 Expired.
    pub watch_history: usize,
    /// Changes queued per watcher before a slow watcher is closed (it then re-lists or
    /// resumes from its last resourceVersion).
    pub watch_channel_capacity: usize,
    /// Seconds a watch without `timeoutSeconds` stays open.
    pub watch_default_timeout_secs: u64,
    /// Seconds between BOOKMARK events on watches that allow them.
    pub bookmark_interval_secs: u64,
    /// Job pod retry delay after a failed pod, in ms (upstream 10 s, doubling).
    pub job_backoff_ms: u64,
    /// Service ClusterIP range base (a /16 is used).
    pub service_cluster_ip_base: Ipv4Addr,
    /// Open real TCP listeners for NodePort services (see README "Stream ports").
    pub stream_ports: bool,
    /// Keep a request log (verb, resource, namespace) readable through `KubeSim::request_log`.
    pub request_log: bool,
    /// Also append every request as one JSON line
    /// (`{"verb","group","resource","subresource","namespace","name","user_agent"}`) to
    /// this file.
    pub request_log_file: Option<std::path::PathBuf>,
}

/// `nodes = 4` or `[[nodes]] name = "..."`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum NodesConfig {
    Count(usize),
    List(Vec<NodeConfig>),
}

impl Default for NodesConfig {
    fn default() -> Self {
        NodesConfig::Count(4)
    }
}

/// One node; unset fields come from `node_defaults`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub name: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
    pub pods: Option<u32>,
    /// Extended resources, e.g. `{ "nvidia.com/gpu.shared" = "64" }`.
    pub extended: Option<BTreeMap<String, String>>,
    /// e.g. `10.244.3.0/24`; default: consecutive blocks of `pod_cidr_prefix` in 10.244.0.0/16.
    pub pod_cidr: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Taints `{ key, value, effect }`.
    pub taints: Vec<TaintConfig>,
    pub unschedulable: bool,
}

/// A node taint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaintConfig {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: String,
}

/// Defaults for node fields.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeDefaults {
    pub name_prefix: String,
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
    pub pods: u32,
    pub extended: BTreeMap<String, String>,
    pub pod_cidr_prefix: u8,
}

impl Default for NodeDefaults {
    fn default() -> Self {
        NodeDefaults {
            name_prefix: "sim-node-".to_string(),
            cpu: "64".to_string(),
            memory: "512Gi".to_string(),
            ephemeral_storage: "2Ti".to_string(),
            pods: 110,
            extended: BTreeMap::from([("nvidia.com/gpu.shared".to_string(), "64".to_string())]),
            pod_cidr_prefix: 24,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: NodesConfig::default(),
            node_defaults: NodeDefaults::default(),
            node_port_range: [12300, 12999],
            kubelet_delay_min_ms: 200,
            kubelet_delay_max_ms: 800,
            speed: 1.0,
            clock_offset_ms: 0,
            namespaces: vec![
                "default".to_string(),
                "kube-system".to_string(),
                "kube-public".to_string(),
            ],
            watch_history: 20_000,
            watch_channel_capacity: 8192,
            watch_default_timeout_secs: 1800,
            bookmark_interval_secs: 10,
            job_backoff_ms: 100,
            service_cluster_ip_base: Ipv4Addr::new(10, 96, 0, 0),
            stream_ports: true,
            request_log: true,
            request_log_file: None,
        }
    }
}

/// A node after defaults are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedNode {
    pub name: String,
    /// Allocatable resources by name (`cpu`, `memory`, `pods`, `nvidia.com/gpu.shared` ...).
    pub allocatable: BTreeMap<String, String>,
    pub pod_cidr: Cidr,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<TaintConfig>,
    pub unschedulable: bool,
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let base: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 30 {
            return None;
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Some(Cidr {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
        })
    }

    /// Usable host addresses (network and broadcast excluded), in order.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u32 << (32 - u32::from(self.prefix));
        let base = u32::from(self.base);
        (1..size.saturating_sub(1)).map(move |i| Ipv4Addr::from(base + i))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl SimConfig {
    /// Read a TOML file.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parse TOML text (`origin` names it in errors).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: SimConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            source: Box::new(e),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The default shape with kubelet delays of 5–20 ms, for tests.
    pub fn fast() -> Self {
        SimConfig {
            kubelet_delay_min_ms: 5,
            kubelet_delay_max_ms: 20,
            job_backoff_ms: 10,
            ..SimConfig::default()
        }
    }

    /// Check ranges and quantities.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let [lo, hi] = self.node_port_range;
        if lo == 0 || lo > hi {
            return Err(ConfigError::Invalid(format!(
                "node_port_range [{lo}, {hi}] must be non-empty and start above 0"
            )));
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(ConfigError::Invalid(format!(
                "speed must be a positive number, not {}",
                self.speed
            )));
        }
        if self.watch_channel_capacity == 0 {
            return Err(ConfigError::Invalid(
                "watch_channel_capacity must be > 0".into(),
            ));
        }
        if self.watch_history == 0 {
            return Err(ConfigError::Invalid("watch_history must be > 0".into()));
        }
        let nodes = self.resolved_nodes()?;
        if nodes.is_empty() {
            return Err(ConfigError::Invalid("at least one node is required".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for n in &nodes {
            if !names.insert(n.name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate node name {:?}",
                    n.name
                )));
            }
            for (k, v) in &n.allocatable {
                Quantity::parse(v).map_err(|e| {
                    ConfigError::Invalid(format!("node {} resource {k}: {e}", n.name))
                })?;
            }
        }
        Ok(())
    }

    /// Nodes with defaults applied and pod CIDRs assigned.
    pub fn resolved_nodes(&self) -> Result<Vec<ResolvedNode>, ConfigError> {
        let list: Vec<NodeConfig> = match &self.nodes {
            NodesConfig::Count(n) => vec![NodeConfig::default(); *n],
            NodesConfig::List(l) => l.clone(),
        };
        let d = &self.node_defaults;
        if !(8..=30).contains(&d.pod_cidr_prefix) {
            return Err(ConfigError::Invalid(format!(
                "node_defaults.pod_cidr_prefix {} must be within 8..=30",
                d.pod_cidr_prefix
            )));
        }
        let block = 1u32 << (32 - u32::from(d.pod_cidr_prefix));
        let pool = u32::from(Ipv4Addr::new(10, 244, 0, 0));
        let mut out = Vec::with_capacity(list.len());
        for (i, n) in list.into_iter().enumerate() {
            let name = n
                .name
                .clone()
                .unwrap_or_else(|| format!("{}{}", d.name_prefix, i + 1));
            let pod_cidr = match &n.pod_cidr {
                Some(s) => Cidr::parse(s).ok_or_else(|| {
                    ConfigError::Invalid(format!("node {name}: bad pod_cidr {s:?}"))
                })?,
                None => Cidr {
                    base: Ipv4Addr::from(pool.wrapping_add(block.wrapping_mul(i as u32))),
                    prefix: d.pod_cidr_prefix,
                },
            };
            let mut allocatable = BTreeMap::new();
            allocatable.insert(
                "cpu".to_string(),
                n.cpu.clone().unwrap_or_else(|| d.cpu.clone()),
            );
            allocatable.insert(
                "memory".to_string(),
                n.memory.clone().unwrap_or_else(|| d.memory.clone()),
            );
            allocatable.insert(
                "ephemeral-storage".to_string(),
                n.ephemeral_storage
                    .clone()
                    .unwrap_or_else(|| d.ephemeral_storage.clone()),
            );
            allocatable.insert("pods".to_string(), n.pods.unwrap_or(d.pods).to_string());
            for (k, v) in n.extended.as_ref().unwrap_or(&d.extended) {
                allocatable.insert(k.clone(), v.clone());
            }
            out.push(ResolvedNode {
                name,
                allocatable,
                pod_cidr,
                labels: n.labels.clone(),
                taints: n.taints.clone(),
                unschedulable: n.unschedulable,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shape_holds_200_investigations() {
        let cfg = SimConfig::default();
        let nodes = cfg.resolved_nodes().expect("default resolves");
        let gpus: i128 = nodes
            .iter()
            .map(|n| {
                Quantity::parse(&n.allocatable["nvidia.com/gpu.shared"])
                    .map(|q| q.units())
                    .unwrap_or(0)
            })
            .sum();
        let pods: i128 = nodes
            .iter()
            .map(|n| {
                Quantity::parse(&n.allocatable["pods"])
                    .map(|q| q.units())
                    .unwrap_or(0)
            })
            .sum();
        assert!(gpus >= 200 && pods >= 400, "gpus {gpus} pods {pods}");
        assert!(cfg.node_port_range[0] <= 12300 && cfg.node_port_range[1] >= 12999);
        assert!(cfg.kubelet_delay_min_ms > 0);
        assert_eq!(nodes[1].pod_cidr.to_string(), "10.244.1.0/24");
    }

    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```toml\n").expect("toml block") + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("block end");
        // the example shows both node forms; keep the list form only
        let text = readme[start..end].replace("nodes = 4 ", "# nodes = 4 ");
        let cfg = SimConfig::from_toml_str(&text, "README.md").expect("README example is valid");
        assert_eq!(
            cfg.resolved_nodes().expect("nodes")[0]
                .pod_cidr
                .hosts()
                .count(),
            30
        );
    }

    #[test]
    fn parses_toml_both_node_forms() {
        let cfg =
            SimConfig::from_toml_str("nodes = 2\n[node_defaults]\npods = 5\n", "t").expect("count");
        assert_eq!(cfg.resolved_nodes().expect("ok").len(), 2);
        let cfg = SimConfig::from_toml_str(
            "[[nodes]]\nname = \"a\"\npod_cidr = \"10.1.0.0/27\"\nextended = { \"nvidia.com/gpu.shared\" = \"8\" }\n",
            "t",
        )
        .expect("list");
        let n = cfg.resolved_nodes().expect("ok");
        assert_eq!(n[0].pod_cidr.hosts().count(), 30);
        assert!(SimConfig::from_toml_str("bogus = 1", "t").is_err());
    }
}
