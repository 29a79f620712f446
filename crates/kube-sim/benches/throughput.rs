//! kube-sim throughput benchmark (not a test; `harness = false`).
//!
//! `cargo bench -p kube-sim --bench throughput [-- --jobs N --nodes N --inflight N]`
//!
//! In one process: a kube-sim on 127.0.0.1 (zero kubelet delay) and a kube-rs client.
//! 1. Ceiling: `GET /version` through kube-rs with the same concurrency, for a fixed time.
//! 2. Jobs: N Jobs (one pod with one `nvidia.com/gpu.shared` each) created with
//!    `inflight` requests in flight; one pod watch counts pods reaching Running.
//!
//! Reports Jobs/s to Running (also as a ratio to the ceiling), create latency p50/p99, the ceiling's rate and latency,
//! and peak RSS (VmHWM of this process: simulator and client together).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, Config};
use kube_sim::config::NodesConfig;
use kube_sim::{KubeSim, SimConfig};
use serde_json::json;

struct Args {
    jobs: usize,
    nodes: usize,
    inflight: usize,
    ceiling_secs: u64,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        jobs: 2000,
        nodes: 20,
        inflight: 32,
        ceiling_secs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> anyhow::Result<usize> {
            let v = it
                .next()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?;
            Ok(v.parse()?)
        };
        match arg.as_str() {
            "--jobs" => a.jobs = value("--jobs")?,
            "--nodes" => a.nodes = value("--nodes")?,
            "--inflight" => a.inflight = value("--inflight")?.max(1),
            "--ceiling-secs" => a.ceiling_secs = value("--ceiling-secs")? as u64,
            // `cargo bench` passes `--bench`; ignore other flags
            _ => {}
        }
    }
    Ok(a)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn vm_hwm_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn job(i: usize) -> anyhow::Result<Job> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": format!("bench-{i:05}")},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "registry.local/grpc:1.0",
                "resources": {"limits": {"nvidia.com/gpu.shared": "1"}}}]}}}
    }))?)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // e.g. RUST_LOG=kube_sim=debug shows slow controller reconciles
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let per_node = args.jobs.div_ceil(args.nodes.max(1)) + 10;
    let mut config = SimConfig {
        nodes: NodesConfig::Count(args.nodes),
        kubelet_delay_min_ms: 0,
        kubelet_delay_max_ms: 0,
        stream_ports: false,
        request_log: false,
        ..SimConfig::default()
    };
    config.namespaces.push("bench".into());
    config.node_defaults.pods = per_node as u32;
    config
        .node_defaults
        .extended
        .insert("nvidia.com/gpu.shared".into(), per_node.to_string());
    // enough pod IPs per node
    config.node_defaults.pod_cidr_prefix = if per_node > 250 { 22 } else { 24 };

    let sim = KubeSim::start(config).await?;
    let mut cfg = Config::new(sim.url().parse()?);
    cfg.default_namespace = "bench".into();
    let client = Client::try_from(cfg)?;

    println!(
        "kube-sim throughput: {} jobs, {} nodes, {} in flight, {} worker threads",
        args.jobs,
        args.nodes,
        args.inflight,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. Ceiling: a trivial route, same client, same concurrency.
    let ceiling_end = Instant::now() + Duration::from_secs(args.ceiling_secs);
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = futures::stream::iter(0..args.inflight)
        .map(|_| {
            let client = client.clone();
            async move {
                let mut lat = Vec::new();
                while Instant::now() < ceiling_end {
                    let s = Instant::now();
                    client.apiserver_version().await?;
                    lat.push(s.elapsed());
                }
                anyhow::Ok(lat)
            }
        })
        .buffer_unordered(args.inflight)
        .try_concat()
        .await?;
    let ceiling_elapsed = t0.elapsed();
    lat.sort();
    let ceiling_rate = lat.len() as f64 / ceiling_elapsed.as_secs_f64();
    let ceiling_p50 = percentile(&lat, 0.5);
    println!(
        "ceiling  GET /version: {:.0} req/s ({} requests in {:.2} s), p50 {}, p99 {}",
        ceiling_rate,
        lat.len(),
        ceiling_elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );

    // 2. Jobs to Running, seen by one pod watch.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let want = args.jobs;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let watch = tokio::spawn(async move {
        let mut ready_tx = Some(ready_tx);
        let mut running: HashSet<String> = HashSet::new();
        let mut stream = std::pin::pin!(watcher(pods, watcher::Config::default()));
        while let Some(ev) = stream.try_next().await? {
            let objs: Vec<Pod> = match ev {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => vec![p],
                watcher::Event::InitDone => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                    vec![]
                }
                _ => vec![],
            };
            for p in objs {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                if phase == Some("Running") {
                    running.insert(p.metadata.name.unwrap_or_default());
                }
            }
            if running.len() >= want {
                return anyhow::Ok(Instant::now());
            }
        }
        anyhow::bail!("pod watch ended with {} Running", running.len())
    });
    ready_rx.await?;

    let jobs: Api<Job> = Api::namespaced(client.clone(), "bench");
    let t0 = Instant::now();
    let mut lat: Vec<Duration> = futures::stream::iter(0..args.jobs)
        .map(|i| {
            let jobs = jobs.clone();
            async move {
                let j = job(i)?;
                let s = Instant::now();
                jobs.create(&PostParams::default(), &j).await?;
                if std::env::var_os("BENCH_TRACE").is_some() {
                    eprintln!(
                        "{} {:.1} {:.1}",
                        i,
                        s.duration_since(t0).as_secs_f64() * 1000.0,
                        s.elapsed().as_secs_f64() * 1000.0
                    );
                }
                anyhow::Ok(s.elapsed())
            }
        })
        .buffer_unordered(args.inflight)
        .try_collect()
        .await?;
    let created = t0.elapsed();
    let done = tokio::time::timeout(Duration::from_secs(300), watch)
        .await
        .map_err(|_| anyhow::anyhow!("pods not Running within 300 s"))???;
    let to_running = done.duration_since(t0);
    lat.sort();
    println!(
        "jobs     created in {:.2} s ({:.0} creates/s); all {} pods Running after {:.2} s",
        created.as_secs_f64(),
        args.jobs as f64 / created.as_secs_f64(),
        args.jobs,
        to_running.as_secs_f64()
    );
    // Jobs/s as a share of the same run's ceiling: comparable across machines and loads.
    let jobs_per_s = args.jobs as f64 / to_running.as_secs_f64();
    println!(
        "RESULT ratio_to_ceiling={:.4} jobs_per_s_to_running={:.0} create_p50_ms={:.2} create_p99_ms={:.2} create_max_ms={:.2} ceiling_req_per_s={:.0} ceiling_p50_ms={:.2} peak_rss_mb={:.0}",
        jobs_per_s / ceiling_rate,
        jobs_per_s,
        percentile(&lat, 0.5).as_secs_f64() * 1000.0,
        percentile(&lat, 0.99).as_secs_f64() * 1000.0,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        ceiling_rate,
        ceiling_p50.as_secs_f64() * 1000.0,
        vm_hwm_mb().unwrap_or(f64::NAN)
    );
    sim.shutdown().await;
    Ok(())
}
