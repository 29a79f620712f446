//! Many investigations at once: a capacity batch (bounded client concurrency, one
//! shared pod watch for the whole batch, not a watch per investigation), a churn
//! (workers opening and cancelling until the soak duration is over) and the parallel
//! cleanup of a scenario's investigations. What they reached is judged in `spec`
//! (`capacity::CapacityReport`, `soak::ChurnReport`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use tokio::sync::{Notify, Semaphore};

use crate::run::suite::Suite;
use crate::spec::capacity::CapacityReport;
use crate::spec::investigation::ConfigureRequest;
use crate::spec::metrics::{Stage, kind};
use crate::spec::soak::ChurnReport;
use crate::target::kube::{StageTracker, pod_phase};
use crate::target::net;

/// Counters of a batch in progress, shown on a terminal.
#[derive(Default)]
struct Progress {
    opened: std::sync::atomic::AtomicUsize,
    running: std::sync::atomic::AtomicUsize,
    reachable: std::sync::atomic::AtomicUsize,
}

/// Redraws one status line on stderr every half second while the batch runs, only when
/// stderr is a terminal (CI logs and cucumber's own output stay untouched).
fn show_progress(
    n: usize,
    p: Arc<Progress>,
    started: Instant,
) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            eprint!(
                "\r  opened {}/{n} · running {} · reachable {} · {:.1}s ",
                p.opened.load(Relaxed),
                p.running.load(Relaxed),
                p.reachable.load(Relaxed),
                started.elapsed().as_secs_f64()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// Running pods of the namespace by `job-name`, kept by one watch.
#[derive(Default)]
struct RunningPods {
    by_job: Mutex<BTreeMap<String, Instant>>,
    changed: Notify,
}

impl Suite {
    /// Opens `n` live investigations with at most `concurrency` configures in flight,
    /// then waits for each pod to run and each stream port to accept TCP.
    pub async fn open_many(
        self: &Arc<Self>,
        scenario: &str,
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<CapacityReport> {
        self.held.check_fits(n)?;
        let started = Instant::now();
        let requests_before = self.cluster.requests_sent();
        let pods = Arc::new(RunningPods::default());
        // The identities of what the configures create, instead of two GETs each.
        let objects = Arc::new(self.cluster.watch_objects().await?);
        // Aborted when the batch ends, also early (an error, an abandoned scenario).
        let _watch = AbortOnDrop(tokio::spawn(watch_running(pods.clone(), self.clone())));
        let _job_watch = AbortOnDrop(tokio::spawn(watch_jobs_created(self.clone())));
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let progress = Arc::new(Progress::default());
        let shown = show_progress(n, progress.clone(), started);
        let d = self.config.profile.deadlines.clone();
        let waits = futures::stream::iter(0..n)
            .map(|_| {
                let (suite, gate, pods) = (self.clone(), gate.clone(), pods.clone());
                let objects = objects.clone();
                let progress = progress.clone();
                let scenario = scenario.to_string();
                async move {
                    let permit = gate.acquire_owned().await;
                    let (resp, opened) = suite
                        .open_investigation_watched(
                            &scenario,
                            &ConfigureRequest::live(),
                            Some(&objects),
                        )
                        .await?;
                    drop(permit);
                    let latency = resp.latency;
                    let Some(o) = opened else {
                        return Ok::<_, anyhow::Error>((latency, Err(resp), None, None));
                    };
                    let answered = Instant::now();
                    progress
                        .opened
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let job = o.objects().stream_job;
                    let mut pod_start = None;
                    let outcome = match wait_running(&pods, &job, d.pod_running).await {
                        None => Err(format!(
                            "pod of {job} not Running within {:?}",
                            d.pod_running
                        )),
                        Some(at) => {
                            let took = at.saturating_duration_since(answered);
                            progress
                                .running
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            pod_start = Some(took);
                            match net::stream_url_ip(&o.stream_url) {
                                Err(e) => Err(e.to_string()),
                                Ok(ip) => {
                                    match net::port_accepts_tcp(ip, o.stream_port, d.port_reachable)
                                        .await
                                    {
                                        Ok(t) => {
                                            progress
                                                .reachable
                                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                            suite.metrics.record(kind::PORT_REACHABLE, t);
                                            Ok(())
                                        }
                                        Err(e) => Err(e.to_string()),
                                    }
                                }
                            }
                        }
                    };
                    Ok((latency, Ok(o), Some(outcome), pod_start))
                }
            })
            .buffer_unordered(n.max(1))
            .collect::<Vec<_>>()
            .await;
        if let Some(h) = shown {
            h.abort();
            eprint!("\r{:60}\r", "");
        }
        let mut report = CapacityReport {
            wanted: n,
            ..Default::default()
        };
        for w in waits {
            let (latency, result, outcome, pod_start) = w?;
            report.configure.push(latency);
            report.pod_start.extend(pod_start);
            match (result, outcome) {
                (Err(resp), _) => report.refused.push(resp),
                (Ok(o), outcome) => {
                    match outcome {
                        Some(Ok(())) => {
                            report.reachable.insert(o.job_id.clone());
                        }
                        Some(Err(why)) => {
                            report.stuck.insert(o.job_id.clone(), why);
                        }
                        None => {}
                    }
                    report.opened.push(o);
                }
            }
        }
        report.elapsed = started.elapsed();
        report.k8s_requests = self.cluster.requests_sent() - requests_before;
        Ok(report)
    }

    /// Deletes every investigation a scenario opened, `parallel` at a time, and then
    /// waits for all of them to be gone at once: the wait (pods terminating) is most
    /// of a deletion, and holding a slot of `parallel` through it made a cleanup of
    /// 200 take ⌈200 / parallel⌉ terminations one after another. The wait has two
    /// stages on the same watches and under one deadline: `objects_gone` is called once
    /// every Job and Service is seen gone (not when one is left: the cleanup then
    /// fails), before the wait for their pods.
    pub async fn cleanup_many(
        &self,
        scenario: &str,
        parallel: usize,
        objects_gone: impl FnOnce(),
    ) -> anyhow::Result<()> {
        let ids = self.ledger.open_of(scenario);
        if ids.is_empty() {
            objects_gone();
            return Ok(());
        }
        let deadline = self.config.profile.deadlines.deletion;
        // One set of watches for the whole cleanup, listed after every object existed.
        let mirror = &self.cluster.watch_namespace().await?;
        let deleted = futures::stream::iter(ids)
            .map(|job_id| async move {
                let objects = crate::target::names::InvestigationObjects::of(&job_id);
                let r = match self.owned_objects(&job_id, mirror).await {
                    Ok(owned) => self
                        .cluster
                        .delete_investigation_unwaited(mirror, &objects, &owned)
                        .await
                        .map(|not_ours| (objects, owned, not_ours))
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                };
                (job_id, r)
            })
            .buffer_unordered(parallel.max(1))
            .collect::<Vec<_>>()
            .await;
        let waits_from = Instant::now();
        let deleted =
            futures::future::join_all(deleted.into_iter().map(|(job_id, r)| async move {
                let r = match r {
                    Ok((objects, owned, not_ours)) => mirror
                        .until_objects_gone(&objects, &owned, deadline)
                        .await
                        .map(|()| (objects, owned, not_ours))
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                };
                (job_id, r)
            }))
            .await;
        if deleted.iter().all(|(_, r)| r.is_ok()) {
            objects_gone();
        }
        let deadline = deadline.saturating_sub(waits_from.elapsed());
        let results =
            futures::future::join_all(deleted.into_iter().map(|(job_id, r)| async move {
                let r = match r {
                    Ok((objects, owned, not_ours)) => mirror
                        .until_left_empty(&objects, &owned, deadline)
                        .await
                        .and(not_ours.map_or(Ok(()), Err))
                        .map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                };
                (job_id, r)
            }))
            .await;
        let mut failures = Vec::new();
        for (job_id, r) in results {
            match r {
                Ok(()) => {
                    self.held.release(&job_id);
                    self.ledger.cleaned(scenario, &job_id)?
                }
                Err(e) => failures.push(format!("{job_id}: {e}")),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("cleanup left objects behind: {}", failures.join("; "))
        }
    }

    /// Churns for `duration` with `workers` clients, each opening an investigation and
    /// cancelling it as soon as it is open.
    pub async fn churn(
        self: &Arc<Self>,
        scenario: &str,
        duration: Duration,
        workers: usize,
    ) -> anyhow::Result<ChurnReport> {
        let started = Instant::now();
        let results = futures::stream::iter(0..workers.max(1))
            .map(|_| {
                let suite = self.clone();
                let scenario = scenario.to_string();
                async move {
                    let mut r = ChurnReport::default();
                    while started.elapsed() < duration {
                        let sent = started.elapsed();
                        let (resp, opened) = match suite
                            .open_investigation(&scenario, &ConfigureRequest::live())
                            .await
                        {
                            Ok(x) => x,
                            Err(e) => {
                                r.errors.push(format!("{e:#}"));
                                continue;
                            }
                        };
                        r.latencies.push((sent, resp.latency));
                        let Some(o) = opened else {
                            r.errors.push(resp.describe());
                            continue;
                        };
                        r.ports.insert(o.stream_port);
                        r.opened.push(o.job_id.clone());
                        if let Err(e) = suite.cancel(&o.job_id).await {
                            r.errors.push(format!("cancel {}: {e:#}", o.job_id));
                        }
                    }
                    r
                }
            })
            .buffer_unordered(workers.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut all = ChurnReport {
            duration: started.elapsed(),
            ..Default::default()
        };
        for r in results {
            all.opened.extend(r.opened);
            all.errors.extend(r.errors);
            all.latencies.extend(r.latencies);
            all.ports.extend(r.ports);
        }
        all.latencies.sort_by_key(|(t, _)| *t);
        Ok(all)
    }
}

async fn wait_running(pods: &RunningPods, job: &str, deadline: Duration) -> Option<Instant> {
    tokio::time::timeout(deadline, async {
        loop {
            let notified = pods.changed.notified();
            if let Some(at) = pods.by_job.lock().ok().and_then(|m| m.get(job).copied()) {
                return at;
            }
            notified.await;
        }
    })
    .await
    .ok()
}

/// Keeps `pods` (Running pods by `job-name`) and reports the stage transitions it sees
/// happen to the run's metrics.
async fn watch_running(pods: Arc<RunningPods>, suite: Arc<Suite>) {
    let stream = suite
        .cluster
        .watch_kind::<Pod>(watcher::Config::default().labels("job-name"));
    futures::pin_mut!(stream);
    let mut trackers: BTreeMap<String, StageTracker> = BTreeMap::new();
    while let Ok(Some(ev)) = stream.try_next().await {
        let p = match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
            watcher::Event::Delete(p) => {
                trackers.remove(p.metadata.name.as_deref().unwrap_or_default());
                continue;
            }
            _ => continue,
        };
        let now = Instant::now();
        let Some(job) = p.metadata.labels.as_ref().and_then(|l| l.get("job-name")) else {
            continue;
        };
        let (scheduled, started) = trackers
            .entry(p.metadata.name.clone().unwrap_or_default())
            .or_default()
            .update(&p);
        if let Some(job_id) = job.strip_prefix("grpc-job-") {
            if scheduled {
                suite.metrics.observe(job_id, Stage::Scheduled, now);
            }
            if started {
                suite.metrics.observe(job_id, Stage::Started, now);
            }
        }
        if pod_phase(&p) == "Running"
            && let Ok(mut m) = pods.by_job.lock()
        {
            m.entry(job.clone()).or_insert(now);
        }
        pods.changed.notify_waiters();
    }
}

/// Reports to the run's metrics when an investigation's Job appears (a `grpc-job-*`
/// first seen after the watch's initial list).
async fn watch_jobs_created(suite: Arc<Suite>) {
    let stream = suite.cluster.watch_kind::<Job>(watcher::Config::default());
    futures::pin_mut!(stream);
    let mut known: BTreeSet<String> = BTreeSet::new();
    while let Ok(Some(ev)) = stream.try_next().await {
        let (j, live) = match ev {
            watcher::Event::Apply(j) => (j, true),
            watcher::Event::InitApply(j) => (j, false),
            _ => continue,
        };
        let name = j.metadata.name.unwrap_or_default();
        if known.insert(name.clone())
            && live
            && let Some(job_id) = name.strip_prefix("grpc-job-")
        {
            suite
                .metrics
                .observe(job_id, Stage::JobCreated, Instant::now());
        }
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
