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

/// How long the watch that replays the request's window stays open at most: the server
/// sends every change since the list before the request at once, and closes the watch
/// then. The watch ends sooner when the server proves it has sent everything up to the
/// list after the request (see [`caught_up`]).
const REPLAY_WATCH_SECS: u32 = 1;

/// How the watch replaying a request's window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayEnd {
    /// A bookmark at or past the resourceVersion of the list after the request arrived
    /// `after` the watch was opened: every change up to that list had been delivered (a
    /// watch delivers changes in resourceVersion order), so the watch ended there.
    Bookmark { after: Duration },
    /// The same proof from a change at or past that resourceVersion (made after the
    /// list): the watch ended at it.
    Change { after: Duration },
    /// The server closed the watch after its [`REPLAY_WATCH_SECS`] window without such
    /// proof: it sent no early bookmark, or its resourceVersions are not integers.
    Window,
}

/// What a request created ([`CreationWatch::finish_replayed`]), and how the replay of
/// its window ended per kind.
#[derive(Debug)]
pub struct Creations {
    pub created: Vec<CreatedObject>,
    pub jobs: ReplayEnd,
    pub services: ReplayEnd,
}

/// Whether a watch event at resourceVersion `at` proves that every change up to `until`
/// (a list's resourceVersion) was delivered. resourceVersions are opaque to clients;
/// etcd's revisions (and kube-sim's) are integers, and only integers are compared.
fn caught_up(at: Option<&str>, until: &str) -> bool {
    match (at.map(str::parse::<u64>), until.parse::<u64>()) {
        (Some(Ok(at)), Ok(until)) => at >= until,
        _ => false,
    }
}

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

    /// Every investigation object of one kind that a change since `since` touched
    /// (added, modified or deleted): a watch resumed from `since` (bookmarks allowed)
    /// that ends at the first bookmark or event at or past `until`, the resourceVersion
    /// of the list after the request, or else when the server closes it after
    /// [`REPLAY_WATCH_SECS`]. A watch the server refuses (e.g. `since` too old) is an
    /// error.
    async fn touched_since<K>(
        &self,
        kind: &'static str,
        since: &str,
        until: &str,
    ) -> Result<(Vec<CreatedObject>, ReplayEnd)>
    where
        K: Namespaced,
    {
        let what = format!("watch {kind}s since resourceVersion {since}");
        let wp = kube::api::WatchParams {
            bookmarks: true,
            ..Default::default()
        }
        .timeout(REPLAY_WATCH_SECS);
        let deadline = self.request_timeout + Duration::from_secs(REPLAY_WATCH_SECS.into());
        let opened = std::time::Instant::now();
        let replayed = within(deadline, &what, async {
            let stream = self
                .api::<K>()
                .watch(&wp, since)
                .await
                .map_err(api_err(what.clone()))?;
            let mut stream = std::pin::pin!(stream);
            let mut touched = Vec::new();
            while let Some(event) = stream.next().await {
                use kube::api::WatchEvent;
                let event = event.map_err(api_err(what.clone()))?;
                let at = match &event {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                        touched.extend(investigation_identities(kind, std::slice::from_ref(o)));
                        o.meta().resource_version.clone()
                    }
                    WatchEvent::Bookmark(b) => Some(b.metadata.resource_version.clone()),
                    WatchEvent::Error(e) => return Err(unmet(what.clone(), e.to_string())),
                };
                if caught_up(at.as_deref(), until) {
                    let after = opened.elapsed();
                    let end = match event {
                        WatchEvent::Bookmark(_) => ReplayEnd::Bookmark { after },
                        _ => ReplayEnd::Change { after },
                    };
                    return Ok((touched, end));
                }
            }
            Ok((touched, ReplayEnd::Window))
        })
        .await??;
        Ok(replayed)
    }
}

impl CreationWatch {
    /// The investigation objects created since the list before the request: listed
    /// now but not then, or seen by the watch over that time (also those deleted
    /// again).
    pub async fn finish(self) -> Result<Vec<CreatedObject>> {
        Ok(self.finish_replayed().await?.created)
    }

    /// [`Self::finish`], telling also how each kind's replay ended.
    pub async fn finish_replayed(self) -> Result<Creations> {
        let c = &self.cluster;
        let mut created = BTreeSet::new();
        let (jobs, jobs_until) = c.list_identities::<Job>("Job").await?;
        let (services, services_until) = c.list_identities::<Service>("Service").await?;
        created.extend(jobs);
        created.extend(services);
        // Both watches are open at once; each ends when its kind is caught up.
        let ((jobs, jobs_end), (services, services_end)) = futures::try_join!(
            c.touched_since::<Job>("Job", &self.jobs_since, &jobs_until),
            c.touched_since::<Service>("Service", &self.services_since, &services_until)
        )?;
        created.extend(jobs);
        created.extend(services);
        tracing::debug!(?jobs_end, ?services_end, "creations check: replay ended");
        Ok(Creations {
            created: created
                .into_iter()
                .filter(|o| !self.before.contains(&o.uid))
                .collect(),
            jobs: jobs_end,
            services: services_end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::caught_up;

    #[test]
    fn only_integer_resource_versions_at_or_past_the_list_prove_the_replay_complete() {
        assert!(caught_up(Some("42"), "42"));
        assert!(caught_up(Some("43"), "42"));
        assert!(!caught_up(Some("41"), "42"));
        // Opaque resourceVersions (not etcd revisions) are never compared: the window.
        assert!(!caught_up(Some("b"), "a"));
        assert!(!caught_up(Some("43"), "a"));
        assert!(!caught_up(Some("x43"), "42"));
        assert!(!caught_up(None, "42"));
        assert!(!caught_up(Some("43"), ""));
    }
}
