//! Opening many investigations at once and measuring how far the environment gets:
//! bounded client concurrency, one shared pod watch for the whole batch (not a watch
//! per investigation), and the first reason the environment stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::runtime::watcher;
use tokio::sync::{Notify, Semaphore};

use crate::report::metrics::{Stage, kind};
use crate::run::suite::Suite;
use crate::spec::investigation::{ConfigureRequest, OpenedInvestigation};
use crate::target::focus_api::ApiResponse;
use crate::target::kube::{StageTracker, pod_phase};
use crate::target::net;

/// Whether a refusal of configure says that a quota or resource is exhausted, in the
/// server's words (`words`, the profile's `expect.quota_refusal`): a 503 for another
/// reason (overload, a missing stream) is no quota refusal.
pub fn refused_for_quota(resp: &ApiResponse, words: &regex::Regex) -> Result<(), String> {
    if resp.status != 503 {
        return Err(format!("expected a 503 refusal: {}", resp.describe()));
    }
    let said = resp.error_text();
    if words.is_match(&said) {
        Ok(())
    } else {
        Err(format!(
            "the 503 does not say the quota is exhausted (expect.quota_refusal `{words}`): {}",
            resp.describe()
        ))
    }
}

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

/// What a batch reached.
#[derive(Debug, Default)]
pub struct CapacityReport {
    pub wanted: usize,
    pub opened: Vec<OpenedInvestigation>,
    /// Answers other than 200.
    pub refused: Vec<ApiResponse>,
    /// job_ids whose pod ran and whose stream port accepted TCP.
    pub reachable: BTreeSet<String>,
    /// Why an investigation did not get there, per job_id (pod or port).
    pub stuck: BTreeMap<String, String>,
    pub elapsed: Duration,
    /// POST /configure latencies of the batch.
    pub configure: Vec<Duration>,
    /// Configure answered → pod Running, of the pods that ran.
    pub pod_start: Vec<Duration>,
    /// Kubernetes API requests the suite sent for the batch (cleanup excluded).
    pub k8s_requests: u64,
}

impl CapacityReport {
    /// Investigations simultaneously Running with a reachable stream port.
    pub fn ceiling(&self) -> usize {
        self.reachable.len()
    }

    pub fn distinct_ports(&self) -> bool {
        let ports: BTreeSet<u16> = self.opened.iter().map(|o| o.stream_port).collect();
        let ids: BTreeSet<&str> = self.opened.iter().map(|o| o.job_id.as_str()).collect();
        ports.len() == self.opened.len() && ids.len() == self.opened.len()
    }
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
        let watch = tokio::spawn(watch_running(pods.clone(), self.clone()));
        let job_watch = tokio::spawn(watch_jobs_created(self.clone()));
        // The identities of what the configures create, instead of two GETs each.
        let objects = Arc::new(self.cluster.watch_objects().await?);
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
        watch.abort();
        job_watch.abort();
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

    /// The first reason the batch stopped short, in the environment's own words:
    /// the API's refusal, a FailedScheduling/FailedCreate event, or the stuck step.
    pub async fn first_reason(&self, report: &CapacityReport) -> String {
        if let Some(r) = report.refused.first() {
            return format!("{} from the API: {}", r.status, r.error_text());
        }
        let Some((job_id, why)) = report.stuck.iter().next() else {
            return "no reason: every investigation got there".into();
        };
        let warnings: Vec<Event> = self
            .cluster
            .list_kind(&ListParams::default().fields("type=Warning"))
            .await
            .unwrap_or_default();
        // The stream pod's own words first (the scheduler, the quota, the CNI's
        // FailedCreatePodSandBox when pod IPs run out), then its cleanup job's.
        let about = |e: &Event, job: &str| {
            e.involved_object
                .name
                .as_deref()
                .is_some_and(|n| names_job_or_its_pod(n, job))
        };
        let stream = |e: &&Event| about(e, &format!("grpc-job-{job_id}"));
        let mine = |e: &&Event| about(e, &format!("cleanup-job-{job_id}"));
        let any_stuck = |e: &&Event| {
            report
                .stuck
                .keys()
                .any(|j| about(e, &format!("grpc-job-{j}")))
        };
        let ev = warnings
            .iter()
            .find(stream)
            .or_else(|| warnings.iter().find(mine))
            .or_else(|| warnings.iter().find(any_stuck));
        match ev {
            Some(e) => format!(
                "{} {}: {}",
                e.reason.as_deref().unwrap_or("?"),
                e.involved_object.name.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or("")
            ),
            None => format!("{job_id}: {why}"),
        }
    }

    /// Deletes every investigation a scenario opened, `parallel` at a time, and then
    /// waits for all of them to be gone at once: the wait (pods terminating) is most
    /// of a deletion, and holding a slot of `parallel` through it made a cleanup of
    /// 200 take ⌈200 / parallel⌉ terminations one after another.
    pub async fn cleanup_many(&self, scenario: &str, parallel: usize) -> anyhow::Result<()> {
        let ids = self.ledger.open_of(scenario);
        if ids.is_empty() {
            return Ok(());
        }
        let deadline = self.config.profile.deadlines.deletion;
        // One set of watches for the whole cleanup, listed after every object existed.
        let mirror = &self.cluster.watch_namespace().await?;
        let deleted = futures::stream::iter(ids)
            .map(|job_id| async move {
                let objects = crate::spec::investigation::InvestigationObjects::of(&job_id);
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
}

/// Whether `name` is the Job `job` or one of its pods (`<job>-<suffix>`), never
/// another Job whose name merely starts the same (`grpc-job-1-16` vs `grpc-job-1-160`).
fn names_job_or_its_pod(name: &str, job: &str) -> bool {
    name == job
        || name
            .strip_prefix(job)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|suffix| !suffix.is_empty() && !suffix.contains('-'))
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

#[cfg(test)]
mod tests {
    use super::{names_job_or_its_pod, refused_for_quota};
    use crate::target::focus_api::ApiResponse;

    fn answer(status: u16, error: &str) -> ApiResponse {
        ApiResponse {
            method: "POST",
            path: "/configure".into(),
            request_body: None,
            status,
            body: serde_json::json!({ "error": error }),
            latency: std::time::Duration::ZERO,
            headers: Vec::new(),
        }
    }

    /// The old step passed any 503; one for another reason than the quota fails.
    #[test]
    fn only_a_503_in_the_quota_words_is_a_quota_refusal() {
        let words = regex::Regex::new("exceeded quota").expect("regex");
        assert!(refused_for_quota(&answer(503, "pods: exceeded quota: gpu"), &words).is_ok());
        let e = refused_for_quota(
            &answer(503, "Service overloaded: the job could not be launched"),
            &words,
        )
        .expect_err("a 503 for overload is no quota refusal");
        assert!(e.contains("expect.quota_refusal"), "{e}");
        assert!(refused_for_quota(&answer(500, "exceeded quota"), &words).is_err());
    }

    #[test]
    fn events_are_matched_to_their_job_exactly() {
        assert!(names_job_or_its_pod("grpc-job-1-16", "grpc-job-1-16"));
        assert!(names_job_or_its_pod("grpc-job-1-16-x7k2p", "grpc-job-1-16"));
        assert!(!names_job_or_its_pod("grpc-job-1-160", "grpc-job-1-16"));
        assert!(!names_job_or_its_pod(
            "grpc-job-1-160-x7k2p",
            "grpc-job-1-16"
        ));
        assert!(!names_job_or_its_pod("grpc-job-1-16-", "grpc-job-1-16"));
    }
}
