//! The ownership ledger: every investigation the run opens is written down (and
//! fsync'd) before and after its configure, so cleanup deletes exactly what this run
//! created — after a scenario, at the end, or after a crash.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    /// The investigations that existed before the run began: never the run's.
    Baseline {
        run_id: String,
        job_ids: Vec<String>,
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
}

#[derive(Debug)]
struct LedgerState {
    file: File,
    /// scenario key → job_ids opened and not yet cleaned.
    open: BTreeMap<String, Vec<String>>,
    /// Every job_id the run opened, cleaned or not.
    known: std::collections::BTreeSet<String>,
}

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
            }),
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
        match entry {
            Entry::Opened {
                scenario, job_id, ..
            } => {
                st.known.insert(job_id.clone());
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
            Entry::Intent { .. } | Entry::Answered { .. } | Entry::Baseline { .. } => {}
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

    pub fn baseline(&self, job_ids: Vec<String>) -> Result<(), LedgerError> {
        self.append(&Entry::Baseline {
            run_id: self.run_id.clone(),
            job_ids,
            at: now(),
        })
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

    /// Whether the run opened this job_id (in any scenario).
    pub fn owns(&self, job_id: &str) -> bool {
        self.state
            .lock()
            .map(|st| st.known.contains(job_id))
            .unwrap_or(false)
    }

    /// Reads a ledger file back (for recovery after a crash).
    pub fn read(path: &Path) -> Result<Vec<Entry>, LedgerError> {
        let text = std::fs::read_to_string(path).map_err(|source| LedgerError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
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
}
