//! Latency samples of the run, by kind, with percentiles for the summary, the SLO
//! steps and `metrics.json`.
//!
//! Per investigation, the stages are taken from instants the suite itself observed
//! (the configure answer, then pod transitions seen by a watch: Kubernetes timestamps
//! have second precision): configure answered → pod scheduled → pod Running (its
//! containers started) → stream port accepting TCP. Each stage is recorded at most once
//! per investigation, whichever wait saw it first.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a latency sample measures.
pub mod kind {
    /// POST /configure, request to answer.
    pub const CONFIGURE: &str = "configure";
    /// Configure answered → the investigation's pod Running (seen by watch).
    pub const POD_START: &str = "pod_start";
    /// The Job created (seen by a Job watch; where none runs, the configure answer:
    /// the server creates the Job before it answers) → its pod scheduled (it has a
    /// node), seen by watch.
    pub const JOB_TO_SCHEDULED: &str = "job_to_scheduled";
    /// Pod scheduled → pod Running (its containers started), both seen by watch.
    pub const SCHEDULED_TO_STARTED: &str = "scheduled_to_started";
    /// Pod Running → the stream port accepts TCP.
    pub const PORT_REACHABLE: &str = "port_reachable";
}

#[derive(Debug, Default)]
pub struct Metrics {
    samples: Mutex<BTreeMap<String, Vec<Duration>>>,
    /// Observed stage instants per job_id.
    stages: Mutex<BTreeMap<String, Stages>>,
}

/// When the suite saw each stage of one investigation (None: not seen as it happened),
/// and which samples were taken.
#[derive(Debug, Default, Clone, Copy)]
struct Stages {
    job_created: Option<Instant>,
    answered: Option<Instant>,
    scheduled: Option<Instant>,
    started: Option<Instant>,
    to_scheduled_taken: bool,
    to_started_taken: bool,
    pod_start_taken: bool,
}

/// A stage of an investigation the suite observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Its Job appeared (seen by a Job watch).
    JobCreated,
    /// POST /configure answered with this job_id (the server created the Job before).
    Answered,
    /// Its pod has a node.
    Scheduled,
    /// Its pod is Running.
    Started,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(samples: &[Duration]) -> Summary {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    Summary {
        count: s.len(),
        p50_ms: ms(percentile(&s, 50.0)),
        p95_ms: ms(percentile(&s, 95.0)),
        p99_ms: ms(percentile(&s, 99.0)),
        max_ms: ms(s.last().copied().unwrap_or_default()),
    }
}

impl Metrics {
    pub fn record(&self, kind: &str, d: Duration) {
        if let Ok(mut m) = self.samples.lock() {
            m.entry(kind.to_string()).or_default().push(d);
        }
    }

    /// Records that the suite saw an investigation reach `stage` at `at` (the first
    /// observation of a stage counts) and takes each sample once, as soon as both of
    /// its ends are known: Job created (by watch, or else the configure answer, the
    /// earlier of the two known then) → scheduled; scheduled → Running; configure
    /// answered → Running (`pod_start`).
    pub fn observe(&self, job_id: &str, stage: Stage, at: Instant) {
        let mut new = Vec::new();
        if let Ok(mut m) = self.stages.lock() {
            let s = m.entry(job_id.to_string()).or_default();
            let slot = match stage {
                Stage::JobCreated => &mut s.job_created,
                Stage::Answered => &mut s.answered,
                Stage::Scheduled => &mut s.scheduled,
                Stage::Started => &mut s.started,
            };
            if slot.is_some() {
                return;
            }
            *slot = Some(at);
            let created = match (s.job_created, s.answered) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let (false, Some(from), Some(to)) = (s.to_scheduled_taken, created, s.scheduled) {
                s.to_scheduled_taken = true;
                new.push((kind::JOB_TO_SCHEDULED, to.saturating_duration_since(from)));
            }
            if let (false, Some(from), Some(to)) = (s.to_started_taken, s.scheduled, s.started) {
                s.to_started_taken = true;
                new.push((
                    kind::SCHEDULED_TO_STARTED,
                    to.saturating_duration_since(from),
                ));
            }
            if let (false, Some(from), Some(to)) = (s.pod_start_taken, s.answered, s.started) {
                s.pod_start_taken = true;
                new.push((kind::POD_START, to.saturating_duration_since(from)));
            }
        }
        for (k, d) in new {
            self.record(k, d);
        }
    }

    /// Every sample in milliseconds, by kind (the report's distribution charts).
    pub fn samples_ms(&self) -> BTreeMap<String, Vec<f64>> {
        self.samples
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.iter().map(|d| d.as_secs_f64() * 1000.0).collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn all(&self) -> BTreeMap<String, Summary> {
        self.samples
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), summarize(v))).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_recorded_once_in_any_order() {
        let m = Metrics::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // The pod is seen scheduled before the answer is processed: the sample is 0.
        m.observe("1-1", Stage::Scheduled, t0);
        m.observe("1-1", Stage::Answered, t0 + ms(5));
        m.observe("1-1", Stage::Started, t0 + ms(300));
        m.observe("1-1", Stage::Started, t0 + ms(900));
        // Only the start was seen as it happened for the second one.
        m.observe("1-2", Stage::Answered, t0);
        m.observe("1-2", Stage::Started, t0 + ms(400));
        let all = m.all();
        let count = |k: &str| all.get(k).map(|s| s.count).unwrap_or(0);
        assert_eq!(count(kind::JOB_TO_SCHEDULED), 1);
        assert_eq!(count(kind::SCHEDULED_TO_STARTED), 1);
        assert_eq!(count(kind::POD_START), 2);
        assert_eq!(all[kind::JOB_TO_SCHEDULED].max_ms, 0.0);
        assert_eq!(all[kind::SCHEDULED_TO_STARTED].max_ms, 300.0);
        assert_eq!(all[kind::POD_START].max_ms, 400.0);

        // A Job seen created before the answer is the start of the first stage.
        let m = Metrics::default();
        m.observe("1-3", Stage::JobCreated, t0);
        m.observe("1-3", Stage::Answered, t0 + ms(50));
        m.observe("1-3", Stage::Scheduled, t0 + ms(20));
        assert_eq!(m.all()[kind::JOB_TO_SCHEDULED].max_ms, 20.0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let sum = summarize(&s);
        assert_eq!(
            (sum.count, sum.p50_ms, sum.p95_ms, sum.p99_ms, sum.max_ms),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(summarize(&[]).count, 0);
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 99.0),
            Duration::from_millis(7)
        );
    }
}
