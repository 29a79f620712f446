//! The system-behaviour checks the system steps speak: the live stream's absence as
//! the API shows it, an investigation's objects all present, the Focus Server pod
//! healthy, and the investigations of others in the namespace.

use std::collections::BTreeMap;

use anyhow::{anyhow, ensure};

use crate::target::config::Profile;
use crate::target::focus_api::FocusApi;
use crate::target::kube::{Cluster, ServerPod, job_id_of};
use crate::target::names::InvestigationObjects;

/// What the checks read: the target and the profile's expectations.
pub struct System<'a> {
    pub api: &'a FocusApi,
    pub cluster: &'a Cluster,
    pub profile: &'a Profile,
}

impl System<'_> {
    /// /live_metadata answers 404 while the live stream is unavailable.
    pub async fn ensure_live_stream_unavailable(&self) -> anyhow::Result<()> {
        let live = self.api.live_metadata().await?;
        ensure!(
            live.status == 404,
            "/live_metadata must answer 404 while the live stream is unavailable: {}",
            live.describe()
        );
        Ok(())
    }

    /// Every Job and the Service of an investigation exist (none half-created).
    pub async fn ensure_objects_exist(&self, o: &InvestigationObjects) -> anyhow::Result<()> {
        let mut missing = Vec::new();
        for j in o.jobs() {
            if self.cluster.job(j).await?.is_none() {
                missing.push(format!("Job/{j}"));
            }
        }
        if self.cluster.service(&o.service).await?.is_none() {
            missing.push(format!("Service/{}", o.service));
        }
        ensure!(
            missing.is_empty(),
            "the investigation is half-created: missing {}",
            missing.join(", ")
        );
        Ok(())
    }

    /// The Focus Server pods, once Running, none of them restarted.
    pub async fn healthy_server_pods(&self) -> anyhow::Result<Vec<ServerPod>> {
        let pods = self
            .cluster
            .wait_focus_server_running(self.profile.deadlines.pod_running)
            .await?;
        let restarted: Vec<_> = pods.iter().filter(|p| p.restarts > 0).collect();
        ensure!(
            restarted.is_empty(),
            "Focus Server pods restarted: {restarted:?}"
        );
        Ok(pods)
    }

    /// The investigation objects in the namespace that are not the run's (name → uid;
    /// `owns`: whether a job_id is the run's): none on an exclusive environment, else
    /// reported on stderr and returned so the scenario can show they stay untouched.
    pub async fn foreign_investigations(
        &self,
        scenario_id: &str,
        owns: impl Fn(&str) -> bool,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let objects = self.cluster.investigation_object_uids().await?;
        let foreign: BTreeMap<String, String> = objects
            .into_iter()
            .filter(|(name, _)| {
                let id = name.split_once('/').and_then(|(_, n)| job_id_of(n));
                !id.is_some_and(&owns)
            })
            .collect();
        if foreign.is_empty() {
            return Ok(foreign);
        }
        let names = foreign
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if self.profile.exclusive {
            return Err(anyhow!(
                "the environment is exclusive to this run but is not clean: foreign investigations {names}"
            ));
        }
        tracing::info!(
            scenario = %scenario_id,
            foreign = %names,
            "shared environment, foreign investigations present (not ours, must stay untouched)"
        );
        Ok(foreign)
    }

    /// The investigations of others seen before (`before`, name → uid) are all still
    /// there, with the same uids.
    pub async fn ensure_untouched(&self, before: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let now = self.cluster.investigation_object_uids().await?;
        let touched = crate::spec::investigation::touched_objects(before, &now);
        ensure!(
            touched.is_empty(),
            "investigations of others were touched during the scenario: {}",
            touched.join("; ")
        );
        Ok(())
    }
}
