//! One cleanup's watches of the namespace (see [`Mirror`]).

#[allow(unused_imports)]
use super::*;

/// The namespace's Jobs, Services and investigation pods (label `job-name`), kept by
/// one watch each for one cleanup: it waits on these instead of opening a watch (or
/// sending a GET) per object. Started after the objects to delete were created, so
/// its first list is a snapshot that holds every one of them still there.
pub struct Mirror {
    jobs: kube::runtime::reflector::Store<Job>,
    services: kube::runtime::reflector::Store<Service>,
    pods: kube::runtime::reflector::Store<Pod>,
    changed: std::sync::Arc<tokio::sync::Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mirror({} jobs, {} services, {} pods)",
            self.jobs.len(),
            self.services.len(),
            self.pods.len()
        )
    }
}

/// Keeps `store`'s reflector running and wakes the waiters of `changed` on each event.
fn mirror_task<K>(
    api: Api<K>,
    cfg: watcher::Config,
    changed: std::sync::Arc<tokio::sync::Notify>,
) -> (
    kube::runtime::reflector::Store<K>,
    tokio::task::JoinHandle<()>,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    <K as Resource>::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let (reader, writer) = kube::runtime::reflector::store::<K>();
    let stream = kube::runtime::reflector(writer, watcher(api, cfg)).default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {
            changed.notify_waiters();
        }
    });
    (reader, task)
}

impl Mirror {
    /// What of the run's objects of the investigation is still there: a Job or Service
    /// of an owned uid, and pods owned by an owned Job.
    fn left(&self, objects: &InvestigationObjects, owned: &[OwnedObject]) -> Vec<String> {
        let present = |kind: &str, uid: &str| match kind {
            "Job" => self
                .jobs
                .find(|j| j.metadata.uid.as_deref() == Some(uid))
                .is_some(),
            _ => self
                .services
                .find(|s| s.metadata.uid.as_deref() == Some(uid))
                .is_some(),
        };
        let mut left = Vec::new();
        for o in owned {
            if o.kind != "Job" && o.kind != "Service" {
                continue;
            }
            if present(&o.kind, &o.uid) {
                left.push(format!("{}/{}", o.kind, o.name));
            }
            if o.kind == "Job" && objects.jobs().contains(&o.name.as_str()) {
                for p in self.pods.state().iter().filter(|p| owned_by(p, &o.uid)) {
                    left.push(format!(
                        "Pod/{}",
                        p.metadata.name.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        left
    }

    /// Pods labelled with the Job's name (for orphans of a Job deleted without cascade).
    pub(super) fn pods_of_job(&self, job: &str) -> Vec<Pod> {
        self.pods
            .state_filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("job-name"))
                    .is_some_and(|n| n == job)
            })
            .into_iter()
            .map(|p| (*p).clone())
            .collect()
    }

    /// Waits until [`Mirror::left`] is empty; the error names what remains.
    pub(super) async fn until_left_empty(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let what = format!("investigation {} to be gone", objects.job_id);
        let gone = within(deadline, &what, async {
            loop {
                let notified = self.changed.notified();
                if self.left(objects, owned).is_empty() {
                    return;
                }
                notified.await;
            }
        })
        .await;
        gone.map_err(|e| {
            let left = self.left(objects, owned);
            unmet(e.to_string(), format!("these remain: {}", left.join(", ")))
        })
    }
}

impl Cluster {
    /// Watches of the namespace for one cleanup (6 requests: a list and a watch per
    /// kind), listed before it returns.
    pub async fn watch_namespace(&self) -> Result<Mirror> {
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let (jobs, t1) = mirror_task(
            self.api::<Job>(),
            watcher::Config::default(),
            changed.clone(),
        );
        let (services, t2) = mirror_task(
            self.api::<Service>(),
            watcher::Config::default(),
            changed.clone(),
        );
        let (pods, t3) = mirror_task(
            self.api::<Pod>(),
            watcher::Config::default().labels("job-name"),
            changed.clone(),
        );
        let mirror = Mirror {
            jobs,
            services,
            pods,
            changed,
            tasks: vec![t1, t2, t3],
        };
        let ready = async {
            let _ = mirror.jobs.wait_until_ready().await;
            let _ = mirror.services.wait_until_ready().await;
            let _ = mirror.pods.wait_until_ready().await;
        };
        within(self.request_timeout, "the cleanup's watches to list", ready).await?;
        Ok(mirror)
    }
}
