//! GPU slices (requested in the namespace, free per node) and waits on events and
//! pod reasons.

#[allow(unused_imports)]
use super::*;

/// Parses a whole-number Kubernetes quantity of an extended resource ("1", "64").
fn whole(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> i64 {
    q.0.trim().parse().unwrap_or(0)
}

fn gpu_request(p: &Pod) -> i64 {
    p.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| {
            c.resources
                .as_ref()?
                .requests
                .as_ref()?
                .get(crate::target::names::GPU_SLICE)
        })
        .map(whole)
        .sum()
}

fn non_terminal(p: &Pod) -> bool {
    !matches!(pod_phase(p), "Succeeded" | "Failed")
}

impl Cluster {
    /// GPU slices requested by the namespace's non-terminal pods.
    pub async fn gpu_slices_requested_in_namespace(&self) -> Result<i64> {
        let list = self
            .request("list pods", self.api::<Pod>().list(&ListParams::default()))
            .await?;
        Ok(list
            .items
            .iter()
            .filter(|p| non_terminal(p))
            .map(gpu_request)
            .sum())
    }

    /// Free GPU slices per schedulable Ready node (allocatable minus non-terminal requests).
    pub async fn free_gpu_slices_per_node(&self) -> Result<Vec<(String, i64)>> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let nodes = self.list_nodes(&ListParams::default()).await?;
        let pods = self
            .request("list pods", pods.list(&ListParams::default()))
            .await?;
        let mut out = Vec::new();
        for n in &nodes.items {
            let name = n.metadata.name.clone().unwrap_or_default();
            if n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
            {
                continue;
            }
            let allocatable = n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(crate::target::names::GPU_SLICE))
                .map(whole)
                .unwrap_or(0);
            let used: i64 = pods
                .items
                .iter()
                .filter(|p| {
                    non_terminal(p)
                        && p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                            == Some(name.as_str())
                })
                .map(gpu_request)
                .sum();
            out.push((name, allocatable - used));
        }
        Ok(out)
    }

    /// Waits by watch (field selector on the reason) until an event with `reason` is
    /// about `subject` itself, by identity: the exact name and the uid the object has
    /// now, so neither a namesake by prefix (`grpc-job-1-1` / `grpc-job-1-10`) nor an
    /// earlier object of the same name counts. Returns the event's message.
    pub async fn wait_event(
        &self,
        subject: EventSubject<'_>,
        reason: &str,
        deadline: Duration,
    ) -> Result<String> {
        use k8s_openapi::api::core::v1::Event;
        let what = format!("a {reason} event for {subject}");
        let (fields, job_uid) = match subject {
            EventSubject::Job(name) => {
                let uid = self
                    .job(name)
                    .await?
                    .and_then(|j| j.metadata.uid)
                    .ok_or_else(|| unmet(what.clone(), format!("Job {name} does not exist")))?;
                (
                    format!("reason={reason},involvedObject.name={name}"),
                    Some(uid),
                )
            }
            EventSubject::PodsOfJob(_) => {
                (format!("reason={reason},involvedObject.kind=Pod"), None)
            }
        };
        let pods = self.api::<Pod>();
        let events = watcher(
            self.api::<Event>(),
            watcher::Config::default().fields(&fields),
        )
        .default_backoff()
        .applied_objects()
        .try_filter(move |e: &Event| {
            let (name, uid) = (
                e.involved_object.name.clone().unwrap_or_default(),
                e.involved_object.uid.clone(),
            );
            let (job_uid, pods) = (job_uid.clone(), pods.clone());
            async move {
                match subject {
                    EventSubject::Job(job) => name == job && uid == job_uid,
                    // A pod of the Job now: its `job-name` label and its uid.
                    EventSubject::PodsOfJob(job) => match pods.get_opt(&name).await {
                        Ok(Some(p)) => {
                            p.metadata.uid == uid
                                && p.metadata
                                    .labels
                                    .as_ref()
                                    .and_then(|l| l.get("job-name"))
                                    .map(String::as_str)
                                    == Some(job)
                        }
                        _ => false,
                    },
                }
            }
        });
        futures::pin_mut!(events);
        match within(deadline, &what, events.next()).await? {
            Some(Ok(e)) => Ok(e.message.unwrap_or_default()),
            Some(Err(e)) => Err(watch_err(what)(e)),
            None => Err(unmet(what, "the watch ended")),
        }
    }

    /// Waits by watch until a pod of the Job shows a container state reason (waiting or
    /// terminated) equal to one of `reasons`; returns the reason seen.
    pub async fn wait_pod_reason(
        &self,
        job: &str,
        reasons: &[&str],
        deadline: Duration,
    ) -> Result<String> {
        let what = format!("a pod of Job {job} to report {}", reasons.join(" or "));
        let wanted: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
        let cfg = watcher::Config::default().labels(&format!("job-name={job}"));
        let seen = watcher(self.api::<Pod>(), cfg)
            .default_backoff()
            .applied_objects()
            .try_filter_map(move |p: Pod| {
                let found = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.state.as_ref())
                    .flat_map(|st| {
                        [
                            st.waiting.as_ref().and_then(|w| w.reason.clone()),
                            st.terminated.as_ref().and_then(|t| t.reason.clone()),
                        ]
                    })
                    .flatten()
                    .find(|r| wanted.contains(r));
                futures::future::ready(Ok(found))
            });
        futures::pin_mut!(seen);
        match within(deadline, &what, seen.next()).await? {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(watch_err(what)(e)),
            None => Err(unmet(what, "the watch ended")),
        }
    }
}
