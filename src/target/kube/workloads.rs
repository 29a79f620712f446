//! Pods and Jobs by condition, and Focus Server's own pods: their health, the
//! investigations they hold, and every investigation object by identity.

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// Deletes one pod by exact name (fault injection on the run's own investigation).
    pub async fn delete_pod(&self, name: &str) -> Result<()> {
        self.delete_ignoring_absent::<Pod>(name, &DeleteParams::default())
            .await
    }

    /// Waits by watch until the Job has a True condition of this type; returns the Job.
    pub async fn wait_job_condition(
        &self,
        name: &str,
        type_: &str,
        deadline: Duration,
    ) -> Result<Job> {
        let what = format!("Job {name} to have condition {type_}");
        let t = type_.to_string();
        let cond = move |j: Option<&Job>| {
            j.is_some_and(|j| true_conditions(j).iter().any(|(c, _)| *c == t))
        };
        let found = self.job_when(name, &what, deadline, cond).await?;
        found.ok_or_else(|| unmet(what, "the Job is gone"))
    }

    /// Waits by watch, under `deadline`, until `cond` holds for the Job of this name
    /// (None: there is none); returns the Job as it was then. The one condition wait
    /// of Jobs: [`Cluster::wait_job_condition`], [`Cluster::wait_for_job`] and
    /// [`Cluster::wait_job_completes`] differ only in their condition.
    async fn job_when(
        &self,
        name: &str,
        what: &str,
        deadline: Duration,
        cond: impl Fn(Option<&Job>) -> bool,
    ) -> Result<Option<Job>> {
        within(
            deadline,
            what,
            await_condition(self.api::<Job>(), name, cond),
        )
        .await?
        .map_err(condition_err(what))
    }
}

/// Label of Focus Server's own pods.
pub const FOCUS_SERVER_SELECTOR: &str = "app.kubernetes.io/name=panda-panda-focus-server";

/// One Focus Server pod: identity, phase and container restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPod {
    pub name: String,
    pub uid: String,
    pub phase: String,
    pub restarts: i32,
}

impl Cluster {
    /// Focus Server's own pods (by their standard label).
    pub async fn focus_server_pods(&self) -> Result<Vec<ServerPod>> {
        let lp = ListParams::default().labels(FOCUS_SERVER_SELECTOR);
        let list = self
            .request("list Focus Server pods", self.api::<Pod>().list(&lp))
            .await?;
        Ok(list
            .items
            .iter()
            .map(|p| ServerPod {
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                phase: pod_phase(p).to_string(),
                restarts: p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .map(|cs| cs.iter().map(|c| c.restart_count).sum())
                    .unwrap_or(0),
            })
            .collect())
    }

    /// Waits by watch until a Focus Server pod is Running; returns all of them then.
    pub async fn wait_focus_server_running(&self, deadline: Duration) -> Result<Vec<ServerPod>> {
        let cfg = watcher::Config::default().labels(FOCUS_SERVER_SELECTOR);
        let running = watcher(self.api::<Pod>(), cfg)
            .default_backoff()
            .applied_objects()
            .try_filter(|p| futures::future::ready(pod_phase(p) == "Running"));
        futures::pin_mut!(running);
        match within(deadline, "a Focus Server pod to be Running", running.next()).await? {
            Some(Ok(_)) => self.focus_server_pods().await,
            Some(Err(e)) => Err(watch_err("watch Focus Server pods")(e)),
            None => Err(unmet("watch Focus Server pods", "the watch ended")),
        }
    }

    /// job_ids of every investigation object in the namespace.
    pub async fn investigation_ids(&self) -> Result<std::collections::BTreeSet<String>> {
        Ok(self
            .investigation_objects_since(jiff::Timestamp::UNIX_EPOCH)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect())
    }

    /// Every investigation object (Jobs and Services) by identity: `Kind/name` → uid.
    pub async fn investigation_object_uids(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let (jobs, services) = self.jobs_and_services().await?;
        let metas = jobs
            .iter()
            .map(|j| ("Job", &j.metadata))
            .chain(services.iter().map(|s| ("Service", &s.metadata)));
        Ok(metas
            .filter_map(|(kind, m)| {
                let name = m.name.as_deref()?;
                job_id_of(name)?;
                Some((format!("{kind}/{name}"), m.uid.clone().unwrap_or_default()))
            })
            .collect())
    }
}

impl Cluster {
    /// Waits by watch until the Job exists.
    pub async fn wait_for_job(&self, name: &str, deadline: Duration) -> Result<Job> {
        let what = format!("Job {name} to appear");
        let found = self
            .job_when(name, &what, deadline, |j: Option<&Job>| j.is_some())
            .await?;
        found.ok_or_else(|| unmet(what, "the watch ended without the Job"))
    }

    /// Waits by watch until a pod of the Job is Running; returns that pod.
    pub async fn wait_pod_running(&self, job: &str, deadline: Duration) -> Result<Pod> {
        Ok(self.wait_pod_running_seen(job, deadline).await?.0)
    }

    /// Waits by watch until a pod of the Job is Running; returns that pod and the
    /// instants the watch saw it scheduled and Running as it happened (None for a
    /// stage it was already past when the watch listed it).
    pub async fn wait_pod_running_seen(
        &self,
        job: &str,
        deadline: Duration,
    ) -> Result<(Pod, PodStagesSeen)> {
        let what = format!("a pod of Job {job} to be Running");
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let events = watcher(self.api::<Pod>(), cfg).default_backoff();
        futures::pin_mut!(events);
        let mut seen = PodStagesSeen::default();
        let mut tracker = StageTracker::default();
        let found = within(deadline, &what, async {
            while let Some(ev) = events.next().await {
                let p = match ev? {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
                    _ => continue,
                };
                let now = std::time::Instant::now();
                let (scheduled, started) = tracker.update(&p);
                if scheduled {
                    seen.scheduled = Some(now);
                }
                if pod_phase(&p) == "Running" {
                    seen.started = started.then_some(now);
                    return Ok(Some(p));
                }
            }
            Ok::<_, watcher::Error>(None)
        })
        .await?;
        match found {
            Ok(Some(pod)) => Ok((pod, seen)),
            Err(e) => Err(watch_err(what)(e)),
            Ok(None) => Err(unmet(what, "the watch ended")),
        }
    }

    /// Waits by watch until the Job has completed (a True `Complete` condition). A Job
    /// that fails instead, or is gone before it completed (also when it is already
    /// gone), is an error saying so; the watch starts from the Job as it is now.
    pub async fn wait_job_completes(&self, name: &str, deadline: Duration) -> Result<()> {
        let what = format!("Job {name} to complete");
        let finished = |j: Option<&Job>| {
            j.is_none_or(|j| {
                true_conditions(j)
                    .iter()
                    .any(|(c, _)| c == "Complete" || c == "Failed")
            })
        };
        let job = self.job_when(name, &what, deadline, finished).await?;
        let Some(job) = job else {
            return Err(unmet(what, "the Job was gone before it was seen Complete"));
        };
        let conditions = true_conditions(&job);
        if conditions.iter().any(|(c, _)| c == "Complete") {
            return Ok(());
        }
        Err(unmet(
            what,
            format!("the Job finished without completing: {conditions:?}"),
        ))
    }
}

/// `(type, reason)` of the Job's conditions whose status is True.
pub fn true_conditions(job: &Job) -> Vec<(String, String)> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| c.status == "True")
                .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}
