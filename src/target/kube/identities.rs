//! Identities of an investigation's objects: names and uids read from the cluster,
//! the run's claim on them, and the job_id an object's name carries.

#[allow(unused_imports)]
use super::*;

impl Cluster {
    /// The identities of the investigation's objects that exist now.
    pub async fn identities(&self, objects: &InvestigationObjects) -> Result<Vec<OwnedObject>> {
        let (mut found, cleanup) = futures::try_join!(
            self.claim_identities(objects),
            self.job(&objects.cleanup_job)
        )?;
        found.extend(cleanup.map(|j| owned("Job", &j.metadata)));
        Ok(found)
    }

    /// The identity of one object of an investigation (`Job` or `Service`), if it exists.
    pub async fn identity_of(&self, kind: &str, name: &str) -> Result<Option<OwnedObject>> {
        Ok(match kind {
            "Job" => self.job(name).await?.map(|j| owned("Job", &j.metadata)),
            _ => self
                .service(name)
                .await?
                .map(|s| owned("Service", &s.metadata)),
        })
    }

    /// The identities of the investigation's objects that `known` lacks, for those
    /// created around the claim (`opened` ± `slack`, for clock skew): an object of
    /// the name created later is someone else's, and is reported, not returned.
    pub async fn identities_around(
        &self,
        objects: &InvestigationObjects,
        known: &[OwnedObject],
        opened: jiff::Timestamp,
        slack: Duration,
    ) -> Result<Vec<OwnedObject>> {
        let mut late = Vec::new();
        for (kind, name) in missing(objects, known) {
            if let Some(o) = self.identity_of(kind, name).await? {
                late.extend(created_around(o, objects, opened, slack));
            }
        }
        Ok(late)
    }

    /// The identities of the stream Job and the Service, the objects whose names the
    /// server hands out again (slot and port): read when the run claims the
    /// investigation. Two requests, so that the 200 batch stays within its request
    /// budget (docs/performance.md); the cleanup Job is read when first needed.
    pub async fn claim_identities(
        &self,
        objects: &InvestigationObjects,
    ) -> Result<Vec<OwnedObject>> {
        let (stream, service) = futures::try_join!(
            self.job(&objects.stream_job),
            self.service(&objects.service),
        )?;
        Ok([
            stream.map(|j| owned("Job", &j.metadata)),
            service.map(|s| owned("Service", &s.metadata)),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// The objects of the investigation (kind, name) that `known` does not name.
pub(super) fn missing<'a>(
    objects: &'a InvestigationObjects,
    known: &'a [OwnedObject],
) -> impl Iterator<Item = (&'static str, &'a String)> + 'a {
    [
        ("Job", &objects.stream_job),
        ("Job", &objects.cleanup_job),
        ("Service", &objects.service),
    ]
    .into_iter()
    .filter(|(_, n)| !known.iter().any(|o| &o.name == *n))
}

/// `o` if it was created around the claim (`opened` ± `slack`); else it is reported
/// and not returned: an object of the name created later is someone else's.
pub(super) fn created_around(
    o: OwnedObject,
    objects: &InvestigationObjects,
    opened: jiff::Timestamp,
    slack: Duration,
) -> Option<OwnedObject> {
    let slack = jiff::SignedDuration::try_from(slack).unwrap_or_default();
    let around = o
        .created
        .as_deref()
        .and_then(|c| c.parse::<jiff::Timestamp>().ok())
        .is_some_and(|c| {
            c.as_second() >= (opened - slack).as_second()
                && c.as_second() <= (opened + slack).as_second()
        });
    if around {
        return Some(o);
    }
    tracing::warn!(
        object = format!("{}/{}", o.kind, o.name),
        created = o.created.as_deref().unwrap_or("?"),
        job_id = %objects.job_id,
        claimed = %opened,
        "object was not there when the investigation was claimed: not deleted as the run's"
    );
    None
}

pub(super) fn owned(kind: &str, m: &kube::api::ObjectMeta) -> OwnedObject {
    OwnedObject {
        kind: kind.to_string(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        created: m.creation_timestamp.as_ref().map(|t| t.0.to_string()),
    }
}

/// The job_id an investigation object's name carries, if it is one (the names are
/// the contract's, built and parsed in one place: `focus_sandbox::names`).
pub use focus_sandbox::names::job_id_of;
