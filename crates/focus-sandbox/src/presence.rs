//! The server's own presence in the cluster, and its seq memory.
//!
//! - On kube-sim (`sim_conventions`), the sandbox stands in for the real Deployment
//!   `panda-panda-focus-server` (pods labelled `app.kubernetes.io/name=panda-panda-focus-server`)
//!   and its ClusterIP Service on port 5000, so scenarios about Focus Server's own pod
//!   have something to look at; a simulated restart replaces that pod. Never done
//!   against a real cluster, where the real server exists.
//! - The last seq handed out is kept as an annotation of the namespace, so seq never
//!   repeats across a restart even when every investigation is gone (best effort:
//!   without the right to patch the namespace, only the objects' names count).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, Pod, PodSpec, PodTemplateSpec, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::watch;

use crate::state::AppState;

/// Name of the Focus Server Deployment and Service.
pub const FOCUS_SERVER_NAME: &str = "panda-panda-focus-server";
/// Label of the Focus Server pods.
pub const FOCUS_SERVER_LABEL: &str = "app.kubernetes.io/name";
/// Namespace annotation holding the last seq handed out.
pub const LAST_SEQ_ANNOTATION: &str = "focus-sandbox/last-seq";

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (FOCUS_SERVER_LABEL.to_owned(), FOCUS_SERVER_NAME.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), "panda".to_owned()),
    ])
}

fn ignore_exists<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the stand-in Deployment and Service of Focus Server (kube-sim only).
pub async fn ensure_focus_server(state: &AppState) -> Result<(), kube::Error> {
    let ns = state.namespace();
    let deployments: Api<Deployment> = Api::namespaced(state.client().clone(), ns);
    let services: Api<Service> = Api::namespaced(state.client().clone(), ns);
    let selector = BTreeMap::from([(FOCUS_SERVER_LABEL.to_owned(), FOCUS_SERVER_NAME.to_owned())]);
    let deployment = Deployment {
        metadata: ObjectMeta {
            name: Some(FOCUS_SERVER_NAME.to_owned()),
            labels: Some(labels()),
            ..ObjectMeta::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "focus-server".into(),
                        image: Some("focus-sandbox:stand-in".into()),
                        ports: Some(vec![ContainerPort {
                            container_port: 5000,
                            name: Some("http".into()),
                            ..ContainerPort::default()
                        }]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    };
    ignore_exists(
        deployments
            .create(&PostParams::default(), &deployment)
            .await,
    )?;
    let service = Service {
        metadata: ObjectMeta {
            name: Some(FOCUS_SERVER_NAME.to_owned()),
            labels: Some(labels()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 5000,
                target_port: Some(IntOrString::Int(5000)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    };
    ignore_exists(services.create(&PostParams::default(), &service).await)
}

/// A simulated restart: the stand-in pod is replaced (kube-sim only).
pub async fn restart_focus_server(state: &AppState) {
    if !state.config().sim_conventions {
        return;
    }
    let pods: Api<Pod> = Api::namespaced(state.client().clone(), state.namespace());
    let lp = ListParams::default().labels(&format!("{FOCUS_SERVER_LABEL}={FOCUS_SERVER_NAME}"));
    if let Err(e) = pods.delete_collection(&DeleteParams::default(), &lp).await {
        tracing::warn!(error = %e, "cannot replace the Focus Server pod");
    }
}

/// The last seq recorded on the namespace (0 when none).
pub async fn recorded_seq(state: &AppState) -> u64 {
    let namespaces: Api<Namespace> = Api::all(state.client().clone());
    match namespaces.get_opt(state.namespace()).await {
        Ok(Some(ns)) => ns
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LAST_SEQ_ANNOTATION))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        Ok(None) => 0,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the recorded seq");
            0
        }
    }
}

/// Records every new seq on the namespace (coalescing bursts) until `stop` resolves.
pub async fn record_seqs(
    state: AppState,
    mut seqs: watch::Receiver<u64>,
    stop: impl std::future::Future<Output = ()>,
) {
    let namespaces: Api<Namespace> = Api::all(state.client().clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            changed = seqs.changed() => if changed.is_err() { return },
        }
        let seq = *seqs.borrow_and_update();
        let patch = json!({"metadata": {"annotations": {LAST_SEQ_ANNOTATION: seq.to_string()}}});
        if let Err(e) = namespaces
            .patch(
                state.namespace(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::warn!(error = %e, "cannot record the seq on the namespace; not trying again");
            return;
        }
    }
}
