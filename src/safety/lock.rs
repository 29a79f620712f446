//! Two runs against one environment exclude each other: a run holds the Lease
//! `focus-scope-run-lock` in the namespace from its start to its end and renews it;
//! a lease whose holder stopped renewing (a crashed run) expires after
//! `deadlines.lease` and is taken over. The 200-investigation and fault scenarios
//! would measure each other otherwise.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{DeleteParams, ObjectMeta, Preconditions};

use crate::target::kube::Cluster;

/// The one lease all runs compete for.
pub const LOCK_NAME: &str = "focus-scope-run-lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the environment is locked by another run: Lease {LOCK_NAME} in namespace {namespace} is held by `{holder}` (renewed {renewed}, expires {expires} unless renewed); wait for it to finish, or for the lease to expire if that run crashed"
    )]
    Held {
        namespace: String,
        holder: String,
        renewed: String,
        expires: String,
    },
    #[error("the run lock (Lease {LOCK_NAME}): {0}")]
    Kube(#[from] kube::Error),
}

/// Who holds a lease now, and until when, as the lease says.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub identity: String,
    pub renewed: jiff::Timestamp,
    pub expires: jiff::Timestamp,
}

/// The lease's current holder, if its lease has not expired at `now`.
pub fn live_holder(lease: &Lease, now: jiff::Timestamp) -> Option<Holder> {
    let spec = lease.spec.as_ref()?;
    let identity = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0)?;
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let expires = renewed + jiff::SignedDuration::from_secs(secs);
    (expires > now).then_some(Holder {
        identity,
        renewed,
        expires,
    })
}

fn spec_for(holder: &str, lease: Duration, transitions: i32) -> LeaseSpec {
    let now = MicroTime(jiff::Timestamp::now());
    LeaseSpec {
        holder_identity: Some(holder.to_string()),
        lease_duration_seconds: Some(i32::try_from(lease.as_secs().max(1)).unwrap_or(i32::MAX)),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: Some(transitions),
        ..Default::default()
    }
}

/// The lease's live holder now, if any (for `cleanup`: a live run is not cleaned).
pub async fn current_holder(cluster: &Cluster) -> Result<Option<Holder>, LockError> {
    Ok(cluster
        .fetch::<Lease>(LOCK_NAME)
        .await?
        .and_then(|l| live_holder(&l, jiff::Timestamp::now())))
}

/// The held lock; renewed in the background until [`RunLock::release`].
#[derive(Debug)]
pub struct RunLock {
    cluster: Cluster,
    holder: String,
    renewing: tokio::task::JoinHandle<()>,
    /// Set (with the reason) when a renewal failed: the run no longer holds the lock.
    lost: tokio::sync::watch::Receiver<Option<String>>,
}

impl RunLock {
    /// Takes the lock for `holder` (the run id), taking over an expired lease; waits
    /// at most `wait` for a live holder's lease to expire.
    pub async fn acquire(
        cluster: &Cluster,
        holder: &str,
        lease: Duration,
        wait: Duration,
    ) -> Result<RunLock, LockError> {
        let cluster = cluster.clone();
        let give_up = tokio::time::Instant::now() + wait;
        loop {
            match cluster.fetch::<Lease>(LOCK_NAME).await? {
                None => {
                    let l = Lease {
                        metadata: ObjectMeta {
                            name: Some(LOCK_NAME.into()),
                            labels: Some(
                                [(
                                    crate::target::names::RUN_LABEL.to_string(),
                                    crate::target::names::label_value(holder),
                                )]
                                .into(),
                            ),
                            ..Default::default()
                        },
                        spec: Some(spec_for(holder, lease, 0)),
                    };
                    match cluster.create_object(&l).await {
                        Ok(_) => return Ok(Self::held(cluster, holder, lease)),
                        // Another run created it first: look again.
                        Err(kube::Error::Api(s)) if s.code == 409 => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(current) => {
                    let now = jiff::Timestamp::now();
                    match live_holder(&current, now) {
                        Some(h) if h.identity != holder => {
                            let until_expiry = Duration::try_from(h.expires.duration_since(now))
                                .unwrap_or(Duration::ZERO)
                                .max(Duration::from_millis(100));
                            let wake = tokio::time::Instant::now() + until_expiry;
                            if wake > give_up {
                                return Err(LockError::Held {
                                    namespace: cluster.namespace().to_string(),
                                    holder: h.identity,
                                    renewed: h.renewed.to_string(),
                                    expires: h.expires.to_string(),
                                });
                            }
                            // The holder's lease ends then at the latest (unless renewed).
                            tokio::time::sleep_until(wake).await;
                        }
                        _ => {
                            // Free, expired, or ours: take it over, guarded by its version.
                            let transitions = current
                                .spec
                                .as_ref()
                                .and_then(|s| s.lease_transitions)
                                .unwrap_or(0)
                                + 1;
                            let mut taken = current.clone();
                            taken.spec = Some(spec_for(holder, lease, transitions));
                            if let Some(labels) = taken.metadata.labels.as_mut() {
                                labels.insert(
                                    crate::target::names::RUN_LABEL.to_string(),
                                    crate::target::names::label_value(holder),
                                );
                            }
                            match cluster.replace_object(LOCK_NAME, &taken).await {
                                Ok(_) => return Ok(Self::held(cluster, holder, lease)),
                                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                }
            }
        }
    }

    fn held(cluster: Cluster, holder: &str, lease: Duration) -> RunLock {
        let (tx, lost) = tokio::sync::watch::channel(None);
        let cluster_for_renewal = cluster.clone();
        let holder_for_renewal = holder.to_string();
        let renewing = tokio::spawn(async move {
            let cluster = cluster_for_renewal;
            let why = renew(cluster, holder_for_renewal, lease).await;
            let _ = tx.send(Some(why));
        });
        RunLock {
            cluster,
            holder: holder.to_string(),
            renewing,
            lost,
        }
    }

    /// Resolves with the reason once the run has lost the lock (a renewal failed,
    /// timed out, or found the lease taken over or deleted).
    pub fn lost(&self) -> impl std::future::Future<Output = String> + use<> {
        let mut rx = self.lost.clone();
        async move {
            loop {
                if let Some(why) = rx.borrow_and_update().clone() {
                    return why;
                }
                if rx.changed().await.is_err() {
                    // Released: never lost.
                    futures::future::pending::<()>().await;
                }
            }
        }
    }

    /// Stops renewing and deletes the lease if this run still holds it.
    pub async fn release(self) -> Result<(), LockError> {
        self.renewing.abort();
        let Some(current) = self.cluster.fetch::<Lease>(LOCK_NAME).await? else {
            return Ok(());
        };
        let ours = current
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.holder.as_str());
        if !ours {
            return Ok(());
        }
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: current.metadata.resource_version.clone(),
                uid: current.metadata.uid.clone(),
            }),
            ..Default::default()
        };
        match self.cluster.delete_object::<Lease>(LOCK_NAME, &dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Renews the lease every third of its duration while this run holds it; returns
/// why it stopped: a renewal that failed or did not finish within a third of the
/// lease (the lease would run out unrenewed), or a lease taken over or deleted.
async fn renew(cluster: Cluster, holder: String, lease: Duration) -> String {
    let every = lease / 3;
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match tokio::time::timeout(every, renew_once(&cluster, &holder)).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return why,
            Err(_) => {
                return format!(
                    "renewing Lease {LOCK_NAME} took longer than {every:?} (a third of deadlines.lease)"
                );
            }
        }
    }
}

async fn renew_once(cluster: &Cluster, holder: &str) -> Result<(), String> {
    let current = match cluster.fetch::<Lease>(LOCK_NAME).await {
        Ok(Some(l)) => l,
        Ok(None) => return Err(format!("Lease {LOCK_NAME} was deleted by someone else")),
        Err(e) => return Err(format!("could not read Lease {LOCK_NAME}: {e}")),
    };
    let spec = current.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(holder) {
        return Err(format!(
            "Lease {LOCK_NAME} was taken over by `{}`",
            spec.holder_identity.unwrap_or_default()
        ));
    }
    let mut renewed = current;
    renewed.spec = Some(LeaseSpec {
        renew_time: Some(MicroTime(jiff::Timestamp::now())),
        ..spec
    });
    cluster
        .replace_object(LOCK_NAME, &renewed)
        .await
        .map(|_| ())
        .map_err(|e| format!("could not renew Lease {LOCK_NAME}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64, duration: i32) -> Lease {
        let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(renewed_secs_ago);
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(duration),
                renew_time: Some(MicroTime(at)),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_lease_not_renewed_within_its_duration_has_no_holder() {
        let now = jiff::Timestamp::now();
        assert_eq!(
            live_holder(&lease("run-a", 5, 30), now).map(|h| h.identity),
            Some("run-a".to_string())
        );
        assert!(live_holder(&lease("run-a", 31, 30), now).is_none());
        assert!(live_holder(&lease("", 0, 30), now).is_none());
    }
}
