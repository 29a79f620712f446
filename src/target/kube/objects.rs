//! Kind-generic verbs on the namespace's objects, for the modules that keep their own
//! object logic (the run Lease, the ledger mirror, fault objects, diagnostics, the
//! capacity watches): they name a kind and an object, never build an `Api` or hold the
//! client. Errors are kube-rs's own, so callers keep matching on the status code (409
//! lost a race, 404 already gone) as before.

use futures::Stream;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cluster;

/// What the generic verbs need of a kind: namespaced, (de)serialisable, static.
pub(crate) trait Namespaced:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + 'static
{
}

impl<K> Namespaced for K where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + 'static
{
}

impl Cluster {
    /// GET one object; None when it does not exist.
    pub(crate) async fn fetch<K: Namespaced>(&self, name: &str) -> Result<Option<K>, kube::Error> {
        self.api::<K>().get_opt(name).await
    }

    /// Objects of a kind, as listed with `lp`.
    pub(crate) async fn list_kind<K: Namespaced>(
        &self,
        lp: &ListParams,
    ) -> Result<Vec<K>, kube::Error> {
        Ok(self.api::<K>().list(lp).await?.items)
    }

    pub(crate) async fn create_object<K: Namespaced>(&self, obj: &K) -> Result<K, kube::Error> {
        self.api::<K>().create(&PostParams::default(), obj).await
    }

    /// PUT: fails with 409 when `obj`'s resourceVersion is not the current one.
    pub(crate) async fn replace_object<K: Namespaced>(
        &self,
        name: &str,
        obj: &K,
    ) -> Result<K, kube::Error> {
        self.api::<K>()
            .replace(name, &PostParams::default(), obj)
            .await
    }

    /// A JSON merge patch.
    pub(crate) async fn merge_patch<K: Namespaced>(
        &self,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<K, kube::Error> {
        self.api::<K>()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
    }

    /// DELETE with `dp` (its preconditions, if any, guard whose object it is).
    pub(crate) async fn delete_object<K: Namespaced>(
        &self,
        name: &str,
        dp: &DeleteParams,
    ) -> Result<(), kube::Error> {
        self.api::<K>().delete(name, dp).await.map(|_| ())
    }

    /// A pod's log, as `lp` selects it.
    pub(crate) async fn pod_log(&self, name: &str, lp: &LogParams) -> Result<String, kube::Error> {
        self.api::<Pod>().logs(name, lp).await
    }

    /// A watch on a kind with kube-rs's default backoff (re-lists after an error).
    pub(crate) fn watch_kind<K: Namespaced>(
        &self,
        config: watcher::Config,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static {
        watcher(self.api::<K>(), config).default_backoff()
    }
}
