//! `focus-sandbox`: the reference Focus Server with kube-sim, in one process.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use focus_sandbox::{Defect, Sandbox, SandboxOptions, ServerConfig, ServerProfile};
use serde::Deserialize;

/// A reference Focus Server that opens one Kubernetes Job per investigation.
#[derive(Debug, Parser)]
#[command(name = "focus-sandbox", version)]
struct Args {
    /// Behaviour profile: as-required or as-observed.
    #[arg(long, default_value = "as-required")]
    profile: ServerProfile,
    /// A named defect to inject (repeatable).
    #[arg(long = "defect")]
    defects: Vec<Defect>,
    /// Port on 127.0.0.1 (0: any).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Path prefix, e.g. /focus-server.
    #[arg(long)]
    prefix: Option<String>,
    /// Serve HTTPS with a self-signed certificate.
    #[arg(long)]
    tls: bool,
    /// TOML file with `[server]` (sandbox tunables) and `[sim]` (kube-sim) tables.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use this existing cluster instead of starting kube-sim.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Write the kubeconfig of the cluster in use here.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Namespace of the investigations.
    #[arg(long, default_value = "panda")]
    namespace: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConfigFile {
    server: Option<ServerConfig>,
    sim: Option<kube_sim::SimConfig>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => ConfigFile::default(),
    };
    let opts = SandboxOptions {
        profile: args.profile,
        defects: args.defects,
        prefix: args.prefix,
        tls: args.tls,
        sim: file.sim.unwrap_or_default(),
        kubeconfig: args.kubeconfig,
        kubeconfig_out: args.kubeconfig_out,
        namespace: args.namespace,
        port: args.port,
        server: file.server.unwrap_or_default(),
    };
    let sandbox = Sandbox::start(opts).await?;
    println!("Focus Server API: {}", sandbox.api_url());
    println!("kubeconfig:       {}", sandbox.kubeconfig_path().display());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}
