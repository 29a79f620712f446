//! The ledger's mirror in the namespace: a ConfigMap per run, labelled with the run
//! id, holding what recovery needs (the ledger's outstanding part), so that
//! `focus-scope cleanup` can finish a run whose machine is gone. The run deletes its
//! mirror when it ends with nothing outstanding.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, ListParams, ObjectMeta};

use crate::safety::ledger::{Entry, Ledger};
use crate::target::kube::Cluster;
use crate::target::names::{RUN_LABEL, label_value};

/// Marks the suite's ledger mirrors.
pub const LEDGER_LABEL: &str = "focus-scope/ledger";
const KEY: &str = "ledger.jsonl";
/// At most one mirror write per this interval, however fast the ledger grows: the
/// 200-investigation scenario must stay within its Kubernetes request budget.
const MIRROR_GAP: Duration = Duration::from_millis(1000);

/// The mirror's name for a run (a DNS-1123 name).
pub fn configmap_name(run_id: &str) -> String {
    format!("focus-scope-ledger-{}", label_value(run_id).to_lowercase())
}

/// Writes the ledger's outstanding part to the run's ConfigMap (created on first use);
/// `running`: the run goes on, so configures may follow that this write does not show.
pub async fn write(cluster: &Cluster, ledger: &Ledger, running: bool) -> Result<(), kube::Error> {
    let name = configmap_name(ledger.run_id());
    let text = ledger.outstanding_text(running);
    let patch = serde_json::json!({ "data": { KEY: text } });
    match cluster.merge_patch::<ConfigMap>(&name, &patch).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name),
                    labels: Some(BTreeMap::from([
                        (RUN_LABEL.to_string(), label_value(ledger.run_id())),
                        (LEDGER_LABEL.to_string(), "true".to_string()),
                    ])),
                    annotations: Some(BTreeMap::from([(
                        "focus-scope/run-id-verbatim".to_string(),
                        ledger.run_id().to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(KEY.to_string(), text)])),
                ..Default::default()
            };
            cluster.create_object(&cm).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Keeps the mirror current while the run lasts (spawned by the runner, aborted at
/// its end, which then writes once more or deletes the mirror).
/// Each write waits at most `deadline` (the profile's `deadlines.request`).
pub async fn follow(cluster: &Cluster, ledger: &Ledger, deadline: Duration) {
    loop {
        ledger.changed().await;
        let written = crate::target::wait::within(
            deadline,
            "the ledger's ConfigMap mirror",
            write(cluster, ledger, true),
        )
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not mirror the ledger to a ConfigMap")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not mirror the ledger to a ConfigMap")
            }
        }
        tokio::time::sleep(MIRROR_GAP).await;
    }
}

/// Deletes the run's mirror (nothing outstanding is left for recovery).
pub async fn remove(cluster: &Cluster, run_id: &str) -> Result<(), kube::Error> {
    match cluster
        .delete_object::<ConfigMap>(&configmap_name(run_id), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A run's mirrored ledger, as found in the namespace.
#[derive(Debug)]
pub struct Mirrored {
    pub run_id: String,
    pub configmap: String,
    pub entries: Vec<Entry>,
    /// Lines that do not parse: (line number, message).
    pub bad_lines: Vec<(usize, String)>,
}

/// Every ledger mirror in the namespace.
pub async fn list(cluster: &Cluster) -> Result<Vec<Mirrored>, kube::Error> {
    let found: Vec<ConfigMap> = cluster
        .list_kind(&ListParams::default().labels(&format!("{LEDGER_LABEL}=true")))
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|cm| {
            let configmap = cm.metadata.name.clone()?;
            let run_id = cm
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("focus-scope/run-id-verbatim").cloned())
                .or_else(|| cm.metadata.labels.as_ref()?.get(RUN_LABEL).cloned())?;
            let text = cm.data.as_ref()?.get(KEY)?.clone();
            let (entries, bad_lines) = Ledger::parse_checked(&text);
            Some(Mirrored {
                run_id,
                configmap,
                entries,
                bad_lines,
            })
        })
        .collect())
}
