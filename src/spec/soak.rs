//! A duration-bounded churn (driven by `run::batch`): workers open and cancel
//! investigations until the soak duration is over, and the report says what a
//! long-running system must keep: no errors, no latency drift, slots and ports
//! returned, nothing left behind.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::spec::metrics::{percentile, summarize};

#[derive(Debug, Default)]
pub struct ChurnReport {
    pub opened: Vec<String>,
    pub errors: Vec<String>,
    /// (when sent, configure latency)
    pub latencies: Vec<(Duration, Duration)>,
    pub ports: BTreeSet<u16>,
    pub duration: Duration,
}

impl ChurnReport {
    /// Freed ports were reused: at most `allowed` distinct ports. Only a churn that
    /// opened more investigations than `allowed` can show it (a server that never
    /// reuses a port would exceed the bound); a smaller churn fails its premise.
    pub fn ports_reused(&self, allowed: usize) -> Result<(), String> {
        if self.opened.len() <= allowed {
            return Err(format!(
                "premise not met: the churn opened {} investigations, not more than the {allowed} distinct ports allowed: port reuse cannot be observed (raise limits.soak_duration)",
                self.opened.len()
            ));
        }
        if self.ports.len() > allowed {
            return Err(format!(
                "{} distinct stream ports for {} investigations: freed slots are not reused (allowed {allowed})",
                self.ports.len(),
                self.opened.len()
            ));
        }
        Ok(())
    }

    /// p99 of the first and of the last window (a fifth of the samples each).
    pub fn drift(&self) -> (Duration, Duration) {
        let n = self.latencies.len();
        let w = (n / 5).max(1).min(n);
        let mut first: Vec<Duration> = self.latencies[..w].iter().map(|(_, l)| *l).collect();
        let mut last: Vec<Duration> = self.latencies[n - w..].iter().map(|(_, l)| *l).collect();
        first.sort_unstable();
        last.sort_unstable();
        (percentile(&first, 99.0), percentile(&last, 99.0))
    }

    pub fn p99(&self) -> f64 {
        summarize(&self.latencies.iter().map(|(_, l)| *l).collect::<Vec<_>>()).p99_ms
    }
}

#[cfg(test)]
mod tests {
    use super::ChurnReport;
    use std::time::Duration;

    fn churn(opened: usize, ports: &[u16]) -> ChurnReport {
        ChurnReport {
            opened: (0..opened).map(|i| format!("{i}-{i}")).collect(),
            errors: Vec::new(),
            latencies: Vec::new(),
            ports: ports.iter().copied().collect(),
            duration: Duration::from_secs(1),
        }
    }

    /// The old bound passed a churn of 6 investigations on 6 ports with 8 allowed: no
    /// reuse, and nothing observed.
    #[test]
    fn a_churn_too_small_to_show_reuse_fails_its_premise() {
        let e = churn(6, &[12301, 12302, 12303, 12304, 12305, 12306])
            .ports_reused(8)
            .expect_err("too small");
        assert!(e.starts_with("premise not met"), "{e}");
    }

    #[test]
    fn reuse_is_judged_on_a_large_enough_churn() {
        assert!(churn(50, &[12301, 12302, 12303]).ports_reused(8).is_ok());
        let many: Vec<u16> = (12301..12320).collect();
        assert!(
            churn(50, &many)
                .ports_reused(8)
                .expect_err("no reuse")
                .contains("not reused")
        );
    }
}
