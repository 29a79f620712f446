//! Time: wall-clock timestamps derived from tokio's clock (so tests can pause it),
//! and jittered, speed-scaled delays.

use std::time::Duration;

use rand::Rng;

/// The simulator's clock.
#[derive(Debug, Clone)]
pub struct Clock {
    start_wall: jiff::Timestamp,
    start: tokio::time::Instant,
    speed: f64,
}

impl Clock {
    /// A clock starting now; `speed` > 1 makes simulated delays shorter.
    pub fn new(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Clock {
            start_wall: jiff::Timestamp::now(),
            start: tokio::time::Instant::now(),
            speed,
        }
    }

    /// The same clock, `ms` ahead of the host's (negative: behind).
    pub fn offset_by(mut self, ms: i64) -> Self {
        let span = jiff::SignedDuration::from_millis(ms);
        self.start_wall = self.start_wall.checked_add(span).unwrap_or(self.start_wall);
        self
    }

    /// Current time (advances with tokio's clock, so a paused test clock pauses it).
    pub fn now(&self) -> jiff::Timestamp {
        let elapsed = self.start.elapsed();
        let span = jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::ZERO);
        self.start_wall.checked_add(span).unwrap_or(self.start_wall)
    }

    /// `2026-11-28T22:08:26Z` (RFC 3339, seconds precision).
    pub fn now_rfc3339(&self) -> String {
        format_ts(self.now())
    }

    /// `2026-11-28T22:08:26.123456Z` (MicroTime).
    pub fn now_micro(&self) -> String {
        let t = self.now();
        let t = t.round(jiff::Unit::Microsecond).unwrap_or(t);
        t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    /// Scale a nominal delay by the speed factor.
    pub fn scale(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// A uniformly jittered delay in `[min_ms, max_ms]`, scaled by the speed factor.
    pub fn jittered(&self, min_ms: u64, max_ms: u64) -> Duration {
        let (lo, hi) = if min_ms <= max_ms {
            (min_ms, max_ms)
        } else {
            (max_ms, min_ms)
        };
        let ms = if lo == hi {
            lo
        } else {
            rand::rng().random_range(lo..=hi)
        };
        self.scale(Duration::from_millis(ms))
    }
}

/// RFC 3339 with whole seconds, as metav1.Time serialises.
pub fn format_ts(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parse an RFC 3339 timestamp from an object.
pub fn parse_ts(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_moves_the_clock_both_ways() {
        let host = jiff::Timestamp::now();
        let behind = Clock::new(1.0).offset_by(-2000).now();
        let ahead = Clock::new(1.0).offset_by(2000).now();
        let d = |t: jiff::Timestamp| t.duration_since(host).as_millis();
        assert!((-2100..=-1900).contains(&d(behind)), "{}", d(behind));
        assert!((1900..=2100).contains(&d(ahead)), "{}", d(ahead));
    }
}
