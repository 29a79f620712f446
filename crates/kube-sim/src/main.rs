//! `kube-sim`: run a simulated Kubernetes API server until Ctrl-C.

use std::path::PathBuf;

use clap::Parser;

/// A simulated Kubernetes cluster that kube-rs and kubectl talk to over HTTP.
#[derive(Debug, Parser)]
#[command(name = "kube-sim", version)]
struct Args {
    /// Cluster shape and timing (TOML); defaults when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// API port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write a kubeconfig for the simulator here.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Append every API request (verb, resource, namespace, ...) as a JSON line here.
    #[arg(long)]
    request_log: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(p) => kube_sim::SimConfig::from_toml_file(p)?,
        None => kube_sim::SimConfig::default(),
    };
    if args.request_log.is_some() {
        config.request_log_file = args.request_log.clone();
    }
    let sim = kube_sim::KubeSim::start_on(config, args.port).await?;
    if let Some(p) = &args.kubeconfig_out {
        sim.write_kubeconfig(p)?;
        tracing::info!(path = %p.display(), "kubeconfig written");
    }
    println!("kube-sim listening on {}", sim.url());
    println!("node IPs: {:?}", sim.node_ips());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
