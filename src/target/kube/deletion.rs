//! Deletion of exactly the objects of an investigation whose uids the run recorded,
//! and the waits until they are gone.

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// Deletes exactly the objects of the investigation whose identities the run
    /// recorded (each delete carries its uid as a precondition: an object recreated
    /// under the same name by someone else answers 409 and is left alone), and the
    /// pods those Jobs orphaned; blocks until they are gone. Objects of the
    /// investigation's names with another uid are named in a [`ClusterError::NotOurs`]
    /// at the end.
    pub async fn delete_investigation(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let mut not_ours = None;
        let jobs = self
            .delete_service_and_jobs(objects, owned, &mut not_ours)
            .await?;
        for (job, uid) in &jobs {
            let pods = self.pods_of_job(job).await?;
            self.delete_orphans(&pods, uid, &mut not_ours).await?;
        }
        let what = format!("investigation {} to be gone", objects.job_id);
        within(deadline, &what, async {
            for (job, uid) in &jobs {
                self.until_gone::<Job>(job, uid).await?;
                self.until_no_pods(job, Some(uid)).await?;
            }
            if let Some(uid) = uid_of(owned, "Service", &objects.service) {
                self.until_gone::<Service>(&objects.service, uid).await?;
            }
            Ok::<_, ClusterError>(())
        })
        .await??;
        not_ours.map_or(Ok(()), Err)
    }

    /// The deletes of the run's Service and Jobs of the investigation, each under its
    /// uid precondition with Background propagation (a live Job's pods go with it);
    /// answers the Jobs deleted, by name and uid. The Service first: a server that
    /// sees a slot free once its Jobs are gone must not hand the slot to a new
    /// investigation while the old Service still holds the slot's NodePort (the
    /// observed server does not check the port).
    async fn delete_service_and_jobs(
        &self,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        not_ours: &mut Option<ClusterError>,
    ) -> Result<Vec<(String, String)>> {
        if let Some(uid) = uid_of(owned, "Service", &objects.service) {
            self.delete_owned::<Service>(&objects.service, &owned_delete(uid), not_ours)
                .await?;
        }
        let jobs: Vec<(String, String)> = objects
            .jobs()
            .into_iter()
            .filter_map(|j| uid_of(owned, "Job", j).map(|u| (j.to_string(), u.to_string())))
            .collect();
        for (job, uid) in &jobs {
            self.delete_owned::<Job>(job, &owned_delete(uid), not_ours)
                .await?;
        }
        Ok(jobs)
    }

    /// Deletes the pods among `pods` that a server orphaned from the run's Job of
    /// `job_uid` (deleted the Job without cascade): still the investigation's, matched
    /// by the exact job-name label, never by prefix, and only when the run's Job made
    /// them (its controller-uid label). Pods the Job still owns go with it.
    async fn delete_orphans(
        &self,
        pods: &[Pod],
        job_uid: &str,
        not_ours: &mut Option<ClusterError>,
    ) -> Result<()> {
        for pod in pods {
            if !pod_of_owned_job(pod, job_uid) || owned_by(pod, job_uid) {
                continue;
            }
            if let (Some(name), Some(pod_uid)) =
                (pod.metadata.name.as_deref(), pod.metadata.uid.as_deref())
            {
                self.delete_owned::<Pod>(name, &owned_delete(pod_uid), not_ours)
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes one object under its uid precondition; a 409 is recorded in `not_ours`
    /// (the first one) and the deletion goes on with the next object.
    async fn delete_owned<K>(
        &self,
        name: &str,
        dp: &DeleteParams,
        not_ours: &mut Option<ClusterError>,
    ) -> Result<()>
    where
        K: Namespaced,
    {
        match self.delete_ignoring_absent::<K>(name, dp).await {
            Err(ClusterError::Conflict { message, .. }) => {
                let uid = dp
                    .preconditions
                    .as_ref()
                    .and_then(|p| p.uid.clone())
                    .unwrap_or_default();
                tracing::warn!(
                    object = format!("{}/{name}", K::kind(&Default::default())),
                    %uid,
                    "object now belongs to someone else (uid precondition failed: {message}): left alone"
                );
                not_ours.get_or_insert(ClusterError::NotOurs {
                    object: format!("{}/{name}", K::kind(&Default::default())),
                    uid,
                });
                Ok(())
            }
            other => other,
        }
    }

    /// Names of the investigation's objects (and pods) that still exist.
    pub async fn remaining(&self, objects: &InvestigationObjects) -> Result<Vec<String>> {
        let mut left = Vec::new();
        for job in objects.jobs() {
            if self.job(job).await?.is_some() {
                left.push(format!("Job/{job}"));
            }
            for p in self.pods_of_job(job).await? {
                left.push(format!("Pod/{}", p.metadata.name.unwrap_or_default()));
            }
        }
        if self.service(&objects.service).await?.is_some() {
            left.push(format!("Service/{}", objects.service));
        }
        Ok(left)
    }

    pub(super) async fn delete_ignoring_absent<K>(
        &self,
        name: &str,
        dp: &DeleteParams,
    ) -> Result<()>
    where
        K: Namespaced,
    {
        let what = format!("delete {} {name}", K::kind(&Default::default()));
        match within(
            self.request_timeout,
            &what,
            self.api::<K>().delete(name, dp),
        )
        .await?
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Err(ClusterError::Conflict {
                what,
                message: s.message.clone(),
                source: kube::Error::Api(s),
            }),
            Err(e) => Err(api_err(what)(e)),
        }
    }

    /// Waits by watch until no object of this name has this uid (gone, or replaced
    /// by someone else's object, which is not waited for).
    pub(super) async fn until_gone<K>(&self, name: &str, uid: &str) -> Result<()>
    where
        K: Namespaced,
    {
        let uid = uid.to_string();
        await_condition(self.api::<K>(), name, move |o: Option<&K>| {
            o.is_none_or(|o| o.meta().uid.as_deref() != Some(uid.as_str()))
        })
        .await
        .map(|_| ())
        .map_err(condition_err(format!("watch {name}")))
    }

    pub(super) async fn until_absent<K>(&self, name: &str) -> Result<()>
    where
        K: Namespaced,
    {
        await_condition(self.api::<K>(), name, |o: Option<&K>| o.is_none())
            .await
            .map(|_| ())
            .map_err(condition_err(format!("watch {name}")))
    }

    /// [`Cluster::delete_investigation`] served by a [`Mirror`] started before: the same
    /// deletes (uid preconditions, Background propagation, orphan pods by exact
    /// job-name and owner), with no GET and no watch of its own.
    pub async fn delete_investigation_watched(
        &self,
        mirror: &Mirror,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
        deadline: Duration,
    ) -> Result<()> {
        let not_ours = self
            .delete_investigation_unwaited(mirror, objects, owned)
            .await?;
        mirror.until_left_empty(objects, owned, deadline).await?;
        not_ours.map_or(Ok(()), Err)
    }

    /// The deletes of [`Cluster::delete_investigation_watched`] without its wait for
    /// the objects to be gone (a cleanup of many waits for all of them at once, after
    /// its bounded number of deletes in flight); `Ok(Some(_))`: an object that was not
    /// the run's, to report once the rest is gone.
    pub(crate) async fn delete_investigation_unwaited(
        &self,
        mirror: &Mirror,
        objects: &InvestigationObjects,
        owned: &[OwnedObject],
    ) -> Result<Option<ClusterError>> {
        let mut not_ours = None;
        let jobs = self
            .delete_service_and_jobs(objects, owned, &mut not_ours)
            .await?;
        for (job, uid) in &jobs {
            self.delete_orphans(&mirror.pods_of_job(job), uid, &mut not_ours)
                .await?;
        }
        Ok(not_ours)
    }
}

/// The uid the run recorded for the investigation's object of this kind and name.
fn uid_of<'a>(owned: &'a [OwnedObject], kind: &str, name: &str) -> Option<&'a str> {
    owned
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .map(|o| o.uid.as_str())
}

/// A delete of the object of this uid only, with Background propagation.
fn owned_delete(uid: &str) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        preconditions: Some(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..Default::default()
    }
}
