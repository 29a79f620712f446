//! Idle removal: when an investigation's cleanup job completes (its pod waited the
//! idle time), the investigation is removed unless a client is connected.
//!
//! Against kube-sim, "connected" is read from the Service's connection-count
//! annotation; a real cluster has no such count, so there an investigation is
//! removed when its cleanup job completes.

use std::collections::HashSet;
use std::future::Future;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::DeleteParams;
use kube::runtime::{WatchStreamExt, watcher};

use crate::investigation::remove_objects;
use crate::manifests::sim;
use crate::names::{self, JobId, Part};
use crate::state::{AppState, bump};

/// Whether a Job has completed successfully.
pub fn completed(job: &Job) -> bool {
    let Some(status) = &job.status else {
        return false;
    };
    status.succeeded.unwrap_or(0) > 0
        || status
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
}

/// Whether a Job has failed (a True `Failed` condition).
fn failed(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Failed" && c.status == "True")
}

/// Connected clients according to the Service's annotation (0 when absent).
pub fn connections(svc: &Service) -> u64 {
    svc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(sim::CONNECTIONS))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Watches cleanup jobs until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let jobs: Api<Job> = Api::namespaced(state.client().clone(), state.namespace());
    let mut events = watcher(jobs, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut handled: HashSet<String> = HashSet::new();
    tokio::pin!(shutdown);
    loop {
        let job = tokio::select! {
            () = &mut shutdown => return,
            next = events.try_next() => match next {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cleanup-job watch failed; retrying");
                    continue;
                }
            },
        };
        let Some(name) = job.metadata.name.as_deref() else {
            continue;
        };
        let Some(id) = Part::CleanupJob.job_id_of(name) else {
            continue;
        };
        // `cleanup-job-fails`: its cleanup Jobs fail, and any finished one removes.
        let done =
            completed(&job) || (state.has(crate::defects::Defect::CleanupJobFails) && failed(&job));
        if JobId::parse(id).is_none() || !done || !handled.insert(id.to_owned()) {
            continue;
        }
        if let Err(e) = reap(&state, id).await {
            tracing::warn!(job_id = id, error = %e, "idle removal failed");
            handled.remove(id);
        }
    }
}

async fn reap(state: &AppState, id: &str) -> Result<(), crate::error::AppError> {
    if state.has(crate::defects::Defect::NoIdleCleanup) {
        tracing::info!(job_id = id, "no-idle-cleanup: investigation kept");
        bump(&state.counters().idle_kept);
        return Ok(());
    }
    let services: Api<Service> = Api::namespaced(state.client().clone(), state.namespace());
    if let Some(svc) = services.get_opt(&names::grpc_service_name(id)).await?
        && connections(&svc) > 0
    {
        tracing::info!(job_id = id, "client connected; investigation kept");
        bump(&state.counters().idle_kept);
        return Ok(());
    }
    tracing::info!(job_id = id, "nobody connected; removing the investigation");
    remove_objects(state, id, &DeleteParams::background(), true).await?;
    bump(&state.counters().idle_removed);
    Ok(())
}
