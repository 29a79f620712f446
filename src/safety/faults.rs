//! Fault drivers: how a scenario breaks the environment on purpose, and how it is
//! undone. `sandbox` faults go through the sandbox's control API; `kubernetes` faults
//! through the Kubernetes API (they work on a real cluster too). Every fault a
//! scenario injects is recorded and undone by the after hook, in reverse order.
//!
//! Size: every driver's inject and its undo side by side, so each undo is reviewed next
//! to what it undoes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use kube::api::ObjectMeta;
use serde_json::json;

use crate::safety::Stopping;
use crate::safety::ledger::Ledger;
use crate::spec::premise::{PremiseNotMet, require};
use crate::target::config::Config;
use crate::target::focus_api::FocusApi;
use crate::target::kube::Cluster;
use crate::target::names::{RUN_LABEL, SCENARIO_LABEL, SandboxMarker, label_value};

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
    /// The sandbox will fail the pod of the next investigation whose configure carries
    /// `marker` (the scenario's own).
    #[serde(rename = "next-pod-failure-marked")]
    NextPodFailure { marker: SandboxMarker },
    /// The sandbox gives the next investigation carrying `marker` a short idle time.
    #[serde(rename = "next-idle-timeout-marked")]
    NextIdleTimeout { marker: SandboxMarker },
    /// An unmarked pod failure, as ledgers written before markers name it (read back
    /// by recovery only; undone by the unmarked DELETE).
    #[serde(rename = "next-pod-failure")]
    UnmarkedPodFailure,
    /// An unmarked idle time, as ledgers written before markers name it.
    #[serde(rename = "next-idle-timeout")]
    UnmarkedIdleTimeout,
    /// A Deployment of the environment was scaled to 0; `replicas` restores it.
    DeploymentScaled { name: String, replicas: i32 },
    /// Nodes this fault cordoned (only those that were schedulable before); each also
    /// carries the run label until it is uncordoned.
    Cordoned(Vec<String>),
    /// The sandbox ran every node's pod CIDR out of addresses.
    PodNetworkExhausted,
}

/// The fault drivers of one run: what they break (the API, the cluster), the ledger
/// every fault is recorded in before it is made, and the run's stop.
pub struct Faults<'a> {
    pub config: &'a Config,
    pub api: &'a FocusApi,
    pub cluster: &'a Cluster,
    pub ledger: &'a Ledger,
    pub run_id: &'a str,
    pub stopping: &'a Stopping,
}

impl Faults<'_> {
    /// Connects or disconnects the live stream (sandbox driver).
    pub async fn set_fiber(&self, connected: bool) -> anyhow::Result<()> {
        set_fiber(self.api, connected).await
    }

    /// Cuts the live stream: the sandbox's fiber, or (kubernetes driver) the profile's
    /// `live_stream_deployment` scaled to 0.
    pub async fn cut_live_stream(&self, scenario: &str) -> anyhow::Result<Fault> {
        use crate::target::config::FaultDriver;
        match (
            self.config.profile.faults,
            &self.config.profile.live_stream_deployment,
        ) {
            (FaultDriver::Sandbox, _) => {
                let fault = Fault::FiberDisconnected;
                self.making(scenario, &fault, self.set_fiber(false)).await?;
                Ok(fault)
            }
            (FaultDriver::Kubernetes, Some(name)) => {
                let replicas = self.cluster.deployment_replicas(name).await?;
                let fault = Fault::DeploymentScaled {
                    name: name.clone(),
                    replicas,
                };
                let label = label_value(self.run_id);
                self.making(scenario, &fault, async {
                    self.cluster
                        .scale_deployment_for_run(name, 0, replicas, &label)
                        .await?;
                    Ok(())
                })
                .await?;
                // Read back: the Deployment asks for no replica now.
                let now = self.cluster.deployment_replicas(name).await?;
                if now != 0 {
                    self.undo(&fault).await?;
                    bail!(PremiseNotMet(format!(
                        "Deployment {name} (live_stream_deployment) still asks for {now} replicas after scaling to 0"
                    )));
                }
                Ok(fault)
            }
            _ => bail!(PremiseNotMet(
                "no fault driver of this profile can cut the live stream".into()
            )),
        }
    }

    /// Ledgers the fault, then makes it (a crash in between leaves an intent that
    /// `cleanup` undoes); when making it fails halfway, what was made is undone now.
    pub async fn making(
        &self,
        scenario: &str,
        fault: &Fault,
        make: impl std::future::Future<Output = anyhow::Result<()>>,
    ) -> anyhow::Result<()> {
        self.stopping.check()?;
        self.ledger.fault_injected(scenario, fault)?;
        if let Err(e) = make.await {
            return match self.undo(fault).await {
                Ok(()) => Err(e.context(format!("making {fault:?} failed (what was made is undone)"))),
                Err(u) => Err(e.context(format!(
                    "making {fault:?} failed, and undoing it too ({u:#}): the end of the run retries"
                ))),
            };
        }
        Ok(())
    }

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
            (RUN_LABEL.to_string(), label_value(self.run_id)),
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
        let fault = Fault::PortHolder {
            service: name.clone(),
            port,
        };
        self.making(scenario, &fault, async {
            crate::target::wait::within(
                self.config.profile.deadlines.request,
                "a fault object to be created",
                self.cluster.create_object(&svc),
            )
            .await?
            .with_context(|| format!("cannot create Service {name} holding NodePort {port}"))?;
            Ok(())
        })
        .await?;
        let got = self.cluster.service_node_ports(&name).await?;
        if got.as_deref() != Some(&[i32::from(port)][..]) {
            // Undone here: the caller never learns of a fault that is not in place.
            self.undo(&fault).await?;
            return Err(PremiseNotMet(format!(
                "Service {name} does not hold NodePort {port}: it has {got:?}"
            ))
            .into());
        }
        Ok(fault)
    }

    fn own_labels(&self, scenario: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (RUN_LABEL.to_string(), label_value(self.run_id)),
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
                    format!("requests.{}", crate::target::names::GPU_SLICE),
                    Quantity(used.to_string()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let fault = Fault::Quota { name: name.clone() };
        self.making(scenario, &fault, async {
            crate::target::wait::within(
                self.config.profile.deadlines.request,
                "a fault object to be created",
                self.cluster.create_object(&quota),
            )
            .await?
            .with_context(|| format!("cannot create ResourceQuota {name}"))?;
            Ok(())
        })
        .await?;
        // Room appears if a GPU pod ended between the count and the quota.
        let now = self.cluster.gpu_slices_requested_in_namespace().await?;
        if now < used {
            self.undo(&fault).await?;
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
        let free: Vec<(String, i64)> = self
            .cluster
            .free_gpu_slices_per_node()
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        let filler = |node: &str| format!("focus-scope-gpu-filler-{}", label_value(node));
        // Every filler is ledgered before the first is created: a create that fails
        // halfway leaves the ones before it, and those are undone.
        let fault = Fault::GpuFillers {
            pods: free.iter().map(|(node, _)| filler(node)).collect(),
        };
        self.making(scenario, &fault, async {
            for (node, slices) in &free {
                let name = filler(node);
                let amount = BTreeMap::from([(
                    crate::target::names::GPU_SLICE.to_string(),
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
                crate::target::wait::within(
                    self.config.profile.deadlines.request,
                    "a fault object to be created",
                    self.cluster.create_object(&pod),
                )
                .await?
                .with_context(|| format!("cannot create GPU filler pod {name}"))?;
            }
            Ok(())
        })
        .await?;
        let left: Vec<_> = self
            .cluster
            .free_gpu_slices_per_node()
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        if !left.is_empty() {
            self.undo(&fault).await?;
            return Err(PremiseNotMet(format!(
                "GPU slices are still free after filling: {left:?}"
            ))
            .into());
        }
        Ok(fault)
    }

    pub async fn cordon_every_node(&self, scenario: &str) -> anyhow::Result<Fault> {
        let nodes = self.cluster.schedulable_nodes().await?;
        if nodes.is_empty() {
            bail!(PremiseNotMet("no node was schedulable to cordon".into()));
        }
        let fault = Fault::Cordoned(nodes.clone());
        let label = label_value(self.run_id);
        self.making(scenario, &fault, async {
            self.cluster.cordon(&nodes, &label).await?;
            Ok(())
        })
        .await?;
        // Only schedulable nodes are listed here.
        let schedulable: Vec<String> = self
            .cluster
            .free_gpu_slices_per_node()
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if !schedulable.is_empty() {
            self.undo(&fault).await?;
            return Err(PremiseNotMet(format!(
                "nodes are still schedulable after cordoning: {}",
                schedulable.join(", ")
            ))
            .into());
        }
        Ok(fault)
    }

    pub async fn fail_next_pod(&self, scenario: &str, kind: &str) -> anyhow::Result<Fault> {
        let marker = SandboxMarker::of_scenario(scenario);
        let fault = Fault::NextPodFailure {
            marker: marker.clone(),
        };
        self.making(scenario, &fault, async {
            let resp = self
                .api
                .put(
                    &control_path("next-pod-failure"),
                    &json!({ "kind": kind, "marker": marker }),
                )
                .await?;
            if resp.status != 200 {
                bail!(
                    "the sandbox control API refused the pod failure: {}",
                    resp.describe()
                );
            }
            // The answer is the pod failure now armed for the scenario's configures.
            require(
                resp.body["kind"] == json!(kind) && resp.body["marker"] == json!(marker),
                || {
                    format!(
                        "the sandbox did not arm the `{kind}` pod failure: {}",
                        resp.describe()
                    )
                },
            )?;
            Ok(())
        })
        .await?;
        Ok(fault)
    }

    /// Runs every node's pod CIDR out of addresses through the sandbox control API. The
    /// premise is read back: the answer must list every node of the cluster as
    /// exhausted.
    pub async fn exhaust_pod_network(&self, scenario: &str) -> anyhow::Result<Fault> {
        let fault = Fault::PodNetworkExhausted;
        let nodes = self.cluster.node_names().await?;
        self.making(scenario, &fault, async {
            let resp = self
                .api
                .put(&control_path("pod-network-exhausted"), &json!({}))
                .await?;
            if resp.status != 200 {
                bail!(
                    "the sandbox control API refused to exhaust the pod network: {}",
                    resp.describe()
                );
            }
            let exhausted: Vec<String> = resp.body["exhausted_nodes"]
                .as_array()
                .map(|a| a.iter().filter_map(|n| n.as_str().map(String::from)).collect())
                .unwrap_or_default();
            require(
                !nodes.is_empty() && nodes.iter().all(|n| exhausted.contains(n)),
                || {
                    format!(
                        "the pod network of every node ({}) was to be exhausted, the sandbox says {}",
                        nodes.join(", "),
                        resp.describe()
                    )
                },
            )?;
            Ok(())
        })
        .await?;
        Ok(fault)
    }

    /// Gives the next investigation the profile's short idle time through the sandbox
    /// control API (`sandbox.scenario_idle_timeout`), so the idle-removal scenario waits
    /// seconds. `None` without the sandbox driver: a real environment keeps its own idle
    /// time and `deadlines.idle_removal`.
    pub async fn shorten_next_idle(
        &self,
        scenario: &str,
    ) -> anyhow::Result<Option<(Fault, Duration)>> {
        if self.config.profile.faults != crate::target::config::FaultDriver::Sandbox {
            return Ok(None);
        }
        let secs = self
            .config
            .profile
            .sandbox
            .scenario_idle_timeout
            .as_secs()
            .max(1);
        let marker = SandboxMarker::of_scenario(scenario);
        let fault = Fault::NextIdleTimeout {
            marker: marker.clone(),
        };
        self.making(scenario, &fault, async {
            let resp = self
                .api
                .put(
                    &control_path("next-idle-timeout"),
                    &json!({ "secs": secs, "marker": marker }),
                )
                .await?;
            if resp.status != 200
                || resp.body["secs"].as_u64() != Some(secs)
                || resp.body["marker"] != json!(marker)
            {
                bail!(PremiseNotMet(format!(
                    "the sandbox control API did not set the next idle time to {secs} s: {}",
                    resp.describe()
                )));
            }
            Ok(())
        })
        .await?;
        // The idle time, then the removal within the deletion deadline.
        let deadline = Duration::from_secs(secs) + self.config.profile.deadlines.deletion;
        Ok(Some((fault, deadline)))
    }

    /// Undoes one fault, and ledgers that it is undone.
    pub async fn undo(&self, fault: &Fault) -> anyhow::Result<()> {
        undo(self.api, self.cluster, fault, &label_value(self.run_id)).await?;
        self.ledger.fault_undone(fault)?;
        // The `fiber` lock is given back once the faults are undone: the next live
        // scenario must find the stream serving again, not only scaled back.
        if let Fault::DeploymentScaled { name, replicas } = fault {
            self.cluster
                .until_deployment_available(
                    name,
                    *replicas,
                    self.config.profile.deadlines.pod_running,
                )
                .await?;
        }
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

/// The control path of a next-investigation setting, with the fault's marker (none for
/// the unmarked settings of older ledgers).
fn marked_path(what: &str, fault: &Fault) -> String {
    match fault {
        Fault::NextPodFailure { marker } | Fault::NextIdleTimeout { marker } => {
            format!("{}?marker={}", control_path(what), marker.as_str())
        }
        _ => control_path(what),
    }
}

/// Undoes one fault through the API and the cluster it was injected through (the
/// run's after hook and sweep, and `focus-scope cleanup` after a crash).
/// Undoes a fault. Objects are deleted only when they carry the run's label
/// (`run_label`, a label value): a name someone else reused is left alone.
pub async fn undo(
    api: &FocusApi,
    cluster: &Cluster,
    fault: &Fault,
    run_label: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
    match fault {
        Fault::Quota { name } => Ok(cluster
            .delete_if_labelled::<ResourceQuota>(name, run_label)
            .await?),
        // All at once: each waits for its pod to terminate (a kubelet delay), and the
        // scenario holds the GPU slices alone until the last is gone.
        Fault::GpuFillers { pods } => {
            // Every delete is tried; the errors are reported together.
            let failed: Vec<String> = futures::future::join_all(
                pods.iter()
                    .map(|p| cluster.delete_if_labelled::<Pod>(p, run_label)),
            )
            .await
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("GPU filler pods: {}", failed.join("; "))
            }
        }
        Fault::Cordoned(nodes) => Ok(cluster.uncordon_if_labelled(nodes, run_label).await?),
        Fault::DeploymentScaled { name, replicas } => {
            cluster
                .restore_deployment_scale(name, *replicas, run_label)
                .await?;
            Ok(())
        }
        Fault::NextIdleTimeout { .. } | Fault::UnmarkedIdleTimeout => {
            let resp = api.delete(&marked_path("next-idle-timeout", fault)).await?;
            if resp.status >= 300 && resp.status != 404 {
                bail!(
                    "the sandbox control API did not clear the next idle time: {}",
                    resp.describe()
                );
            }
            Ok(())
        }
        Fault::PodNetworkExhausted => {
            let resp = api.delete(&control_path("pod-network-exhausted")).await?;
            if resp.status != 200 {
                bail!(
                    "the sandbox control API did not give the pod network its addresses back: {}",
                    resp.describe()
                );
            }
            Ok(())
        }
        Fault::NextPodFailure { .. } | Fault::UnmarkedPodFailure => {
            let resp = api.delete(&marked_path("next-pod-failure", fault)).await?;
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
        Fault::PortHolder { service, .. } => Ok(cluster
            .delete_if_labelled::<Service>(service, run_label)
            .await?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ledgers written before markers still parse (recovery undoes what they name).
    #[test]
    fn faults_of_older_ledgers_still_parse() {
        let old: Fault = serde_json::from_str("\"next-pod-failure\"").expect("old form");
        assert_eq!(old, Fault::UnmarkedPodFailure);
        let old: Fault = serde_json::from_str("\"next-idle-timeout\"").expect("old form");
        assert_eq!(old, Fault::UnmarkedIdleTimeout);
        let marked = Fault::NextPodFailure {
            marker: SandboxMarker::of_scenario("k8s-pod-failure-reason#3@12"),
        };
        let text = serde_json::to_string(&marked).expect("json");
        assert_eq!(serde_json::from_str::<Fault>(&text).expect("back"), marked);
        assert!(
            marked_path("next-pod-failure", &marked)
                .ends_with("?marker=k8s-pod-failure-reason-3-12")
        );
        assert_eq!(
            marked_path("next-pod-failure", &Fault::UnmarkedPodFailure),
            "/_sandbox/next-pod-failure"
        );
    }

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("api-x/case#3@12"), "api-x-case-3-12");
        assert_eq!(label_value("--a--"), "a");
        assert!(label_value(&"x".repeat(100)).len() <= 63);
    }
}
