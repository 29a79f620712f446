//! Objects the run marks with its label: Deployments it scaled, and deletion of
//! whatever carries the label (each object as listed).

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// The replicas a Deployment of the namespace asks for now.
    pub async fn deployment_replicas(&self, name: &str) -> Result<i32> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("get the scale of Deployment {name}");
        Ok(self
            .request(what, api.get_scale(name))
            .await?
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(0))
    }

    /// Marks the Deployment as the run's change (the run label, and its replicas
    /// before as an annotation), then scales it.
    pub async fn scale_deployment_for_run(
        &self,
        name: &str,
        replicas: i32,
        original: i32,
        run_label: &str,
    ) -> Result<()> {
        let mark = serde_json::json!({"metadata": {
            "labels": {crate::target::names::RUN_LABEL: run_label},
            "annotations": {crate::target::names::ORIGINAL_REPLICAS: original.to_string()},
        }});
        self.patch_deployment(name, &mark).await?;
        self.set_deployment_scale(name, replicas).await
    }

    /// Scales a Deployment the run marked back to `replicas` and removes the mark; a
    /// Deployment without the run's mark is not the run's change and is left alone.
    pub async fn restore_deployment_scale(
        &self,
        name: &str,
        replicas: i32,
        run_label: &str,
    ) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let Some(d) = self.get_opt::<Deployment>(name).await? else {
            return Ok(());
        };
        if !has_run_label(&d.metadata, run_label) {
            tracing::warn!(
                deployment = %name,
                "Deployment does not carry this run's label: its scale is left alone"
            );
            return Ok(());
        }
        self.set_deployment_scale(name, replicas).await?;
        let unmark = serde_json::json!({"metadata": {
            "labels": {crate::target::names::RUN_LABEL: null},
            "annotations": {crate::target::names::ORIGINAL_REPLICAS: null},
        }});
        self.patch_deployment(name, &unmark).await
    }

    /// Waits until the Deployment has `replicas` available pods (a restored live
    /// stream serves again, not only scaled back).
    pub async fn until_deployment_available(
        &self,
        name: &str,
        replicas: i32,
        deadline: Duration,
    ) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let what = format!("Deployment {name} to have {replicas} available replicas");
        within(
            deadline,
            &what,
            kube::runtime::wait::await_condition(
                self.api::<Deployment>(),
                name,
                move |d: Option<&Deployment>| {
                    d.and_then(|d| d.status.as_ref())
                        .and_then(|s| s.available_replicas)
                        .unwrap_or(0)
                        >= replicas
                },
            ),
        )
        .await?
        .map_err(condition_err(&what))?;
        Ok(())
    }

    async fn patch_deployment(&self, name: &str, patch: &serde_json::Value) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("patch Deployment {name}");
        self.request(
            what,
            api.patch(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            ),
        )
        .await?;
        Ok(())
    }

    async fn set_deployment_scale(&self, name: &str, replicas: i32) -> Result<()> {
        use k8s_openapi::api::apps::v1::Deployment;
        let api: Api<Deployment> = self.api();
        let what = format!("scale Deployment {name}");
        let patch = kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        self.request(
            what,
            api.patch_scale(name, &kube::api::PatchParams::default(), &patch),
        )
        .await?;
        Ok(())
    }

    /// Deletes one object of the namespace if it carries the run's label (under its
    /// uid); an object without it (someone else's under the same name) is left alone.
    pub(crate) async fn delete_if_labelled<K>(&self, name: &str, run_label: &str) -> Result<()>
    where
        K: Namespaced,
    {
        let Some(o) = self.get_opt::<K>(name).await? else {
            return Ok(());
        };
        if !has_run_label(o.meta(), run_label) {
            tracing::warn!(
                object = format!("{}/{name}", K::kind(&Default::default())),
                "object does not carry this run's label: left alone"
            );
            return Ok(());
        }
        let dp = DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions {
                uid: o.meta().uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.delete_ignoring_absent::<K>(name, &dp).await {
            Err(ClusterError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => self.gone_within_request_deadline::<K>(o.meta()).await,
        }
    }

    /// Waits (by watch, within the request deadline) until a pod is gone: a fault undone
    /// leaves nothing behind, not even a pod still terminating. Other kinds the suite
    /// makes (Services, ResourceQuotas, Leases) have no grace period: their delete is
    /// their end (and deploy/rbac.yaml grants no watch on ResourceQuotas or Leases).
    async fn gone_within_request_deadline<K>(&self, meta: &kube::api::ObjectMeta) -> Result<()>
    where
        K: Namespaced,
    {
        let (Some(name), Some(uid)) = (meta.name.as_deref(), meta.uid.as_deref()) else {
            return Ok(());
        };
        if K::kind(&Default::default()) != "Pod" {
            return Ok(());
        }
        let what = format!("{}/{name} to be gone", K::kind(&Default::default()));
        within(self.request_timeout, &what, self.until_gone::<K>(name, uid)).await?
    }
}

pub(super) fn has_run_label(m: &kube::api::ObjectMeta, run_label: &str) -> bool {
    m.labels
        .as_ref()
        .and_then(|l| l.get(crate::target::names::RUN_LABEL))
        .is_some_and(|v| v == run_label)
}

impl Cluster {
    /// Deletes the suite's own fault objects of a run (Services, Pods, ResourceQuotas
    /// labelled `focus-scope/run-id=<label>`); returns their names.
    pub async fn delete_labelled(&self, run_label: &str, lease_too: bool) -> Result<Vec<String>> {
        use k8s_openapi::api::coordination::v1::Lease;
        use k8s_openapi::api::core::v1::ResourceQuota;
        let selector = format!("{}={run_label}", crate::target::names::RUN_LABEL);
        let mut deleted = Vec::new();
        deleted.extend(self.delete_all_labelled::<Service>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<Pod>(&selector).await?);
        deleted.extend(self.delete_all_labelled::<ResourceQuota>(&selector).await?);
        // The run lock, if the crashed run still held it (a new holder relabels it).
        if lease_too {
            deleted.extend(self.delete_all_labelled::<Lease>(&selector).await?);
        }
        Ok(deleted)
    }

    /// Deletes every object of kind `K` matching the label selector; returns `Kind/name`s.
    async fn delete_all_labelled<K>(&self, selector: &str) -> Result<Vec<String>>
    where
        K: Namespaced,
    {
        let kind = K::kind(&Default::default()).to_string();
        let what = format!("list {kind}s");
        let found = self
            .request(
                &what,
                self.api::<K>()
                    .list(&ListParams::default().labels(selector)),
            )
            .await?;
        let mut deleted = Vec::new();
        for o in found.items {
            let name = o.meta().name.clone().unwrap_or_default();
            // The object as listed, and no other: one changed since (a Lease another run
            // took over) answers 409 and is left alone.
            let dp = DeleteParams {
                propagation_policy: Some(kube::api::PropagationPolicy::Background),
                preconditions: Some(kube::api::Preconditions {
                    uid: o.meta().uid.clone(),
                    resource_version: (kind == "Lease")
                        .then(|| o.meta().resource_version.clone())
                        .flatten(),
                }),
                ..Default::default()
            };
            match self.delete_ignoring_absent::<K>(&name, &dp).await {
                Err(ClusterError::Conflict { .. }) => {
                    tracing::warn!(
                        object = format!("{kind}/{name}"),
                        "object changed since it was listed: left alone"
                    );
                    continue;
                }
                other => other?,
            }
            self.gone_within_request_deadline::<K>(o.meta()).await?;
            deleted.push(format!("{kind}/{name}"));
        }
        Ok(deleted)
    }
}

impl Cluster {
    /// The Deployment `name`, when the run scaled it (its label, and its replicas before
    /// in the `focus-scope/original-replicas` annotation), scaled back and unmarked: the
    /// undo of a cut live stream when only the label is left to go by (a lost ledger, a
    /// mirror). Answers what was done; nothing when the Deployment is not the run's.
    pub async fn restore_labelled_deployment(
        &self,
        name: &str,
        run_label: &str,
    ) -> Result<Option<String>> {
        use k8s_openapi::api::apps::v1::Deployment;
        let Some(d) = self.get_opt::<Deployment>(name).await? else {
            return Ok(None);
        };
        if !has_run_label(&d.metadata, run_label) {
            return Ok(None);
        }
        let original = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::target::names::ORIGINAL_REPLICAS))
            .and_then(|v| v.parse::<i32>().ok());
        Ok(Some(match original {
            Some(replicas) => {
                self.restore_deployment_scale(name, replicas, run_label)
                    .await?;
                format!("Deployment/{name} scaled back to {replicas}")
            }
            // Without its replicas before, guessing would be a change of our own.
            None => format!(
                "Deployment/{name} carries the run's label but no readable {}: left as it is",
                crate::target::names::ORIGINAL_REPLICAS
            ),
        }))
    }
}
