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
            j.is_some_and(|j| {
                crate::spec::footprint::true_conditions(j)
                    .iter()
                    .any(|(c, _)| *c == t)
            })
        };
        let found = within(
            deadline,
            &what,
            await_condition(self.api::<Job>(), name, cond),
        )
        .await?
        .map_err(|e| ClusterError::Api {
            what: what.clone(),
            message: e.to_string(),
        })?;
        found.ok_or_else(|| ClusterError::Api {
            what,
            message: "the Job is gone".into(),
        })
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
            Some(Err(e)) => Err(ClusterError::Api {
                what: "watch Focus Server pods".into(),
                message: e.to_string(),
            }),
            None => Err(ClusterError::Api {
                what: "watch Focus Server pods".into(),
                message: "the watch ended".into(),
            }),
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
