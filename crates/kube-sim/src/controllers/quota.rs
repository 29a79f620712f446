//! ResourceQuota status: keeps `status.used` equal to the namespace's usage.

use crate::podspec::At;
use serde_json::{Value, json};

use super::{Controller, Reconciled, Written};
use crate::api_state::{ApiState, Subresource};
use crate::podspec;
use crate::quota;
use crate::resources;
use crate::store::StoreEvent;

/// The quota controller.
#[derive(Debug, Default)]
pub struct QuotaController;

impl Controller for QuotaController {
    fn name(&self) -> &'static str {
        "resourcequota-controller"
    }

    fn observe(&mut self, e: &StoreEvent) -> bool {
        [
            resources::PODS,
            resources::RESOURCE_QUOTAS,
            resources::JOBS,
            resources::SERVICES,
            resources::CONFIG_MAPS,
            resources::DEPLOYMENTS,
        ]
        .contains(&e.rt)
    }

    fn debounce(&self) -> std::time::Duration {
        std::time::Duration::from_millis(10)
    }

    fn reconcile(&mut self, cluster: &ApiState, _full: bool) -> Reconciled {
        let updates: Vec<(String, String, Value)> = cluster.store.read(|v| {
            v.list(&resources::RESOURCE_QUOTAS, None)
                .into_iter()
                .filter_map(|q| {
                    let ns = podspec::namespace(q);
                    let used = Value::Object(quota::used_for(q, &quota::namespace_usage(v, ns)));
                    let hard = q.at("/spec/hard").cloned().unwrap_or(json!({}));
                    let changed =
                        q.at("/status/used") != Some(&used) || q.at("/status/hard") != Some(&hard);
                    changed.then(|| {
                        (
                            ns.to_string(),
                            podspec::name(q).to_string(),
                            json!({"hard": hard, "used": used}),
                        )
                    })
                })
                .collect()
        });
        for (ns, name, status) in updates {
            super::note_failed(
                "quota",
                "write",
                Written::new(&resources::RESOURCE_QUOTAS, &ns, &name),
                cluster.write(
                    &resources::RESOURCE_QUOTAS,
                    &ns,
                    &name,
                    Subresource::Status,
                    false,
                    |cur| {
                        let mut c = cur.clone();
                        c["status"] = status;
                        if let Some(m) = c["metadata"].as_object_mut() {
                            m.remove("resourceVersion");
                        }
                        Ok(c)
                    },
                ),
            );
        }
        Reconciled::Done
    }
}
