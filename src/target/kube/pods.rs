//! The pods of an investigation's Job: listed by the exact `job-name` label, whose
//! they are (by owner uid and `controller-uid`), their stages as a watch saw them.

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// Pods of one Job, matched by the exact `job-name` label (never a substring).
    pub async fn pods_of_job(&self, job: &str) -> Result<Vec<Pod>> {
        let what = format!("list pods job-name={job}");
        let lp = ListParams::default().labels(&format!("job-name={job}"));
        let list = self.request(what, self.api::<Pod>().list(&lp)).await?;
        Ok(list.items)
    }

    /// Watches the Job's pods until, after a complete list, none is left (of those
    /// of the Job of `job_uid`, when given: owned by it or orphaned from it).
    pub(super) async fn until_no_pods(&self, job: &str, job_uid: Option<&str>) -> Result<()> {
        let counts = |p: &Pod| job_uid.is_none_or(|u| pod_of_owned_job(p, u));
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let mut live = BTreeSet::new();
        let mut relisting = BTreeSet::new();
        let mut listed = false;
        let events = watcher(self.api::<Pod>(), cfg).default_backoff();
        futures::pin_mut!(events);
        while let Some(ev) = events.next().await {
            let ev = ev.map_err(watch_err(format!("watch pods of {job}")))?;
            match ev {
                watcher::Event::Init => relisting.clear(),
                watcher::Event::InitApply(p) => {
                    if counts(&p) {
                        relisting.insert(p.metadata.name.unwrap_or_default());
                    }
                }
                watcher::Event::InitDone => {
                    live = std::mem::take(&mut relisting);
                    listed = true;
                }
                watcher::Event::Apply(p) => {
                    if counts(&p) {
                        live.insert(p.metadata.name.unwrap_or_default());
                    }
                }
                watcher::Event::Delete(p) => {
                    live.remove(&p.metadata.name.unwrap_or_default());
                }
            }
            if listed && live.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Whether the pod's owner is the Job of this uid.
pub(super) fn owned_by(p: &Pod, job_uid: &str) -> bool {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == job_uid)
}

/// Whether the pod is the owned Job's: owned by it, or an orphan (no owner left) that
/// the Job's controller made — its `controller-uid` label (set by the Job controller
/// and kept when the pod is orphaned) is the Job's uid. By identity, not by time: the
/// server hands job names out again, so another user's Job of the same name may have
/// orphaned pods too.
pub(super) fn pod_of_owned_job(p: &Pod, job_uid: &str) -> bool {
    if owned_by(p, job_uid) {
        return true;
    }
    let orphan = p
        .metadata
        .owner_references
        .as_ref()
        .is_none_or(Vec::is_empty);
    let made_by_job = p.metadata.labels.as_ref().is_some_and(|l| {
        ["batch.kubernetes.io/controller-uid", "controller-uid"]
            .iter()
            .any(|k| l.get(*k).is_some_and(|v| v == job_uid))
    });
    orphan && made_by_job
}

/// When a watch saw a pod's stages happen (see [`Cluster::wait_pod_running_seen`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct PodStagesSeen {
    pub scheduled: Option<std::time::Instant>,
    pub started: Option<std::time::Instant>,
}

/// Follows one pod through watch events. A stage counts as seen only when one
/// observation showed the pod before it and a later one after it: a pod already past a
/// stage when first listed says nothing about when it got there.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageTracker {
    scheduled: Option<bool>,
    running: Option<bool>,
}

impl StageTracker {
    /// Takes the next observation; returns (seen getting scheduled, seen starting).
    /// A pod seen going from unscheduled straight to Running was seen starting only.
    pub fn update(&mut self, p: &Pod) -> (bool, bool) {
        let scheduled = pod_scheduled(p);
        let running = pod_phase(p) == "Running";
        let seen_scheduled = self.scheduled == Some(false) && scheduled && !running;
        let seen_started = self.running == Some(false) && running;
        self.scheduled = Some(scheduled);
        self.running = Some(running);
        (seen_scheduled, seen_started)
    }
}

/// Whether the pod has been given a node (`spec.nodeName`, or PodScheduled True).
pub fn pod_scheduled(p: &Pod) -> bool {
    p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
        || p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "True")
            })
}

pub fn pod_phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}
