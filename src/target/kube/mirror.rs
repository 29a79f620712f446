//! One cleanup's watches of the namespace (see [`Mirror`]).

#[allow(unused_imports)]
use super::*;

/// The namespace's Jobs, Services and investigation pods (label `job-name`), kept by
/// one watch each for one cleanup: it waits on these instead of opening a watch (or
/// sending a GET) per object. Started after the objects to delete were created, so
/// its first list is a snapshot that holds every one of them still there. The 200
/// batch keeps one without pods ([`Cluster::watch_objects`]) for the identities of
/// the objects its configures create.
pub struct Mirror {
    jobs: kube::runtime::reflector::Store<Job>,
    services: kube::runtime::reflector::Store<Service>,
    /// None: Jobs and Services only.
    pods: Option<kube::runtime::reflector::Store<Pod>>,
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
            self.pods.as_ref().map_or(0, |p| p.len())
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
    /// of an owned uid, and (`with_pods`) the pods of an owned Job (owned by it, or
    /// orphaned from it: a pod that loses its owner while the cleanup waits still counts).
    fn left(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        with_pods: bool,
    ) -> Vec<String> {
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
            if with_pods && o.kind == "Job" && objects.jobs().contains(&o.name.as_str()) {
                let pods = self.pods.as_ref().map(|p| p.state()).unwrap_or_default();
                for p in pods.iter().filter(|p| pod_of_owned_job(p, &o.uid)) {
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
        let Some(pods) = &self.pods else {
            return Vec::new();
        };
        pods.state_filter(|p| {
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

    /// The identity of the object of `kind` (`Job` or `Service`) and `name` the watch
    /// holds, unless it is being deleted or its uid is one of `not_in`.
    fn identity_of(
        &self,
        kind: &str,
        name: &str,
        not_in: Option<&BTreeSet<String>>,
    ) -> Option<OwnedObject> {
        let live = |m: &kube::api::ObjectMeta| {
            m.name.as_deref() == Some(name)
                && m.deletion_timestamp.is_none()
                && m.uid
                    .as_ref()
                    .is_none_or(|u| not_in.is_none_or(|b| !b.contains(u)))
        };
        match kind {
            "Job" => self
                .jobs
                .find(|j| live(&j.metadata))
                .map(|j| identities::owned("Job", &j.metadata)),
            _ => self
                .services
                .find(|s| live(&s.metadata))
                .map(|s| identities::owned("Service", &s.metadata)),
        }
    }

    /// [`Cluster::identities_around`] read from the watches instead of a GET each.
    pub(crate) fn identities_around(
        &self,
        objects: &InvestigationObjects,
        known: &[OwnedObject],
        opened: jiff::Timestamp,
        slack: Duration,
    ) -> Vec<OwnedObject> {
        identities::missing(objects, known)
            .filter_map(|(kind, name)| self.identity_of(kind, name, None))
            .filter_map(|o| identities::created_around(o, objects, opened, slack))
            .collect()
    }

    /// Every Job and Service uid the watches hold now: taken when a configure is sent,
    /// so that [`Mirror::claim_identities`] accepts only objects that were not there.
    pub fn uids(&self) -> BTreeSet<String> {
        let jobs = self.jobs.state();
        let services = self.services.state();
        jobs.iter()
            .filter_map(|j| j.metadata.uid.clone())
            .chain(services.iter().filter_map(|s| s.metadata.uid.clone()))
            .collect()
    }

    /// [`Cluster::claim_identities`] from the watches, started before the configure
    /// was sent: waits until they hold a stream Job and a Service of the investigation's
    /// names whose uids were not among `before` (the uids held when the configure was
    /// sent: an earlier holder of a name handed out again, even one whose deletion the
    /// watch has not seen yet, is never taken). The cleanup Job is read at cleanup, under
    /// the created-around-the-claim rule ([`Mirror::identities_around`]).
    pub async fn claim_identities(
        &self,
        objects: &InvestigationObjects,
        before: &BTreeSet<String>,
        deadline: Duration,
    ) -> Result<Vec<OwnedObject>> {
        let what = format!(
            "the objects of investigation {} to be watched",
            objects.job_id
        );
        within(deadline, &what, async {
            loop {
                let notified = self.changed.notified();
                let stream = self.identity_of("Job", &objects.stream_job, Some(before));
                let service = self.identity_of("Service", &objects.service, Some(before));
                if let (Some(stream), Some(service)) = (stream, service) {
                    return vec![stream, service];
                }
                notified.await;
            }
        })
        .await
        .map_err(|e| unmet(e.to_string(), "the watches did not see them"))
    }

    /// Waits until [`Mirror::left`] is empty, pods included; the error names what remains.
    pub(crate) async fn until_left_empty(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let what = format!("investigation {} to be gone", objects.job_id);
        self.until_none_left(objects, owned, true, &what, deadline)
            .await
    }

    /// Waits until the investigation's Jobs and Service are gone (its pods may still
    /// be terminating: a cleanup's first stage, see `Suite::cleanup_many`).
    pub(crate) async fn until_objects_gone(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let what = format!(
            "the Jobs and Service of investigation {} to be gone",
            objects.job_id
        );
        self.until_none_left(objects, owned, false, &what, deadline)
            .await
    }

    async fn until_none_left(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        with_pods: bool,
        what: &str,
        deadline: Duration,
    ) -> Result<()> {
        let gone = within(deadline, what, async {
            loop {
                let notified = self.changed.notified();
                if self.left(objects, owned, with_pods).is_empty() {
                    return;
                }
                notified.await;
            }
        })
        .await;
        gone.map_err(|e| {
            let left = self.left(objects, owned, with_pods);
            unmet(e.to_string(), format!("these remain: {}", left.join(", ")))
        })
    }
}

impl Cluster {
    /// Watches of the namespace for one cleanup (6 requests: a list and a watch per
    /// kind), listed before it returns.
    pub async fn watch_namespace(&self) -> Result<Mirror> {
        self.mirror(true).await
    }

    /// Watches of the namespace's Jobs and Services only (4 requests), listed before
    /// it returns: the 200 batch reads its objects' identities from them.
    pub async fn watch_objects(&self) -> Result<Mirror> {
        self.mirror(false).await
    }

    async fn mirror(&self, with_pods: bool) -> Result<Mirror> {
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
        let mut tasks = vec![t1, t2];
        let pods = with_pods.then(|| {
            let (pods, t3) = mirror_task(
                self.api::<Pod>(),
                watcher::Config::default().labels("job-name"),
                changed.clone(),
            );
            tasks.push(t3);
            pods
        });
        let mirror = Mirror {
            jobs,
            services,
            pods,
            changed,
            tasks,
        };
        self.mirror_listed(mirror).await
    }

    async fn mirror_listed(&self, mirror: Mirror) -> Result<Mirror> {
        let ready = async {
            let _ = mirror.jobs.wait_until_ready().await;
            let _ = mirror.services.wait_until_ready().await;
            if let Some(pods) = &mirror.pods {
                let _ = pods.wait_until_ready().await;
            }
        };
        within(self.request_timeout, "the watches to list", ready).await?;
        Ok(mirror)
    }
}
