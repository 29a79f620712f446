//! Latency samples of the run, by kind, with percentiles for the summary, the SLO
//! steps and `metrics.json`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a latency sample measures.
pub mod kind {
    /// POST /configure, request to answer.
    pub const CONFIGURE: &str = "configure";
    /// Configure answered → the investigation's pod Running (seen by watch).
    pub const POD_START: &str = "pod_start";
    /// Pod Running → the stream port accepts TCP.
    pub const PORT_REACHABLE: &str = "port_reachable";
}

#[derive(Debug, Default)]
pub struct Metrics {
    samples: Mutex<BTreeMap<String, Vec<Duration>>>,
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
