//! The ownership ledger: every investigation the run opens is written down (and
//! fsync'd) before and after its configure, so cleanup deletes exactly what this run
//! created — after a scenario, at the end, or after a crash.
//!
//! Size: one file format with its writer, its reader and the checks recovery relies on,
//! kept together so they cannot drift apart.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::safety::faults::Fault;
use crate::target::names::OwnedObject;

/// A ledger line that does not parse: its number (from 1) and the parser's message.
pub type BadLine = (usize, String);

/// Where a run acts: what its `cleanup` must be connected to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Place {
    pub profile: String,
    /// The Kubernetes API server URL (userinfo stripped).
    pub server: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// The investigations that existed before the run began: never the run's.
    Baseline {
        run_id: String,
        job_ids: Vec<String>,
        at: String,
        /// The profile, cluster and namespace of the run (absent in old ledgers).
        #[serde(default, flatten)]
        place: Option<Place>,
    },
    /// The identities (uids) of an opened investigation's objects, when first seen:
    /// only objects with these uids are ever deleted as the run's.
    Seen {
        run_id: String,
        job_id: String,
        objects: Vec<OwnedObject>,
        at: String,
    },
    /// An answer named a job_id the run does not claim (a non-2xx answer, a job_id
    /// that existed before the run, a malformed one): evidence, never acted on.
    NotClaimed {
        run_id: String,
        scenario: String,
        job_id: String,
        status: u16,
        reason: String,
        at: String,
    },
    /// A configure is about to be sent (its job_id is not known yet).
    Intent {
        run_id: String,
        scenario: String,
        at: String,
    },
    /// The configure answered with this job_id: its objects belong to the run.
    Opened {
        run_id: String,
        scenario: String,
        job_id: String,
        at: String,
    },
    /// The configure was answered (whatever the status): it is no longer in flight.
    Answered {
        run_id: String,
        scenario: String,
        status: u16,
        at: String,
    },
    /// The investigation's objects were deleted and seen gone.
    Cleaned {
        run_id: String,
        scenario: String,
        job_id: String,
        at: String,
    },
    /// A fault is about to be injected (ledgered first, so a crash cannot hide it).
    FaultInjected {
        run_id: String,
        scenario: String,
        fault: Fault,
        at: String,
    },
    /// The fault was undone.
    FaultUndone {
        run_id: String,
        fault: Fault,
        at: String,
    },
}

impl Entry {
    pub fn run_id(&self) -> &str {
        match self {
            Entry::Baseline { run_id, .. }
            | Entry::Seen { run_id, .. }
            | Entry::NotClaimed { run_id, .. }
            | Entry::Intent { run_id, .. }
            | Entry::Opened { run_id, .. }
            | Entry::Answered { run_id, .. }
            | Entry::Cleaned { run_id, .. }
            | Entry::FaultInjected { run_id, .. }
            | Entry::FaultUndone { run_id, .. } => run_id,
        }
    }
}

/// Faults injected and not undone, oldest first, from ledger entries.
pub fn faults_not_undone(entries: &[Entry]) -> Vec<Fault> {
    let mut left: Vec<Fault> = Vec::new();
    for e in entries {
        match e {
            Entry::FaultInjected { fault, .. } => left.push(fault.clone()),
            Entry::FaultUndone { fault, .. } => {
                if let Some(i) = left.iter().rposition(|f| f == fault) {
                    left.remove(i);
                }
            }
            _ => {}
        }
    }
    left
}

#[derive(Debug, thiserror::Error)]
#[error("ledger {path}: {source}")]
pub struct LedgerError {
    path: String,
    source: std::io::Error,
}

/// Append-only JSON-lines ledger in the run directory.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    run_id: String,
    state: Mutex<LedgerState>,
    /// Signalled after every append (the ConfigMap mirror waits on it).
    changed: tokio::sync::Notify,
}

/// The part of a ledger that recovery needs: the baseline, investigations opened and
/// not cleaned, and configures sent and not answered. Small whatever the run's length,
/// so it fits a ConfigMap.
#[derive(Debug, Default)]
struct Outstanding {
    baseline: Vec<Entry>,
    opened: BTreeMap<String, Entry>,
    seen: BTreeMap<String, Vec<Entry>>,
    unanswered: BTreeMap<String, std::collections::VecDeque<Entry>>,
    faults: Vec<Entry>,
}

impl Outstanding {
    fn apply(&mut self, entry: &Entry) {
        match entry {
            Entry::Baseline { .. } => self.baseline.push(entry.clone()),
            Entry::Intent { scenario, .. } => self
                .unanswered
                .entry(scenario.clone())
                .or_default()
                .push_back(entry.clone()),
            // Answers come in order per scenario: the oldest intent is answered.
            Entry::Answered { scenario, .. } => {
                if let Some(q) = self.unanswered.get_mut(scenario) {
                    q.pop_front();
                    if q.is_empty() {
                        self.unanswered.remove(scenario);
                    }
                }
            }
            Entry::Opened { job_id, .. } => {
                self.opened.insert(job_id.clone(), entry.clone());
            }
            Entry::Cleaned { job_id, .. } => {
                self.opened.remove(job_id);
                self.seen.remove(job_id);
            }
            Entry::Seen { job_id, .. } => self
                .seen
                .entry(job_id.clone())
                .or_default()
                .push(entry.clone()),
            Entry::NotClaimed { .. } => {}
            Entry::FaultInjected { .. } => self.faults.push(entry.clone()),
            Entry::FaultUndone { fault, .. } => {
                let injected =
                    |e: &Entry| matches!(e, Entry::FaultInjected { fault: f, .. } if f == fault);
                if let Some(i) = self.faults.iter().rposition(injected) {
                    self.faults.remove(i);
                }
            }
        }
    }

    fn entries(&self) -> Vec<Entry> {
        self.baseline
            .iter()
            .chain(self.opened.values())
            .chain(self.seen.values().flatten())
            .chain(self.unanswered.values().flatten())
            .chain(&self.faults)
            .cloned()
            .collect()
    }
}

#[derive(Debug)]
struct LedgerState {
    file: File,
    /// What recovery would need if the run died now (see [`Ledger::outstanding`]).
    outstanding: Outstanding,
    /// scenario key → job_ids opened and not yet cleaned.
    open: BTreeMap<String, Vec<String>>,
    /// Every job_id the run opened, cleaned or not.
    known: std::collections::BTreeSet<String>,
    /// The identities of each opened investigation's objects (see [`Entry::Seen`]).
    owned: BTreeMap<String, Vec<OwnedObject>>,
    /// The job_ids that existed before the run (never the run's).
    baseline: std::collections::BTreeSet<String>,
    /// When each job_id was claimed.
    opened_at: BTreeMap<String, String>,
}

/// The scenario name of the mirror's stand-in for configures not mirrored yet.
pub const UNMIRRORED_TAIL: &str = "(configures sent after this mirror write)";

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Ledger {
    pub fn create(path: &Path, run_id: &str) -> Result<Ledger, LedgerError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| LedgerError {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Ledger {
            path: path.to_path_buf(),
            run_id: run_id.to_string(),
            state: Mutex::new(LedgerState {
                file,
                open: BTreeMap::new(),
                known: Default::default(),
                owned: BTreeMap::new(),
                baseline: Default::default(),
                opened_at: BTreeMap::new(),
                outstanding: Outstanding::default(),
            }),
            changed: tokio::sync::Notify::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, entry: &Entry) -> Result<(), LedgerError> {
        let err = |source| LedgerError {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_string(entry).map_err(|e| err(std::io::Error::other(e)))?;
        line.push('\n');
        let mut st = self
            .state
            .lock()
            .map_err(|_| err(std::io::Error::other("ledger lock poisoned")))?;
        st.file.write_all(line.as_bytes()).map_err(err)?;
        st.file.sync_data().map_err(err)?;
        st.outstanding.apply(entry);
        self.changed.notify_one();
        match entry {
            Entry::Opened {
                scenario,
                job_id,
                at,
                ..
            } => {
                st.known.insert(job_id.clone());
                st.opened_at.insert(job_id.clone(), at.clone());
                st.open
                    .entry(scenario.clone())
                    .or_default()
                    .push(job_id.clone())
            }
            Entry::Cleaned {
                scenario, job_id, ..
            } => {
                if let Some(ids) = st.open.get_mut(scenario) {
                    ids.retain(|j| j != job_id);
                }
            }
            Entry::Seen {
                job_id, objects, ..
            } => {
                let owned = st.owned.entry(job_id.clone()).or_default();
                for o in objects {
                    if !owned.contains(o) {
                        owned.push(o.clone());
                    }
                }
            }
            Entry::Baseline { job_ids, .. } => st.baseline.extend(job_ids.iter().cloned()),
            Entry::Intent { .. }
            | Entry::Answered { .. }
            | Entry::NotClaimed { .. }
            | Entry::FaultInjected { .. }
            | Entry::FaultUndone { .. } => {}
        }
        Ok(())
    }

    pub fn intent(&self, scenario: &str) -> Result<(), LedgerError> {
        self.append(&Entry::Intent {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            at: now(),
        })
    }

    pub fn opened(&self, scenario: &str, job_id: &str) -> Result<(), LedgerError> {
        self.append(&Entry::Opened {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            job_id: job_id.into(),
            at: now(),
        })
    }

    pub fn baseline(&self, job_ids: Vec<String>, place: Place) -> Result<(), LedgerError> {
        self.append(&Entry::Baseline {
            run_id: self.run_id.clone(),
            job_ids,
            at: now(),
            place: Some(place),
        })
    }

    /// Records the identities of an opened investigation's objects.
    pub fn seen(&self, job_id: &str, objects: Vec<OwnedObject>) -> Result<(), LedgerError> {
        if objects.is_empty() {
            return Ok(());
        }
        self.append(&Entry::Seen {
            run_id: self.run_id.clone(),
            job_id: job_id.into(),
            objects,
            at: now(),
        })
    }

    /// Records an answer's job_id the run does not claim, and why.
    pub fn not_claimed(
        &self,
        scenario: &str,
        job_id: &str,
        status: u16,
        reason: &str,
    ) -> Result<(), LedgerError> {
        self.append(&Entry::NotClaimed {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            job_id: job_id.into(),
            status,
            reason: reason.into(),
            at: now(),
        })
    }

    /// The identities recorded for an investigation's objects.
    pub fn owned_objects(&self, job_id: &str) -> Vec<OwnedObject> {
        self.state
            .lock()
            .map(|st| st.owned.get(job_id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// When the run claimed this job_id.
    pub fn opened_at(&self, job_id: &str) -> Option<jiff::Timestamp> {
        self.state
            .lock()
            .ok()
            .and_then(|st| st.opened_at.get(job_id).and_then(|t| t.parse().ok()))
    }

    /// Whether the job_id existed before the run began.
    pub fn in_baseline(&self, job_id: &str) -> bool {
        self.state
            .lock()
            .map(|st| st.baseline.contains(job_id))
            .unwrap_or(true)
    }

    pub fn answered(&self, scenario: &str, status: u16) -> Result<(), LedgerError> {
        self.append(&Entry::Answered {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            status,
            at: now(),
        })
    }

    pub fn cleaned(&self, scenario: &str, job_id: &str) -> Result<(), LedgerError> {
        self.append(&Entry::Cleaned {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            job_id: job_id.into(),
            at: now(),
        })
    }

    /// Investigations a scenario opened and that are not cleaned yet, oldest first.
    pub fn open_of(&self, scenario: &str) -> Vec<String> {
        self.state
            .lock()
            .map(|st| st.open.get(scenario).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Every investigation of the run not cleaned yet.
    pub fn all_open(&self) -> Vec<(String, String)> {
        self.state
            .lock()
            .map(|st| {
                st.open
                    .iter()
                    .flat_map(|(s, ids)| ids.iter().map(move |j| (s.clone(), j.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The scenario that opened this investigation, while it is not cleaned.
    pub fn scenario_of(&self, job_id: &str) -> Option<String> {
        self.state.lock().ok().and_then(|st| {
            st.open
                .iter()
                .find(|(_, ids)| ids.iter().any(|j| j == job_id))
                .map(|(s, _)| s.clone())
        })
    }

    /// Whether the run opened this job_id (in any scenario).
    pub fn owns(&self, job_id: &str) -> bool {
        self.state
            .lock()
            .map(|st| st.known.contains(job_id))
            .unwrap_or(false)
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The entries recovery needs if the run died now, as JSON lines (the mirror's
    /// content). With `unmirrored_tail`, one more intent stamped now stands for what
    /// the run may send before the next mirror write, so recovery from the mirror
    /// alone reports that window as in flight rather than missing it.
    pub fn outstanding_text(&self, unmirrored_tail: bool) -> String {
        let mut entries = self
            .state
            .lock()
            .map(|st| st.outstanding.entries())
            .unwrap_or_default();
        if unmirrored_tail {
            entries.push(Entry::Intent {
                run_id: self.run_id.clone(),
                scenario: UNMIRRORED_TAIL.into(),
                at: now(),
            });
        }
        entries
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .map(|l| l + "\n")
            .collect()
    }

    /// Whether anything is left that recovery would have to act on.
    pub fn has_outstanding(&self) -> bool {
        self.state
            .lock()
            .map(|st| {
                let o = &st.outstanding;
                !o.opened.is_empty() || !o.unanswered.is_empty() || !o.faults.is_empty()
            })
            .unwrap_or(true)
    }

    pub fn fault_injected(&self, scenario: &str, fault: &Fault) -> Result<(), LedgerError> {
        self.append(&Entry::FaultInjected {
            run_id: self.run_id.clone(),
            scenario: scenario.into(),
            fault: fault.clone(),
            at: now(),
        })
    }

    pub fn fault_undone(&self, fault: &Fault) -> Result<(), LedgerError> {
        self.append(&Entry::FaultUndone {
            run_id: self.run_id.clone(),
            fault: fault.clone(),
            at: now(),
        })
    }

    /// Faults of the run not undone yet, oldest first.
    pub fn faults_not_undone(&self) -> Vec<Fault> {
        self.state
            .lock()
            .map(|st| faults_not_undone(&st.outstanding.faults))
            .unwrap_or_default()
    }

    /// Resolves after the next append (at once if one happened since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Parses ledger text (a file's or a mirror's); lines that do not parse are
    /// skipped here (see [`Ledger::parse_checked`] for the ones that must say so).
    pub fn parse(text: &str) -> Vec<Entry> {
        Self::parse_checked(text).0
    }

    /// Parses ledger text; also returns each line that does not parse, as
    /// `(line number from 1, the parser's message)`.
    pub fn parse_checked(text: &str) -> (Vec<Entry>, Vec<BadLine>) {
        let mut entries = Vec::new();
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(e) => entries.push(e),
                Err(e) => bad.push((i + 1, e.to_string())),
            }
        }
        (entries, bad)
    }

    /// Reads a ledger file back (for recovery after a crash).
    pub fn read(path: &Path) -> Result<Vec<Entry>, LedgerError> {
        Ok(Self::read_checked(path)?.0)
    }

    /// Reads a ledger file back, with the lines that do not parse (see [`Ledger::parse_checked`]).
    pub fn read_checked(path: &Path) -> Result<(Vec<Entry>, Vec<BadLine>), LedgerError> {
        let text = std::fs::read_to_string(path).map_err(|source| LedgerError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self::parse_checked(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_what_each_scenario_opened_and_persists_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("ledger.jsonl");
        let l = Ledger::create(&path, "run-1").expect("create");
        l.intent("s1").expect("intent");
        l.opened("s1", "1-16").expect("opened");
        l.opened("s1", "2-160").expect("opened");
        l.opened("s2", "3-17").expect("opened");
        l.cleaned("s1", "1-16").expect("cleaned");
        assert_eq!(l.open_of("s1"), vec!["2-160".to_string()]);
        assert_eq!(l.all_open().len(), 2);
        let back = Ledger::read(&path).expect("read");
        assert_eq!(back.len(), 5);
        assert!(matches!(&back[0], Entry::Intent { scenario, .. } if scenario == "s1"));
    }

    #[test]
    fn the_outstanding_part_gives_recovery_the_same_leftovers() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let l = Ledger::create(&tmp.path().join("ledger.jsonl"), "run-1").expect("create");
        l.baseline(vec!["9-9".into()], Place::default())
            .expect("baseline");
        for (s, j) in [("s1", "1-1"), ("s1", "2-2"), ("s2", "3-3")] {
            l.intent(s).expect("intent");
            l.opened(s, j).expect("opened");
            l.answered(s, 200).expect("answered");
        }
        l.cleaned("s1", "1-1").expect("cleaned");
        l.intent("s2").expect("in flight");
        let full = Ledger::read(&tmp.path().join("ledger.jsonl")).expect("read");
        let mirror = Ledger::parse(&l.outstanding_text(false));
        assert!(mirror.len() < full.len());
        assert_eq!(
            crate::safety::recovery::leftovers(&mirror),
            crate::safety::recovery::leftovers(&full)
        );
        assert!(l.has_outstanding());
    }
}
