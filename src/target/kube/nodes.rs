//! Nodes: which are schedulable, and the cordons the run makes and undoes (by its
//! label).

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// The nodes that are schedulable now (`spec.unschedulable` unset).
    pub async fn schedulable_nodes(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .iter()
            .filter(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
            })
            .filter_map(|n| n.metadata.name.clone())
            .collect())
    }

    /// Cordons these nodes, labelling each with the run's label so that `cleanup` can
    /// find and uncordon it after a crash. On a failure every node of the list is
    /// uncordoned again (a patch that timed out may have applied).
    pub async fn cordon(&self, names: &[String], run_label: &str) -> Result<()> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        // Each node as read now: one cordoned meanwhile by someone else is theirs, and a
        // patch carrying the resourceVersion read answers 409 if it changed since.
        let now: BTreeMap<String, (Option<String>, bool)> = self
            .list_nodes(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|n| {
                let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
                Some((
                    n.metadata.name?,
                    (n.metadata.resource_version, unschedulable),
                ))
            })
            .collect();
        for name in names {
            let Some((Some(rv), false)) = now.get(name).cloned() else {
                tracing::warn!(node = %name, "Node is gone or cordoned by someone else: left alone");
                continue;
            };
            let patch = serde_json::json!({
                "metadata": {"labels": {crate::target::names::RUN_LABEL: run_label}, "resourceVersion": rv},
                "spec": {"unschedulable": true},
            });
            let what = format!("cordon Node {name}");
            let done = within(
                self.request_timeout,
                &what,
                nodes.patch(
                    name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ),
            )
            .await
            .map_err(ClusterError::from)
            .and_then(|r| match r {
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    tracing::warn!(node = %name, "Node changed since it was read: left alone");
                    Ok(())
                }
                other => other.map(|_| ()).map_err(api_err(what)),
            });
            if let Err(e) = done {
                let _ = self.uncordon_if_labelled(names, run_label).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Uncordons those of these nodes that carry the run's label (the run cordoned
    /// them), removing the label.
    pub async fn uncordon_if_labelled(&self, names: &[String], run_label: &str) -> Result<()> {
        let mut ours = self.nodes_labelled(run_label).await?;
        ours.retain(|n| names.contains(n));
        self.uncordon(&ours).await
    }

    /// The nodes carrying the run label `focus-scope/run-id=<run_label>` (cordoned by it).
    async fn nodes_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        let selector = format!("{}={run_label}", crate::target::names::RUN_LABEL);
        Ok(self
            .list_nodes(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect())
    }

    /// Uncordons exactly these nodes and removes the run label from them (a node that
    /// is gone is skipped).
    pub async fn uncordon(&self, names: &[String]) -> Result<()> {
        use k8s_openapi::api::core::v1::Node;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let patch = serde_json::json!({
            "metadata": {"labels": {crate::target::names::RUN_LABEL: null}},
            "spec": {"unschedulable": null},
        });
        for name in names {
            let what = format!("uncordon Node {name}");
            match within(
                self.request_timeout,
                &what,
                nodes.patch(
                    name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                ),
            )
            .await?
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(api_err(what)(e)),
            }
        }
        Ok(())
    }

    /// Uncordons the nodes a run cordoned (labelled `focus-scope/run-id=<label>`);
    /// returns their names.
    pub async fn uncordon_labelled(&self, run_label: &str) -> Result<Vec<String>> {
        let names = self.nodes_labelled(run_label).await?;
        self.uncordon(&names).await?;
        Ok(names)
    }

    pub async fn node_names(&self) -> Result<Vec<String>> {
        let list = self.list_nodes(&ListParams::default()).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect())
    }
}
