//! Investigation objects found by name in the namespace: those created since or
//! between instants, the next free stream slot, existence and disappearance, and
//! the node addresses and pod arguments the stream steps read.

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// Investigation objects (`grpc-job-*`, `cleanup-job-*`, `grpc-service-*`) created
    /// at or after `since` (creation timestamps have second precision), as
    /// `(Kind/name, job_id)`.
    pub async fn investigation_objects_since(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let floor = since.as_second();
        let recent = |m: &kube::api::ObjectMeta| {
            m.creation_timestamp
                .as_ref()
                .is_none_or(|t| t.0.as_second() >= floor)
        };
        let mut found = Vec::new();
        let (jobs, services) = self.jobs_and_services().await?;
        for j in jobs.iter().filter(|j| recent(&j.metadata)) {
            let name = j.metadata.name.clone().unwrap_or_default();
            if let Some(id) = job_id_of(&name) {
                found.push((format!("Job/{name}"), id.to_string()));
            }
        }
        for s in services.iter().filter(|s| recent(&s.metadata)) {
            let name = s.metadata.name.clone().unwrap_or_default();
            if let Some(id) = job_id_of(&name) {
                found.push((format!("Service/{name}"), id.to_string()));
            }
        }
        Ok(found)
    }

    /// The stream port the contract's slot rules give the next investigation: the
    /// lowest slot from 1 that no investigation object names and whose port
    /// (`base + slot`) no Service holds; None when every slot is taken.
    pub async fn next_free_stream_port(&self, base: u16, max_slots: u16) -> Result<Option<u16>> {
        let (jobs, services) = self.jobs_and_services().await?;
        let mut busy = std::collections::BTreeSet::new();
        let names = jobs
            .iter()
            .filter_map(|j| j.metadata.name.clone())
            .chain(services.iter().filter_map(|s| s.metadata.name.clone()));
        for n in names {
            if let Some(slot) = job_id_of(&n).and_then(crate::target::names::slot_of) {
                busy.insert(slot);
            }
        }
        for s in &services {
            for p in s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()) {
                if let Some(np) = p.node_port.and_then(|np| u16::try_from(np).ok())
                    && np > base
                {
                    busy.insert(np - base);
                }
            }
        }
        Ok((1..=max_slots)
            .find(|s| !busy.contains(s))
            .map(|s| base + s))
    }

    /// Investigation objects created within `[since, until]` (second precision,
    /// inclusive), as `(Kind/name, job_id)`.
    pub async fn investigation_objects_between(
        &self,
        since: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let last = until.as_second();
        let objects = self.investigation_objects_since(since).await?;
        let mut out = Vec::new();
        for (object, job_id) in objects {
            let created = match object.split_once('/') {
                Some(("Job", n)) => self
                    .job(n)
                    .await?
                    .and_then(|j| j.metadata.creation_timestamp),
                Some(("Service", n)) => self
                    .service(n)
                    .await?
                    .and_then(|s| s.metadata.creation_timestamp),
                _ => None,
            };
            if created.is_some_and(|t| t.0.as_second() <= last) {
                out.push((object, job_id));
            }
        }
        Ok(out)
    }

    /// Whether a `Kind/name` object (Job or Service) still exists.
    pub async fn object_exists(&self, object: &str) -> Result<bool> {
        Ok(match object.split_once('/') {
            Some(("Job", name)) => self.job(name).await?.is_some(),
            Some(("Service", name)) => self.service(name).await?.is_some(),
            _ => false,
        })
    }

    /// Waits (by watch) until the investigation's objects and pods are gone, without
    /// deleting anything: the server is expected to have removed them.
    pub async fn wait_investigation_gone(
        &self,
        objects: &InvestigationObjects,
        deadline: Duration,
    ) -> Result<()> {
        let what = format!("investigation {} to be gone", objects.job_id);
        within(deadline, &what, async {
            for job in objects.jobs() {
                self.until_absent::<Job>(job).await?;
                self.until_no_pods(job, None).await?;
            }
            self.until_absent::<Service>(&objects.service).await
        })
        .await?
    }

    /// The cluster's nodes (cluster-scoped), under the request deadline.
    pub(super) async fn list_nodes(
        &self,
        lp: &ListParams,
    ) -> Result<kube::core::ObjectList<k8s_openapi::api::core::v1::Node>> {
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(self.client.clone());
        self.request("list Nodes", nodes.list(lp)).await
    }

    /// Addresses (InternalIP/ExternalIP) of the nodes whose Ready condition is True.
    pub async fn ready_node_addresses(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter_map(|n| n.status.as_ref())
            .filter(|s| {
                s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .flat_map(|s| s.addresses.iter().flatten())
            .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
            .map(|a| a.address.clone())
            .collect())
    }

    /// The container args of the Job's pods (first container), one list per pod.
    pub async fn pod_args(&self, job: &str) -> Result<Vec<Vec<String>>> {
        Ok(self
            .pods_of_job(job)
            .await?
            .iter()
            .map(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.args.clone())
                    .unwrap_or_default()
            })
            .collect())
    }
}

impl Cluster {
    /// The node ports a Service exposes, or None when it does not exist.
    pub async fn service_node_ports(&self, name: &str) -> Result<Option<Vec<i32>>> {
        Ok(self.service(name).await?.map(|svc| {
            svc.spec
                .and_then(|s| s.ports)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p.node_port)
                .collect()
        }))
    }
}
