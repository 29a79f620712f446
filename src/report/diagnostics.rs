//! Failure diagnostics: when a scenario fails, before its cleanup runs, the last
//! exchange with Focus Server (headers redacted) and, for each investigation it
//! touched, the Job/pod/Service manifests, their events and the pod's log tail are
//! written to `diagnostics/<scenario>.md` in the run directory and linked from the
//! report. Collection is best effort and bounded: it never turns a failure into a
//! hang, and what could not be read is said in the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Event;
use kube::api::{ListParams, LogParams};
use serde::Serialize;

use crate::target::focus_api::ApiResponse;
use crate::target::kube::Cluster;
use crate::target::names::InvestigationObjects;
use crate::target::wait::within;

/// Investigations described per failed scenario (the 200 scenario would write 200).
const MAX_INVESTIGATIONS: usize = 3;
/// Lines of each pod's log.
const LOG_TAIL_LINES: i64 = 50;

/// The file, relative to the run directory, of a scenario's diagnostics.
pub fn relative_path(id: &str, hebrew: bool, line: usize) -> PathBuf {
    let lang = if hebrew { "he" } else { "en" };
    PathBuf::from("diagnostics").join(format!(
        "{}-{lang}-{line}.md",
        crate::target::names::label_value(id)
    ))
}

/// What the failed scenario was and what it touched.
pub struct FailedScenario<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub hebrew: bool,
    pub line: usize,
    pub last: Option<&'a ApiResponse>,
    pub job_ids: Vec<String>,
}

/// A Kubernetes object as YAML, secrets redacted (env values, managedFields,
/// secret-looking annotations).
fn yaml<T: Serialize>(v: &T) -> String {
    let shown = serde_json::to_value(v)
        .map(crate::target::redact::manifest)
        .map_err(|e| e.to_string());
    match shown {
        Ok(v) => serde_saphyr::to_string(&v).unwrap_or_else(|e| format!("# not printable: {e}\n")),
        Err(e) => format!("# not printable: {e}\n"),
    }
}

/// A fenced block the text cannot close (the fence is longer than any backtick run
/// in it), so a log line or a body cannot forge the rest of the file.
fn fenced(h: &mut String, lang: &str, text: &str) {
    let fence = crate::target::redact::fence_for(text);
    let _ = writeln!(h, "{fence}{lang}\n{}\n{fence}", text.trim_end());
}

fn exchange(h: &mut String, r: &ApiResponse) {
    let _ = writeln!(
        h,
        "## Last Focus Server exchange\n\n`{} {}` → **{}** in {} ms\n",
        r.method,
        r.path,
        r.status,
        r.latency.as_millis()
    );
    if let Some(b) = &r.request_body {
        h.push_str("Request (content-type: application/json):\n\n");
        fenced(
            h,
            "json",
            &serde_json::to_string_pretty(b).unwrap_or_default(),
        );
    }
    h.push_str("\nResponse headers (secrets redacted):\n\n");
    let headers: String = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    fenced(h, "", &headers);
    h.push_str("\nResponse body:\n\n");
    // Long answers (configure's channel map) stay on one line.
    let pretty = serde_json::to_string_pretty(&r.body).unwrap_or_default();
    let body = if pretty.len() > 2000 {
        r.body.to_string()
    } else {
        pretty
    };
    fenced(h, "json", &body);
}

/// Where a run's diagnostics are read from and written to.
pub struct Diagnostics<'a> {
    pub cluster: &'a Cluster,
    /// Each read waits at most this (the profile's `deadlines.request`).
    pub deadline: std::time::Duration,
    pub run_id: &'a str,
    pub run_dir: &'a Path,
}

impl Diagnostics<'_> {
    /// Writes the scenario's diagnostics; returns the file written.
    pub async fn write(&self, failed: &FailedScenario<'_>) -> anyhow::Result<PathBuf> {
        let mut h = String::new();
        let _ = writeln!(
            h,
            "# Diagnostics: `{}` ({})\n\nrun `{}` · scenario line {} · collected {}\n",
            failed.id,
            failed.name,
            self.run_id,
            failed.line,
            jiff::Timestamp::now()
        );
        match failed.last {
            Some(r) => exchange(&mut h, r),
            None => h.push_str("## Last Focus Server exchange\n\nnone in this scenario\n"),
        }
        let mut ids = failed.job_ids.clone();
        ids.dedup();
        if ids.is_empty() {
            h.push_str("\n## Investigations\n\nthe scenario opened none\n");
        }
        if ids.len() > MAX_INVESTIGATIONS {
            let _ = writeln!(
                h,
                "\n{} investigations; the first {MAX_INVESTIGATIONS} are described.",
                ids.len()
            );
            ids.truncate(MAX_INVESTIGATIONS);
        }
        for job_id in &ids {
            self.describe_investigation(&mut h, job_id).await;
        }
        let path = self
            .run_dir
            .join(relative_path(failed.id, failed.hebrew, failed.line));
        write_file(&path, &h)?;
        Ok(path)
    }

    async fn describe_investigation(&self, h: &mut String, job_id: &str) {
        let objects = InvestigationObjects::of(job_id);
        let _ = writeln!(h, "\n## Investigation `{job_id}`\n");
        let deadline = self.deadline;
        let mut names = vec![
            objects.stream_job.clone(),
            objects.cleanup_job.clone(),
            objects.service.clone(),
        ];
        for job in objects.jobs() {
            match self.cluster.job(job).await {
                Ok(Some(j)) => {
                    let _ = writeln!(h, "### Job `{job}`\n");
                    fenced(h, "yaml", &yaml(&j));
                }
                Ok(None) => {
                    let _ = writeln!(h, "### Job `{job}`\n\nnot found\n");
                }
                Err(e) => {
                    let _ = writeln!(h, "### Job `{job}`\n\ncould not be read: {e}\n");
                }
            }
            let pods = self.cluster.pods_of_job(job).await.unwrap_or_default();
            for p in &pods {
                let name = p.metadata.name.clone().unwrap_or_default();
                let _ = writeln!(h, "### Pod `{name}`\n");
                fenced(h, "yaml", &yaml(p));
                let _ = writeln!(h, "Log tail (last {LOG_TAIL_LINES} lines):\n");
                let lp = LogParams {
                    tail_lines: Some(LOG_TAIL_LINES),
                    ..Default::default()
                };
                match within(deadline, "a pod log", self.cluster.pod_log(&name, &lp)).await {
                    Ok(Ok(text)) if text.trim().is_empty() => h.push_str("(empty)\n\n"),
                    Ok(Ok(text)) => fenced(h, "", &text),
                    Ok(Err(e)) => {
                        let _ = writeln!(h, "could not be read: {e}\n");
                    }
                    Err(e) => {
                        let _ = writeln!(h, "could not be read: {e}\n");
                    }
                }
                names.push(name);
            }
        }
        match self.cluster.service(&objects.service).await {
            Ok(Some(s)) => {
                let _ = writeln!(h, "### Service `{}`\n", objects.service);
                fenced(h, "yaml", &yaml(&s));
            }
            Ok(None) => {
                let _ = writeln!(h, "### Service `{}`\n\nnot found\n", objects.service);
            }
            Err(e) => {
                let _ = writeln!(
                    h,
                    "### Service `{}`\n\ncould not be read: {e}\n",
                    objects.service
                );
            }
        }
        h.push_str("### Events\n\n");
        let mut mine = Vec::new();
        for name in &names {
            let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
            match within(deadline, "events", self.cluster.list_kind::<Event>(&lp)).await {
                Ok(Ok(items)) => mine.extend(items),
                Ok(Err(e)) => {
                    let _ = writeln!(h, "events of {name} could not be read: {e}\n");
                }
                Err(e) => {
                    let _ = writeln!(h, "events of {name} could not be read: {e}\n");
                }
            }
        }
        if mine.is_empty() {
            h.push_str("none\n");
            return;
        }
        h.push_str("| type | reason | object | message |\n|---|---|---|---|\n");
        for e in mine {
            let _ = writeln!(
                h,
                "| {} | {} | {}/{} | {} |",
                e.type_.as_deref().unwrap_or(""),
                e.reason.as_deref().unwrap_or(""),
                e.involved_object.kind.as_deref().unwrap_or(""),
                e.involved_object.name.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("").replace('|', "\\|")
            );
        }
    }
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scenario_row_has_its_own_file() {
        assert_eq!(
            relative_path("api-channels/above-max", false, 12),
            PathBuf::from("diagnostics/api-channels-above-max-en-12.md")
        );
        assert_ne!(relative_path("x", true, 3), relative_path("x", false, 3));
    }
}
