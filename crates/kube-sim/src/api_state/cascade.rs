//! What a delete sets in motion through ownerReferences: orphaning the dependents
//! (`Orphan`) or deleting them (`Background`, `Foreground`). The API server's part of
//! cascading deletion; the garbage collector's periodic sweep (dangling owners,
//! finishing foreground deletion, namespaces) is `controllers::gc`.

use serde_json::Value;

use super::{ApiState, DeleteOptions, Subresource};
use crate::admission::JOB_TRACKING_FINALIZER;
use crate::podspec;
use crate::resources::{self, ResourceType};
use crate::status::ApiError;

fn dependents(cluster: &ApiState, owner_uid: &str) -> Vec<(ResourceType, String, String)> {
    cluster.store.read(|v| v.dependents(owner_uid))
}

/// Strip ownerReferences to `owner_uid` from every dependent (Orphan propagation).
pub(super) fn orphan_dependents(cluster: &ApiState, owner_uid: &str) {
    for (rt, ns, name) in dependents(cluster, owner_uid) {
        let orphaned = cluster.write(&rt, &ns, &name, Subresource::Main, false, |cur| {
            let mut c = cur.clone();
            if let Some(refs) = c
                .pointer_mut("/metadata/ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r["uid"].as_str() != Some(owner_uid));
            }
            if rt == resources::PODS {
                podspec::remove_finalizer(&mut c, JOB_TRACKING_FINALIZER);
            }
            Ok(c)
        });
        // A dependent deleted meanwhile needs no orphaning; anything else is worth a line.
        if let Err(e) = orphaned
            && !matches!(e, ApiError::NotFound { .. })
        {
            tracing::warn!(error = %e, kind = rt.kind, %ns, %name, "orphaning a dependent");
        }
    }
}

/// Delete every dependent of `owner_uid` (background; pods gracefully).
pub(super) fn delete_dependents(cluster: &ApiState, owner_uid: &str) {
    for (rt, ns, name) in dependents(cluster, owner_uid) {
        let opts = DeleteOptions {
            propagation_policy: Some("Background".into()),
            ..Default::default()
        };
        if let Err(e) = cluster.delete(&rt, &ns, &name, &opts) {
            tracing::debug!(error = %e, "cascade delete");
        }
    }
}
