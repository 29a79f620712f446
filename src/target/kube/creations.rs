//! What one request created, by identity (see [`CreationWatch`]).

#[allow(unused_imports)]
use super::*;

/// An investigation object one request created, by identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CreatedObject {
    /// `Kind/name`.
    pub object: String,
    pub uid: String,
    pub job_id: String,
}

impl std::fmt::Display for CreatedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (uid {})", self.object, self.uid)
    }
}

/// What a request created, by identity rather than by timestamp: the investigation
/// objects (names and uids) listed before it and after it, plus a watch over the time
/// in between, so an object created and deleted meanwhile still counts. Creation
/// timestamps have one-second precision and come from the cluster's clock, which need
/// not be the runner's: a clock behind hides leftovers, one ahead blames older objects.
pub struct CreationWatch {
    cluster: Cluster,
    /// uids of the investigation objects listed before the request.
    before: BTreeSet<String>,
    /// The resourceVersions of the Job and Service lists before the request: the
    /// watches resume from there.
    jobs_since: String,
    services_since: String,
}

/// The investigation objects of a list, as [`CreatedObject`]s.
fn investigation_identities<K: Resource>(kind: &str, items: &[K]) -> Vec<CreatedObject> {
    items
        .iter()
        .filter_map(|o| {
            let m = o.meta();
            let name = m.name.as_deref()?;
            Some(CreatedObject {
                object: format!("{kind}/{name}"),
                uid: m.uid.clone()?,
                job_id: job_id_of(name)?.to_string(),
            })
        })
        .collect()
}

/// How long the watch that replays the request's window stays open: the server sends
/// every change since the list before the request at once, and closes the watch then.
const REPLAY_WATCH_SECS: u32 = 1;

impl Cluster {
    /// Lists the investigation objects (Jobs and Services): call before sending the
    /// request, [`CreationWatch::finish`] after it.
    pub async fn watch_creations(&self) -> Result<CreationWatch> {
        let (jobs, jobs_since) = self.list_identities::<Job>("Job").await?;
        let (services, services_since) = self.list_identities::<Service>("Service").await?;
        Ok(CreationWatch {
            cluster: self.clone(),
            before: jobs.into_iter().chain(services).map(|c| c.uid).collect(),
            jobs_since,
            services_since,
        })
    }

    /// The investigation objects of one kind, with the list's resourceVersion.
    async fn list_identities<K>(&self, kind: &str) -> Result<(Vec<CreatedObject>, String)>
    where
        K: Namespaced,
    {
        let what = format!("list {kind}s");
        let list = within(
            self.request_timeout,
            &what,
            self.api::<K>().list(&ListParams::default()),
        )
        .await?
        .map_err(api_err(what))?;
        Ok((
            investigation_identities(kind, &list.items),
            list.metadata.resource_version.unwrap_or_default(),
        ))
    }

    /// Every investigation object of one kind that a change since `rv` touched (added,
    /// modified or deleted): a watch resumed from `rv` that the server closes after
    /// [`REPLAY_WATCH_SECS`]. A watch the server refuses (e.g. `rv` too old) is an error.
    async fn touched_since<K>(&self, kind: &'static str, rv: &str) -> Result<Vec<CreatedObject>>
    where
        K: Namespaced,
    {
        let what = format!("watch {kind}s since resourceVersion {rv}");
        let wp = kube::api::WatchParams::default().timeout(REPLAY_WATCH_SECS);
        let deadline = self.request_timeout + Duration::from_secs(REPLAY_WATCH_SECS.into());
        let touched = within(deadline, &what, async {
            let stream = self
                .api::<K>()
                .watch(&wp, rv)
                .await
                .map_err(api_err(what.clone()))?;
            let mut stream = std::pin::pin!(stream);
            let mut touched = Vec::new();
            while let Some(event) = stream.next().await {
                match event.map_err(api_err(what.clone()))? {
                    kube::api::WatchEvent::Added(o)
                    | kube::api::WatchEvent::Modified(o)
                    | kube::api::WatchEvent::Deleted(o) => {
                        touched.extend(investigation_identities(kind, std::slice::from_ref(&o)));
                    }
                    kube::api::WatchEvent::Bookmark(_) => {}
                    kube::api::WatchEvent::Error(e) => {
                        return Err(unmet(what.clone(), e.to_string()));
                    }
                }
            }
            Ok(touched)
        })
        .await??;
        Ok(touched)
    }
}

impl CreationWatch {
    /// The investigation objects created since the list before the request: listed
    /// now but not then, or seen by the watch over that time (also those deleted
    /// again).
    pub async fn finish(self) -> Result<Vec<CreatedObject>> {
        let c = &self.cluster;
        let mut created = BTreeSet::new();
        created.extend(c.list_identities::<Job>("Job").await?.0);
        created.extend(c.list_identities::<Service>("Service").await?.0);
        // Both watches stay open for the same second.
        let (jobs, services) = futures::try_join!(
            c.touched_since::<Job>("Job", &self.jobs_since),
            c.touched_since::<Service>("Service", &self.services_since)
        )?;
        created.extend(jobs);
        created.extend(services);
        Ok(created
            .into_iter()
            .filter(|o| !self.before.contains(&o.uid))
            .collect())
    }
}
