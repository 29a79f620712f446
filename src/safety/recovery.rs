//! Recovery after a crash: `focus-scope cleanup [--run ID | --all] [--include-in-flight]`
//! deletes exactly the investigations the run's ledger says it opened and did not
//! clean. Configures that were in flight (intent ledgered, no answer) are reported with
//! their time window and the unclaimed investigation objects created in it; those are
//! deleted only with `--include-in-flight`, and only on unprotected profiles.
//!
//! Size: `cleanup` end to end (ledger files, mirrors, fault undo, the lease check); the
//! next cut is files vs mirrors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::safety::ledger::{Entry, Ledger, Place};
use crate::target::config::{Config, TargetKind};
use crate::target::kube::Cluster;
use crate::target::names::InvestigationObjects;
use crate::target::names::OwnedObject;

/// What one run's ledger says is left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// job_ids opened and never cleaned.
    pub opened: Vec<String>,
    /// Times (RFC 3339) of configures sent without a recorded answer.
    pub in_flight: Vec<String>,
}

/// Opened minus cleaned, and intents with no answer, from ledger entries.
pub fn leftovers(entries: &[Entry]) -> Leftovers {
    let mut cleaned = BTreeSet::new();
    let mut opened = Vec::new();
    // Per scenario: intents in order, and how many were answered (answers come in order).
    let mut intents: std::collections::BTreeMap<&str, (Vec<&str>, usize)> = Default::default();
    for e in entries {
        match e {
            Entry::Intent { scenario, at, .. } => intents.entry(scenario).or_default().0.push(at),
            Entry::Answered { scenario, .. } => intents.entry(scenario).or_default().1 += 1,
            Entry::Opened { job_id, .. } => opened.push(job_id.clone()),
            Entry::Cleaned { job_id, .. } => {
                cleaned.insert(job_id.clone());
            }
            Entry::Baseline { .. }
            | Entry::Seen { .. }
            | Entry::NotClaimed { .. }
            | Entry::FaultInjected { .. }
            | Entry::FaultUndone { .. } => {}
        }
    }
    let in_flight = intents
        .into_values()
        .flat_map(|(ats, answered)| ats.into_iter().skip(answered).map(String::from))
        .collect();
    Leftovers {
        opened: opened
            .into_iter()
            .filter(|j| !cleaned.contains(j))
            .collect(),
        in_flight,
    }
}

/// One run's ledger to recover: a file in the run directory, or its ConfigMap mirror
/// in the namespace (when the machine that ran it is gone).
#[derive(Debug)]
pub struct LedgerSource {
    pub run_id: String,
    /// Where it was read, for messages.
    pub origin: String,
    pub entries: Vec<Entry>,
    /// Lines that do not parse: (line number, message).
    pub bad_lines: Vec<(usize, String)>,
}

/// The identities a ledger recorded, by job_id.
pub fn owned_by_job(entries: &[Entry]) -> std::collections::BTreeMap<String, Vec<OwnedObject>> {
    let mut owned: std::collections::BTreeMap<String, Vec<OwnedObject>> = Default::default();
    for e in entries {
        if let Entry::Seen {
            job_id, objects, ..
        } = e
        {
            owned
                .entry(job_id.clone())
                .or_default()
                .extend(objects.iter().cloned());
        }
    }
    owned
}

/// When each job_id was claimed, from `opened` entries.
fn opened_times(entries: &[Entry]) -> std::collections::BTreeMap<String, jiff::Timestamp> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Opened { job_id, at, .. } => Some((job_id.clone(), at.parse().ok()?)),
            _ => None,
        })
        .collect()
}

/// Where a ledger says its run acted (its baseline's place), if it says.
pub fn place_of(entries: &[Entry]) -> Option<&Place> {
    entries.iter().find_map(|e| match e {
        Entry::Baseline { place: Some(p), .. } if !p.server.is_empty() => Some(p),
        _ => None,
    })
}

/// A run whose lock is live is still running: it is not cleaned behind its back.
#[derive(Debug, thiserror::Error)]
#[error(
    "run {holder} still holds the run lock (Lease {lease} in namespace {namespace}, renewed {renewed}, expires {expires}): it is running, not crashed; cleanup refused (--force cleans it anyway)"
)]
pub struct LiveRun {
    pub holder: String,
    pub lease: String,
    pub namespace: String,
    pub renewed: String,
    pub expires: String,
}

fn run_id_of(entries: &[Entry]) -> Option<String> {
    entries.first().map(|e| e.run_id().to_string())
}

/// The local ledger files to recover: one run's, or every run's.
pub fn local_ledgers(output_root: &Path, run: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let runs = output_root.join("runs");
    match run {
        Some(id) => {
            let p = runs.join(id).join("ledger.jsonl");
            Ok(if p.is_file() { vec![p] } else { vec![] })
        }
        None => {
            let mut all: Vec<PathBuf> = match std::fs::read_dir(&runs) {
                Ok(dir) => dir
                    .flatten()
                    .map(|e| e.path().join("ledger.jsonl"))
                    .filter(|p| p.is_file())
                    .collect(),
                Err(_) => vec![],
            };
            all.sort();
            Ok(all)
        }
    }
}

/// Local ledgers first; a run known only from its ConfigMap mirror is recovered from it.
pub fn sources(
    output_root: &Path,
    run: Option<&str>,
    mirrors: Vec<crate::safety::ledger_mirror::Mirrored>,
) -> anyhow::Result<Vec<LedgerSource>> {
    let mut found = Vec::new();
    for path in local_ledgers(output_root, run)? {
        let (entries, bad_lines) = Ledger::read_checked(&path)?;
        let run_id = run_id_of(&entries).unwrap_or_default();
        found.push(LedgerSource {
            run_id,
            origin: path.display().to_string(),
            entries,
            bad_lines,
        });
    }
    for m in mirrors {
        let wanted = run.is_none_or(|r| r == m.run_id);
        if wanted && !found.iter().any(|s| s.run_id == m.run_id) {
            found.push(LedgerSource {
                run_id: m.run_id,
                origin: format!("ConfigMap {}", m.configmap),
                entries: m.entries,
                bad_lines: m.bad_lines,
            });
        }
    }
    if found.is_empty() {
        match run {
            Some(id) => bail!(
                "no ledger for run {id}: neither {} nor a ConfigMap mirror in the namespace",
                output_root
                    .join("runs")
                    .join(id)
                    .join("ledger.jsonl")
                    .display()
            ),
            None => bail!(
                "no ledgers under {} and no ConfigMap mirrors in the namespace",
                output_root.join("runs").display()
            ),
        }
    }
    Ok(found)
}

/// Runs the command; returns the number of investigations that could not be removed.
pub async fn cleanup(
    config: &Config,
    output_root: &Path,
    run: Option<&str>,
    include_in_flight: bool,
    force: bool,
) -> anyhow::Result<usize> {
    if config.profile.target.kind == TargetKind::Sandbox {
        bail!(
            "profile `{}` is the embedded sandbox: its cluster ended with its run, nothing can be left",
            config.name
        );
    }
    if include_in_flight && config.profile.protected {
        bail!(
            "profile `{}` is protected: --include-in-flight is refused (candidates are only reported)",
            config.name
        );
    }
    let t = &config.profile.target;
    let cluster = Cluster::connect_target(config, config.profile.deadlines.request).await?;
    let deadline = config.profile.deadlines.deletion;
    let api = crate::target::focus_api::FocusApi::with_ca(
        t.api_url.as_deref().unwrap_or_default(),
        config.profile.deadlines.request,
        t.tls_verify,
        config.tls_ca_pem()?.as_deref(),
    )?;
    let mut failed = 0;
    let mut owned_everywhere = BTreeSet::new();
    let mut windows = Vec::new();
    let mut served = Vec::new();
    let mirrors = crate::target::wait::within(
        config.profile.deadlines.request,
        "list the ledgers' ConfigMap mirrors",
        crate::safety::ledger_mirror::list(&cluster),
    )
    .await?
    .context("listing the ledgers' ConfigMap mirrors")?;
    let found = sources(output_root, run, mirrors)?;
    if !force {
        refuse_live_runs(&cluster, &found).await?;
    }
    let mut never_seen = Vec::new();
    for source in &found {
        let LedgerSource {
            entries,
            origin,
            bad_lines,
            ..
        } = source;
        for (line, message) in bad_lines {
            failed += 1;
            tracing::error!(%origin, "line {line} is not a ledger entry ({message}): not acted on");
        }
        // A run is cleaned only where it ran: the same cluster and namespace.
        if let Some(place) = place_of(entries)
            && (!crate::target::kube::same_server(&place.server, cluster.server())
                || place.namespace != cluster.namespace())
        {
            failed += 1;
            tracing::error!(
                %origin,
                "run {} ran on {} namespace {} (profile {}), but this cleanup is connected to {} namespace {}: refused",
                source.run_id,
                crate::target::redact::url(&place.server),
                place.namespace,
                place.profile,
                crate::target::redact::url(cluster.server()),
                cluster.namespace()
            );
            continue;
        }
        let from_mirror = origin.starts_with("ConfigMap ");
        let failed_before = failed;
        for e in entries {
            match e {
                // Not candidates: the run's own (handled above) and what existed before it.
                Entry::Opened { job_id, .. } => {
                    owned_everywhere.insert(job_id.clone());
                }
                Entry::Baseline { job_ids, .. } => owned_everywhere.extend(job_ids.iter().cloned()),
                _ => {}
            }
        }
        // The suite's own fault objects of that run, by its run-id label.
        let run_ids: BTreeSet<String> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Baseline { run_id, .. } | Entry::Intent { run_id, .. } => {
                    Some(run_id.clone())
                }
                _ => None,
            })
            .collect();
        for run_id in run_ids {
            for object in cluster
                .delete_labelled(&crate::target::names::label_value(&run_id), true)
                .await?
            {
                crate::say!("deleted {object} (a fault object of run {run_id})");
            }
            for node in cluster
                .uncordon_labelled(&crate::target::names::label_value(&run_id))
                .await?
            {
                crate::say!("uncordoned Node/{node} (cordoned by run {run_id})");
            }
            // The live stream's Deployment, when the run cut it and its ledger is lost.
            if let Some(name) = &config.profile.live_stream_deployment
                && let Some(done) = cluster
                    .restore_labelled_deployment(name, &crate::target::names::label_value(&run_id))
                    .await?
            {
                crate::say!("{done} (scaled by run {run_id})");
            }
        }
        // Faults of that run not undone (a Deployment scaled to 0, the sandbox's fiber,
        // a cordon), newest first, through the API and cluster of this profile. A
        // mirror is evidence, not authority: from it, only what the label sweep above
        // found is undone.
        if from_mirror {
            for fault in crate::safety::ledger::faults_not_undone(entries) {
                crate::say!(
                    "not undone from {origin} (a mirror is undone by its run-id labels only): {fault:?}"
                );
            }
        } else {
            for fault in crate::safety::ledger::faults_not_undone(entries)
                .iter()
                .rev()
            {
                let label = crate::target::names::label_value(&source.run_id);
                match crate::safety::faults::undo(&api, &cluster, fault, &label).await {
                    Ok(()) => crate::say!("undid {fault:?} (a fault of run {})", source.run_id),
                    Err(e) => {
                        failed += 1;
                        tracing::error!(run = %source.run_id, error = format!("{e:#}"), "could not undo {fault:?}");
                    }
                }
            }
        }
        let left = leftovers(entries);
        let owned = owned_by_job(entries);
        // Only objects whose identity the ledger recorded are the run's; an
        // investigation it never saw the objects of is a candidate, like an in-flight one.
        let (known, unseen): (Vec<String>, Vec<String>) = left
            .opened
            .iter()
            .cloned()
            .partition(|j| owned.get(j).is_some_and(|o| !o.is_empty()));
        for job_id in unseen {
            crate::say!(
                "investigation {job_id} ({origin}): the run never recorded its objects' identities: not deleted as the run's"
            );
            never_seen.push(job_id);
        }
        let opened_at = opened_times(entries);
        let mut work = Vec::new();
        for j in known {
            let mut o = owned.get(&j).cloned().unwrap_or_default();
            // Objects the run did not read at the claim (the cleanup Job): theirs if
            // created around it.
            if let Some(at) = opened_at.get(&j) {
                o.extend(
                    cluster
                        .identities_around(
                            &InvestigationObjects::of(&j),
                            &o,
                            *at,
                            config.profile.deadlines.request,
                        )
                        .await?,
                );
            }
            work.push((j, o));
        }
        for (job_id, r) in delete_all(&cluster, work, deadline).await {
            match r {
                Ok(()) => crate::say!("deleted investigation {job_id} ({origin})"),
                Err(e) => {
                    failed += 1;
                    tracing::error!(%job_id, error = %e, "could not delete investigation");
                }
            }
        }
        // The mirror has served its purpose once nothing of the run is left to act on.
        if failed == failed_before && (left.in_flight.is_empty() || include_in_flight) {
            served.push(source.run_id.clone());
        }
        windows.extend(left.in_flight);
    }
    let failed_before_windows = failed;
    if !never_seen.is_empty() {
        crate::say!(
            "investigations the run opened without recording their objects' identities: {}",
            never_seen.join(", ")
        );
        if include_in_flight {
            failed += delete_current(&cluster, never_seen, deadline).await;
        }
    }
    for at in windows {
        let Ok(since) = at.parse::<jiff::Timestamp>() else {
            continue;
        };
        let until = since
            + jiff::SignedDuration::try_from(config.profile.deadlines.request).unwrap_or_default();
        let candidates: BTreeSet<String> = cluster
            .investigation_objects_between(since, until)
            .await?
            .into_iter()
            .filter(|(_, id)| !owned_everywhere.contains(id))
            .map(|(_, id)| id)
            .collect();
        crate::say!(
            "configure in flight at the crash, window {since} .. {until}: candidate investigations created in it: {}",
            if candidates.is_empty() {
                "none".to_string()
            } else {
                candidates.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        );
        if include_in_flight {
            failed += delete_current(&cluster, candidates.into_iter().collect(), deadline).await;
        }
    }
    if failed == failed_before_windows {
        for run_id in served {
            match crate::target::wait::within(
                config.profile.deadlines.request,
                "the ledger mirror to be deleted",
                crate::safety::ledger_mirror::remove(&cluster, &run_id),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(run = %run_id, error = %e, "could not delete the ledger mirror")
                }
                Err(e) => {
                    tracing::warn!(run = %run_id, error = %e, "could not delete the ledger mirror")
                }
            }
        }
    }
    Ok(failed)
}

/// Investigations deleted at once (each deletion waits until its objects are gone).
const PARALLEL_DELETES: usize = 16;

/// Deletes each investigation's recorded objects (by uid), several at a time.
async fn delete_all(
    cluster: &Cluster,
    work: Vec<(String, Vec<OwnedObject>)>,
    deadline: std::time::Duration,
) -> Vec<(String, anyhow::Result<()>)> {
    use futures::StreamExt as _;
    futures::stream::iter(work)
        .map(|(job_id, owned)| async move {
            let r = cluster
                .delete_investigation(&InvestigationObjects::of(&job_id), &owned, deadline)
                .await
                .map_err(anyhow::Error::from);
            (job_id, r)
        })
        .buffer_unordered(PARALLEL_DELETES)
        .collect()
        .await
}

/// `--include-in-flight` (unprotected profiles): deletes candidates as they are now
/// (their current uids); returns how many could not be deleted.
async fn delete_current(
    cluster: &Cluster,
    job_ids: Vec<String>,
    deadline: std::time::Duration,
) -> usize {
    let mut work = Vec::new();
    let mut failed = 0;
    for job_id in job_ids {
        match cluster.identities(&InvestigationObjects::of(&job_id)).await {
            Ok(o) => work.push((job_id, o)),
            Err(e) => {
                failed += 1;
                tracing::error!(%job_id, error = %e, "could not read the in-flight candidate");
            }
        }
    }
    for (job_id, r) in delete_all(cluster, work, deadline).await {
        match r {
            Ok(()) => crate::say!("deleted in-flight candidate {job_id}"),
            Err(e) => {
                failed += 1;
                tracing::error!(%job_id, error = %e, "could not delete the in-flight candidate");
            }
        }
    }
    failed
}

/// Refuses (with [`LiveRun`]) when a run to be cleaned still holds the run lock.
async fn refuse_live_runs(cluster: &Cluster, found: &[LedgerSource]) -> anyhow::Result<()> {
    let Some(holder) = crate::target::wait::within(
        cluster.request_timeout(),
        "read the run lock",
        crate::safety::lock::current_holder(cluster),
    )
    .await??
    else {
        return Ok(());
    };
    if found.iter().any(|s| s.run_id == holder.identity) {
        return Err(LiveRun {
            holder: holder.identity,
            lease: crate::safety::lock::LOCK_NAME.to_string(),
            namespace: cluster.namespace().to_string(),
            renewed: holder.renewed.to_string(),
            expires: holder.expires.to_string(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(s: &str, at: &str) -> Entry {
        Entry::Intent {
            run_id: "r".into(),
            scenario: s.into(),
            at: at.into(),
        }
    }
    fn opened(s: &str, j: &str) -> Entry {
        Entry::Opened {
            run_id: "r".into(),
            scenario: s.into(),
            job_id: j.into(),
            at: "t".into(),
        }
    }
    fn answered(s: &str) -> Entry {
        Entry::Answered {
            run_id: "r".into(),
            scenario: s.into(),
            status: 200,
            at: "t".into(),
        }
    }
    fn cleaned(s: &str, j: &str) -> Entry {
        Entry::Cleaned {
            run_id: "r".into(),
            scenario: s.into(),
            job_id: j.into(),
            at: "t".into(),
        }
    }

    #[test]
    fn opened_minus_cleaned_and_unanswered_intents() {
        let entries = vec![
            intent("a", "2026-01-01T00:00:00Z"),
            opened("a", "1-1"),
            answered("a"),
            intent("a", "2026-01-01T00:00:01Z"),
            answered("a"), // rejected: answered, nothing opened
            intent("a", "2026-01-01T00:00:01Z"),
            opened("a", "2-2"),
            answered("a"),
            cleaned("a", "1-1"),
            intent("b", "2026-01-01T00:00:02Z"),
        ];
        let l = leftovers(&entries);
        assert_eq!(l.opened, vec!["2-2".to_string()]);
        assert_eq!(l.in_flight, vec!["2026-01-01T00:00:02Z".to_string()]);
    }
}
