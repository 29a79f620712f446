//! Fault drivers: how a scenario breaks the environment on purpose, and how it is
//! undone. `sandbox` faults go through the sandbox's control API; `kubernetes` faults
//! through the Kubernetes API (they work on a real cluster too). Every fault a
//! scenario injects is recorded and undone by the after hook, in reverse order.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use serde_json::json;

use crate::api::FocusApi;
use crate::cluster::Cluster;
use crate::premise::{PremiseNotMet, require};
use crate::suite::Suite;

/// Label every object the suite creates itself carries (never an investigation's).
pub const RUN_LABEL: &str = "focus-scope/run-id";
pub const SCENARIO_LABEL: &str = "focus-scope/scenario";

/// An injected fault, with what is needed to undo it (also after a crash: the ledger
/// keeps every fault not yet undone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The sandbox's fiber was disconnected.
    FiberDisconnected,
    /// The sandbox's recordings were replaced.
    RecordingsReplaced,
    /// A Service of ours holds a NodePort.
    PortHolder { service: String, port: u16 },
    /// A ResourceQuota of ours constrains the namespace.
    Quota { name: String },
    /// Pods of ours occupy free GPU slices.
    GpuFillers { pods: Vec<String> },
    /// The sandbox will fail the next investigation's pod this way.
    NextPodFailure,
    /// A Deployment of the environment was scaled to 0; `replicas` restores it.
    DeploymentScaled { name: String, replicas: i32 },
    /// Nodes this fault cordoned (only those that were schedulable before); each also
    /// carries the run label until it is uncordoned.
    Cordoned(Vec<String>),
}

/// A Kubernetes label value from free text (≤ 63 chars of `[A-Za-z0-9._-]`).
pub fn label_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

impl Suite {
    /// Connects or disconnects the live stream (sandbox driver).
    pub async fn set_fiber(&self, connected: bool) -> anyhow::Result<()> {
        set_fiber(&self.api, connected).await
    }

    /// Cuts the live stream: the sandbox's fiber, or (kubernetes driver) the profile's
    /// `live_stream_deployment` scaled to 0.
    pub async fn cut_live_stream(&self) -> anyhow::Result<Fault> {
        use crate::config::FaultDriver;
        match (
            self.config.profile.faults,
            &self.config.profile.live_stream_deployment,
        ) {
            (FaultDriver::Sandbox, _) => {
                self.set_fiber(false).await?;
                Ok(Fault::FiberDisconnected)
            }
            (FaultDriver::Kubernetes, Some(name)) => {
                let replicas = self.cluster.scale_deployment(name, 0).await?;
                let fault = Fault::DeploymentScaled {
                    name: name.clone(),
                    replicas,
                };
                // Scaling again to 0 answers the replicas it has now.
                let now = self.cluster.scale_deployment(name, 0).await?;
                require(now == 0, || {
                    format!(
                        "Deployment {name} (live_stream_deployment) still asks for {now} replicas after scaling to 0"
                    )
                })?;
                Ok(fault)
            }
            _ => bail!(PremiseNotMet(
                "no fault driver of this profile can cut the live stream".into()
            )),
        }
    }

    /// Replaces the finished recordings (sandbox driver).
    pub async fn set_recordings(&self, recordings: &[(i64, i64)]) -> anyhow::Result<()> {
        let resp = self
            .api
            .put(
                &control_path("recordings"),
                &json!({ "recordings": recordings.iter().map(|(s, e)| [s, e]).collect::<Vec<_>>() }),
            )
            .await?;
        if resp.status != 200 {
            bail!(
                "the sandbox control API refused the recordings: {}",
                resp.describe()
            );
        }
        // The answer lists every recording after the change, the ongoing one included.
        let want: Vec<[i64; 2]> = recordings.iter().map(|(s, e)| [*s, *e]).collect();
        require(resp.body["recordings"] == json!(want), || {
            format!(
                "the sandbox recordings were not replaced by {want:?}: {}",
                resp.describe()
            )
        })?;
        Ok(())
    }

    /// Creates a NodePort Service of ours that holds `port` (selects no pod).
    pub async fn hold_node_port(&self, scenario: &str, port: u16) -> anyhow::Result<Fault> {
        let name = format!("focus-scope-port-holder-{port}");
        let labels = BTreeMap::from([
            (RUN_LABEL.to_string(), label_value(&self.run.id)),
            (SCENARIO_LABEL.to_string(), label_value(scenario)),
        ]);
        let svc = Service {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("NodePort".into()),
                selector: Some(BTreeMap::from([(
                    RUN_LABEL.to_string(),
                    "holds-a-port-only".to_string(),
                )])),
                ports: Some(vec![ServicePort {
                    port: 5000,
                    node_port: Some(i32::from(port)),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let api: Api<Service> = Api::namespaced(self.cluster.client(), self.cluster.namespace());
        api.create(&PostParams::default(), &svc)
            .await
            .with_context(|| format!("cannot create Service {name} holding NodePort {port}"))?;
        let fault = Fault::PortHolder {
            service: name.clone(),
            port,
        };
        let got = self.cluster.service_node_ports(&name).await?;
        if got.as_deref() != Some(&[i32::from(port)][..]) {
            // Undone here: the caller never learns of a fault that is not in place.
            undo(&self.api, &self.cluster, &fault).await?;
            return Err(PremiseNotMet(format!(
                "Service {name} does not hold NodePort {port}: it has {got:?}"
            ))
            .into());
        }
        Ok(fault)
    }

    fn own_labels(&self, scenario: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (RUN_LABEL.to_string(), label_value(&self.run.id)),
            (SCENARIO_LABEL.to_string(), label_value(scenario)),
        ])
    }

    /// A ResourceQuota that leaves no room for another GPU slice in the namespace.
    pub async fn quota_no_more_gpu(&self, scenario: &str) -> anyhow::Result<Fault> {
        use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let used = self.cluster.gpu_slices_requested_in_namespace().await?;
        let name = "focus-scope-no-more-gpu".to_string();
        let quota = ResourceQuota {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(self.own_labels(scenario)),
                ..Default::default()
            },
            spec: Some(ResourceQuotaSpec {
                hard: Some(BTreeMap::from([(
                    format!("requests.{}", crate::footprint::GPU_SLICE),
                    Quantity(used.to_string()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let api: Api<ResourceQuota> =
            Api::namespaced(self.cluster.client(), self.cluster.namespace());
        api.create(&PostParams::default(), &quota)
            .await
            .with_context(|| format!("cannot create ResourceQuota {name}"))?;
        let fault = Fault::Quota { name: name.clone() };
        // Room appears if a GPU pod ended between the count and the quota.
        let now = self.cluster.gpu_slices_requested_in_namespace().await?;
        if now < used {
            undo(&self.api, &self.cluster, &fault).await?;
            return Err(PremiseNotMet(format!(
                "ResourceQuota {name} allows {used} GPU slices but only {now} are requested now: it leaves room"
            ))
            .into());
        }
        Ok(fault)
    }

    /// Pods of ours that take every free GPU slice of every schedulable node.
    pub async fn fill_gpu_slices(&self, scenario: &str) -> anyhow::Result<Fault> {
        use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        let free = self.cluster.free_gpu_slices_per_node().await?;
        let api: Api<Pod> = Api::namespaced(self.cluster.client(), self.cluster.namespace());
        let mut pods = Vec::new();
        for (node, slices) in free.into_iter().filter(|(_, n)| *n > 0) {
            let name = format!("focus-scope-gpu-filler-{}", label_value(&node));
            let amount = BTreeMap::from([(
                crate::footprint::GPU_SLICE.to_string(),
                Quantity(slices.to_string()),
            )]);
            let pod = Pod {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(self.own_labels(scenario)),
                    ..Default::default()
                },
                spec: Some(PodSpec {
                    node_name: Some(node.clone()),
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "filler".into(),
                        image: Some("registry.k8s.io/pause:3.9".into()),
                        resources: Some(ResourceRequirements {
                            requests: Some(amount.clone()),
                            limits: Some(amount),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            };
            api.create(&PostParams::default(), &pod)
                .await
                .with_context(|| format!("cannot create GPU filler pod {name}"))?;
            pods.push(name);
        }
        let fault = Fault::GpuFillers { pods };
        let left: Vec<_> = self
            .cluster
            .free_gpu_slices_per_node()
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        if !left.is_empty() {
            undo(&self.api, &self.cluster, &fault).await?;
            return Err(PremiseNotMet(format!(
                "GPU slices are still free after filling: {left:?}"
            ))
            .into());
        }
        Ok(fault)
    }

    /// Cordons every schedulable node (kubernetes driver: works on a real cluster).
    pub async fn cordon_every_node(&self) -> anyhow::Result<Fault> {
        let nodes = self
            .cluster
            .cordon_schedulable_nodes(&label_value(&self.run.id))
            .await?;
        if nodes.is_empty() {
            bail!(PremiseNotMet("no node was schedulable to cordon".into()));
        }
        let fault = Fault::Cordoned(nodes);
        // Only schedulable nodes are listed here.
        let schedulable: Vec<String> = self
            .cluster
            .free_gpu_slices_per_node()
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if !schedulable.is_empty() {
            undo(&self.api, &self.cluster, &fault).await?;
            return Err(PremiseNotMet(format!(
                "nodes are still schedulable after cordoning: {}",
                schedulable.join(", ")
            ))
            .into());
        }
        Ok(fault)
    }

    /// Makes the sandbox fail the next investigation's pod: `crash`, `oom` or `image-pull`.
    pub async fn fail_next_pod(&self, kind: &str) -> anyhow::Result<Fault> {
        let resp = self
            .api
            .put(&control_path("next-pod-failure"), &json!({ "kind": kind }))
            .await?;
        if resp.status != 200 {
            bail!(
                "the sandbox control API refused the pod failure: {}",
                resp.describe()
            );
        }
        // The answer is the pod failure now armed.
        require(resp.body["kind"] == json!(kind), || {
            format!(
                "the sandbox did not arm the `{kind}` pod failure: {}",
                resp.describe()
            )
        })?;
        Ok(Fault::NextPodFailure)
    }

    /// Undoes one fault, and ledgers that it is undone.
    pub async fn undo(&self, fault: &Fault) -> anyhow::Result<()> {
        undo(&self.api, &self.cluster, fault).await?;
        self.ledger.fault_undone(fault)?;
        Ok(())
    }
}

/// Connects or disconnects the sandbox's live stream through its control API.
pub async fn set_fiber(api: &FocusApi, connected: bool) -> anyhow::Result<()> {
    let resp = api
        .put(&control_path("fiber"), &json!({ "connected": connected }))
        .await?;
    if resp.status != 200 {
        bail!(
            "the sandbox control API refused the fiber change: {}",
            resp.describe()
        );
    }
    // The answer is the fiber's state after the change.
    require(resp.body["connected"] == json!(connected), || {
        format!(
            "the sandbox fiber is not {}: {}",
            if connected {
                "connected"
            } else {
                "disconnected"
            },
            resp.describe()
        )
    })?;
    Ok(())
}

async fn reset_recordings(api: &FocusApi) -> anyhow::Result<()> {
    let resp = api.delete(&control_path("recordings")).await?;
    if resp.status != 200 {
        bail!(
            "the sandbox control API did not restore the recordings: {}",
            resp.describe()
        );
    }
    Ok(())
}

fn control_path(what: &str) -> String {
    format!("/_sandbox/{what}")
}

/// Undoes one fault through the API and the cluster it was injected through (the
/// run's after hook and sweep, and `focus-scope cleanup` after a crash).
pub async fn undo(api: &FocusApi, cluster: &Cluster, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Quota { name } => {
            let quotas: Api<k8s_openapi::api::core::v1::ResourceQuota> =
                Api::namespaced(cluster.client(), cluster.namespace());
            ignore_absent(quotas.delete(name, &DeleteParams::default()).await, name)
        }
        Fault::GpuFillers { pods } => {
            let fillers: Api<k8s_openapi::api::core::v1::Pod> =
                Api::namespaced(cluster.client(), cluster.namespace());
            for p in pods {
                ignore_absent(fillers.delete(p, &DeleteParams::default()).await, p)?;
            }
            Ok(())
        }
        Fault::Cordoned(nodes) => Ok(cluster.uncordon(nodes).await?),
        Fault::DeploymentScaled { name, replicas } => {
            cluster.scale_deployment(name, *replicas).await?;
            Ok(())
        }
        Fault::NextPodFailure => {
            let resp = api.delete(&control_path("next-pod-failure")).await?;
            if resp.status >= 300 && resp.status != 404 {
                bail!(
                    "the sandbox control API did not clear the pod failure: {}",
                    resp.describe()
                );
            }
            Ok(())
        }
        Fault::FiberDisconnected => set_fiber(api, true).await,
        Fault::RecordingsReplaced => reset_recordings(api).await,
        Fault::PortHolder { service, .. } => {
            let services: Api<Service> = Api::namespaced(cluster.client(), cluster.namespace());
            match services.delete(service, &DeleteParams::background()).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(anyhow::anyhow!("cannot delete {service}: {e}")),
            }
        }
    }
}

fn ignore_absent<T>(r: Result<T, kube::Error>, name: &str) -> anyhow::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot delete {name}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("api-x/case#3@12"), "api-x-case-3-12");
        assert_eq!(label_value("--a--"), "a");
        assert!(label_value(&"x".repeat(100)).len() <= 63);
    }
}
