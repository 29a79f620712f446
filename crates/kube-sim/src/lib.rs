//! kube-sim: a simulated Kubernetes API server that real clients (kube-rs, kubectl)
//! talk to unmodified over plain HTTP on 127.0.0.1, with a scheduler, kubelet, Job,
//! Deployment, garbage-collection and quota controllers, and real TCP listeners for
//! NodePort services on per-instance loopback node addresses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = kube_sim::KubeSim::start(kube_sim::SimConfig::fast()).await?;
//! sim.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // ... point kube::Client at sim.url() ...
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admission;
pub mod annotations;
pub mod api;
pub mod api_state;
pub mod clock;
pub mod config;
pub mod controllers;
pub mod events;
pub mod netblock;
pub mod patch;
pub mod podspec;
pub mod quantity;
pub mod quota;
pub mod resources;
pub mod selector;
mod sim;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;

pub use annotations::{
    ANNOTATION_CONNECTIONS, ANNOTATION_EXIT_CODE, ANNOTATION_IMAGE_PULL_ERROR,
    ANNOTATION_LISTENING, ANNOTATION_LOG, ANNOTATION_NEVER_READY, ANNOTATION_OOM_KILLED,
    ANNOTATION_POD_CIDR_EXHAUSTED, ANNOTATION_RUN_FOR,
};
pub use api::router;
pub use api_state::{ApiState, RequestRecord};
pub use config::SimConfig;
pub use sim::{DetachedKubeSim, KubeSim};

/// Errors starting or configuring the simulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot bind the API server: {0}")]
    Bind(std::io::Error),
    #[error(transparent)]
    Block(#[from] netblock::BlockError),
    #[error("cannot start the simulator's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot seed the cluster: {0}")]
    Seed(Box<status::ApiError>),
}
