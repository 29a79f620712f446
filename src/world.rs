//! The cucumber World: per-scenario state over the run's shared [`Suite`].

use std::fmt;
use std::sync::Arc;

use anyhow::anyhow;

use crate::run::suite::{self, Suite};
use crate::safety::faults::Fault;
use crate::spec::changes::Facts;
use crate::spec::investigation::{ConfigureRequest, OpenedInvestigation};
use crate::target::focus_api::ApiResponse;

/// A step's failure, printed with its whole cause chain (cucumber prints `{}` only).
pub struct Failure(anyhow::Error);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.into())
    }
}

/// What a step returns.
pub type Step = Result<(), Failure>;

/// Fails the step with a message when the condition does not hold.
#[macro_export]
macro_rules! ensure_that {
    ($cond:expr, $($fmt:tt)+) => {
        if !($cond) {
            return Err($crate::world::Failure::from(anyhow::anyhow!($($fmt)+)));
        }
    };
}

#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct FocusWorld {
    pub suite: Arc<Suite>,
    /// Unique key of this scenario run (ledger ownership).
    pub scenario: String,
    /// The scenario's stable id (`@id:`), for messages.
    pub scenario_id: String,
    /// The scenario's name as written (diagnostics).
    pub scenario_name: String,
    /// Investigations this scenario opened, in order.
    pub opened: Vec<OpenedInvestigation>,
    /// The last answer of Focus Server.
    pub last: Option<ApiResponse>,
    /// The environment's facts for the Examples tables (channel range, Nyquist, windows).
    pub facts: Facts,
    /// When the last request of the scenario was sent (side-effect attribution).
    pub sent_at: Option<jiff::Timestamp>,
    /// Investigations this scenario cancelled, in order.
    pub cancelled: Vec<OpenedInvestigation>,
    /// Faults this scenario injected, undone in reverse order after it.
    pub faults: Vec<Fault>,
    /// The batch this scenario opened (limits scenarios).
    pub capacity: Option<crate::spec::capacity::CapacityReport>,
    /// The churn this scenario ran (long-running scenarios).
    pub churn: Option<crate::spec::soak::ChurnReport>,
    /// Focus Server's pods as first seen by the scenario.
    pub server_pods: Vec<crate::target::kube::ServerPod>,
    /// The idle-removal deadline that follows from an idle time the scenario shortened.
    pub idle_removal: Option<std::time::Duration>,
    /// The recordings the scenario listed last, with the window it asked for.
    pub listed: Option<((i64, i64), Vec<crate::spec::availability::Recording>)>,
    /// Investigation objects of others (`Kind/name` → uid) when the scenario began.
    pub foreign: std::collections::BTreeMap<String, String>,
    /// The investigation objects listed before the last request (a watch resumes from there).
    pub creations: Option<crate::target::kube::CreationWatch>,
    /// The resources the scenario holds (alone or shared) until its cleanup ends.
    pub locks: crate::run::exclusive::Held,
}

impl fmt::Debug for FocusWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FocusWorld")
            .field("scenario", &self.scenario_id)
            .field(
                "opened",
                &self.opened.iter().map(|o| &o.job_id).collect::<Vec<_>>(),
            )
            .field("last", &self.last.as_ref().map(ApiResponse::describe))
            .finish()
    }
}

impl FocusWorld {
    async fn new() -> anyhow::Result<Self> {
        Ok(FocusWorld {
            suite: suite::current()?,
            scenario: String::new(),
            scenario_id: String::new(),
            scenario_name: String::new(),
            opened: Vec::new(),
            last: None,
            facts: Facts::default(),
            sent_at: None,
            cancelled: Vec::new(),
            faults: Vec::new(),
            capacity: None,
            churn: None,
            server_pods: Vec::new(),
            idle_removal: None,
            listed: None,
            foreign: Default::default(),
            creations: None,
            locks: Default::default(),
        })
    }

    /// Sends the request; on success the investigation becomes the current one.
    pub async fn open(&mut self, request: ConfigureRequest) -> anyhow::Result<&ApiResponse> {
        self.creations = Some(self.suite.cluster.watch_creations().await?);
        self.sent_at = Some(jiff::Timestamp::now());
        let (resp, opened) = self
            .suite
            .open_investigation(&self.scenario, &request)
            .await?;
        if let Some(o) = opened {
            self.opened.push(o);
        }
        Ok(self.last.insert(resp))
    }

    /// The investigation the scenario opened last.
    pub fn current(&self) -> anyhow::Result<&OpenedInvestigation> {
        self.opened
            .last()
            .ok_or_else(|| anyhow!("no investigation was opened in this scenario"))
    }

    /// The stream ports Services of this scenario hold (its port-holder faults).
    pub fn held_ports(&self) -> Vec<u16> {
        self.faults
            .iter()
            .filter_map(|f| match f {
                Fault::PortHolder { port, .. } => Some(*port),
                _ => None,
            })
            .collect()
    }

    /// Opens live investigations until one is answered beyond every held port (or one
    /// gets a held port), at most [`crate::spec::premise::HELD_PORT_PROBE_BOUND`] of them:
    /// proof that the server met the held port; short of it the premise is not met.
    pub async fn open_past_held_ports(&mut self) -> anyhow::Result<()> {
        let held = self.held_ports();
        if held.is_empty() {
            return Err(crate::spec::premise::PremiseNotMet(
                "no stream port is held in this scenario".into(),
            )
            .into());
        }
        let mut answered = Vec::new();
        loop {
            let resp = self.open(ConfigureRequest::live()).await?;
            if resp.status != 200 {
                return Err(anyhow!(
                    "a valid live configure was not accepted: {}",
                    resp.describe()
                ));
            }
            answered.push(self.current()?.stream_port);
            if crate::spec::premise::held_port_met(&held, &answered)?
                != crate::spec::premise::HeldPortProbe::Short
            {
                return Ok(());
            }
        }
    }

    /// Cancels the current investigation the profile's way; it is no longer current.
    pub async fn cancel_current(&mut self) -> anyhow::Result<()> {
        let o = self
            .opened
            .pop()
            .ok_or_else(|| anyhow!("no investigation was opened in this scenario"))?;
        self.suite.cancel(&o.job_id).await?;
        self.cancelled.push(o);
        Ok(())
    }

    /// Records a fault the scenario injected: ledgered (so `cleanup` can undo it after
    /// a crash) and undone by the after hook.
    pub fn inject(&mut self, fault: Fault) -> anyhow::Result<()> {
        // Ledgered by the suite before it was made (`Suite::making`); kept, so the
        // after hook undoes it even when it was not the scenario's to make.
        let checked = self.locks.check_fault(&fault);
        self.faults.push(fault);
        checked
    }

    /// Undoes the scenario's cut of the live stream. The fault stays the scenario's until
    /// it is undone, so the after hook retries an undo that failed here.
    pub async fn reconnect_live_stream(&mut self) -> anyhow::Result<()> {
        let at = self
            .faults
            .iter()
            .rposition(|f| matches!(f, Fault::FiberDisconnected | Fault::DeploymentScaled { .. }))
            .ok_or_else(|| anyhow::anyhow!("the live stream was not cut in this scenario"))?;
        self.suite.faults().undo(&self.faults[at]).await?;
        self.faults.remove(at);
        Ok(())
    }

    /// Undoes every fault of the scenario (newest first); errors name each one.
    pub async fn undo_faults(&mut self) -> anyhow::Result<()> {
        let mut errors = Vec::new();
        while let Some(f) = self.faults.pop() {
            if let Err(e) = self.suite.faults().undo(&f).await {
                let why = format!("{f:?} of `{}` could not be undone: {e:#}", self.scenario);
                // A setting armed for this scenario's marker reaches no other scenario.
                if let Some(r) = crate::run::exclusive::Resource::of_fault(&f) {
                    self.locks.poison(r, &why);
                }
                errors.push(format!("{f:?}: {e:#}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow!("faults could not be undone: {}", errors.join("; ")))
        }
    }

    /// Writes the failed scenario's diagnostics to the run directory (best effort:
    /// a failure to collect them is reported, never added to the scenario's).
    pub async fn write_diagnostics(&self, hebrew: bool, line: usize) {
        let mut job_ids: Vec<String> = self
            .opened
            .iter()
            .chain(&self.cancelled)
            .map(|o| o.job_id.clone())
            .collect();
        for j in self.suite.ledger.open_of(&self.scenario) {
            if !job_ids.contains(&j) {
                job_ids.push(j);
            }
        }
        let failed = crate::report::diagnostics::FailedScenario {
            id: &self.scenario_id,
            name: &self.scenario_name,
            hebrew,
            line,
            last: self.last.as_ref(),
            job_ids,
        };
        if let Err(e) = self.suite.diagnostics().write(&failed).await {
            tracing::warn!(
                scenario = %self.scenario_id,
                error = format!("{e:#}"),
                "could not write the scenario's diagnostics"
            );
        }
    }

    /// What the server does after the suite deleted an investigation's objects itself
    /// (`cancel = "kubernetes"`, where "nothing remains" would only check the suite's
    /// own deletes): its metadata answers 404, and its slot and port are offered again.
    pub async fn check_server_after_deletion(
        &mut self,
        deleted: &OpenedInvestigation,
    ) -> anyhow::Result<()> {
        let meta = self.suite.api.metadata(&deleted.job_id).await?;
        if meta.status != 404 {
            return Err(anyhow!(
                "after the objects of {} were deleted (cancel = \"kubernetes\"), its metadata still answers: {}",
                deleted.job_id,
                meta.describe()
            ));
        }
        // Investigations present around the configure: one of them may hold the slot.
        let mut present: Vec<String> = self
            .suite
            .cluster
            .investigation_ids()
            .await?
            .into_iter()
            .collect();
        let resp = self.open(ConfigureRequest::live()).await?;
        if resp.status != 200 {
            return Err(anyhow!(
                "after the objects of {} were deleted, a live configure was not accepted: {}",
                deleted.job_id,
                resp.describe()
            ));
        }
        let next = self.current()?.stream_port;
        present.extend(self.suite.cluster.investigation_ids().await?);
        if !crate::spec::investigation::slot_offered_again(deleted, next, &present) {
            return Err(anyhow!(
                "the slot of {} (stream port {}) was not offered again after its objects were deleted: the next investigation got stream port {next} and no investigation holds the slot",
                deleted.job_id,
                deleted.stream_port
            ));
        }
        Ok(())
    }

    /// The investigation this scenario cancelled last.
    pub fn last_cancelled(&self) -> anyhow::Result<&OpenedInvestigation> {
        self.cancelled
            .last()
            .ok_or_else(|| anyhow!("no investigation was cancelled in this scenario"))
    }

    /// A fact the scenario needs; without it the scenario's premise is not met.
    pub fn fact(&self, name: &str) -> anyhow::Result<i64> {
        self.facts.get(name).ok_or_else(|| {
            crate::spec::premise::PremiseNotMet(format!(
                "the environment has no `{name}` (see the Background)"
            ))
            .into()
        })
    }

    /// Investigation objects the last request created that belong to no configure of
    /// this run (see [`crate::run::suite::Suite::unclaimed_creations`]).
    pub async fn unclaimed_creations(&mut self) -> anyhow::Result<Vec<String>> {
        let watch = self
            .creations
            .take()
            .ok_or_else(|| anyhow!("no request was sent in this scenario"))?;
        self.suite.unclaimed_creations(watch).await
    }

    /// Where the last answer (the current investigation's metadata) disagrees with
    /// the resources its Job was given; the Job must exist.
    pub async fn metadata_resources_violations(&self) -> anyhow::Result<Vec<String>> {
        let o = self.current()?;
        let resp = self.last_response()?;
        if resp.status != 200 {
            return Err(anyhow!(
                "metadata of {} was not answered: {}",
                o.job_id,
                resp.describe()
            ));
        }
        let name = o.objects().stream_job;
        let job = self
            .suite
            .cluster
            .job(&name)
            .await?
            .ok_or_else(|| anyhow!("Job {name} of {} does not exist", o.job_id))?;
        Ok(crate::spec::footprint::metadata_resources(&job, &resp.body))
    }

    pub fn last_response(&self) -> anyhow::Result<&ApiResponse> {
        self.last
            .as_ref()
            .ok_or_else(|| anyhow!("Focus Server has not been asked anything in this scenario"))
    }
}
