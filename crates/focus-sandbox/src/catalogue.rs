//! Live and historic data: the fiber's state and the recordings catalogue.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{ServerConfig, ServerProfile};
use crate::error::AppError;

/// The recordings' time zone.
pub const RECORDING_TZ: &str = "Asia/Jerusalem";

/// How far back the ongoing recording started when the fiber connected.
pub const ONGOING_BACKFILL_SECS: i64 = 6 * 3600;

/// One recording: `[start, end]` epoch seconds; `end` `None` while still recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Epoch seconds.
    pub start: i64,
    /// Epoch seconds, or `None` (wire: -1) while recording.
    pub end: Option<i64>,
    /// Pulse repetition rate (Hz) of the recording.
    pub prr: f64,
}

impl Recording {
    /// The `[start, end]` pair of the API (end -1 while recording).
    pub fn pair(&self) -> [i64; 2] {
        [self.start, self.end.unwrap_or(-1)]
    }

    /// Whether it overlaps `[start, end]`; an ongoing recording ends at `ongoing_end`.
    fn overlaps(&self, start: i64, end: i64, ongoing_end: i64) -> bool {
        let r_end = self.end.unwrap_or(ongoing_end);
        self.start <= end && r_end >= start
    }
}

/// The fiber and the recordings.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// Whether the fiber is connected (live stream available).
    pub fiber_connected: bool,
    /// When the current ongoing recording started (while connected).
    pub ongoing_since: i64,
    /// Finished (or explicitly ongoing) recordings.
    pub recordings: Vec<Recording>,
    /// PRR of the live fiber.
    pub prr: f64,
    /// Highest channel (for `number_of_channels`).
    pub channels: i64,
}

/// Every day of the last `days` days, 06:00–18:00 in Asia/Jerusalem.
pub fn default_recordings(now: Timestamp, days: u32, prr: f64) -> Vec<Recording> {
    let Ok(tz) = TimeZone::get(RECORDING_TZ) else {
        return Vec::new();
    };
    let today = now.to_zoned(tz.clone()).date();
    let mut out = Vec::new();
    for back in (1..=i64::from(days)).rev() {
        let Ok(day) = today.checked_sub(back.days()) else {
            continue;
        };
        let at = |h: i8| {
            day.at(h, 0, 0, 0)
                .to_zoned(tz.clone())
                .map(|z| z.timestamp().as_second())
        };
        if let (Ok(start), Ok(end)) = (at(6), at(18)) {
            out.push(Recording {
                start,
                end: Some(end),
                prr,
            });
        }
    }
    out
}

impl Catalogue {
    /// The default catalogue at `now`.
    pub fn new(cfg: &ServerConfig, now: Timestamp) -> Self {
        Catalogue {
            fiber_connected: cfg.fiber_connected,
            ongoing_since: now.as_second() - ONGOING_BACKFILL_SECS,
            recordings: default_recordings(now, cfg.recording_days, cfg.prr),
            prr: cfg.prr,
            channels: cfg.highest_channel,
        }
    }

    /// Connects or disconnects the fiber. Disconnecting finishes the ongoing recording
    /// (it stays in the catalogue); connecting starts a new one.
    pub fn set_fiber(&mut self, connected: bool, now: i64) {
        match (self.fiber_connected, connected) {
            (true, false) => self.recordings.push(Recording {
                start: self.ongoing_since,
                end: Some(now.max(self.ongoing_since)),
                prr: self.prr,
            }),
            (false, true) => self.ongoing_since = now,
            _ => {}
        }
        self.fiber_connected = connected;
    }

    /// Back to the default recordings (the ongoing one, if connected, again started
    /// [`ONGOING_BACKFILL_SECS`] ago).
    pub fn reset_recordings(&mut self, cfg: &ServerConfig, now: Timestamp) {
        self.recordings = default_recordings(now, cfg.recording_days, cfg.prr);
        self.ongoing_since = now.as_second() - ONGOING_BACKFILL_SECS;
    }

    /// Every recording, the ongoing one included while the fiber is connected.
    pub fn all(&self) -> Vec<Recording> {
        let mut all = self.recordings.clone();
        if self.fiber_connected {
            all.push(Recording {
                start: self.ongoing_since,
                end: None,
                prr: self.prr,
            });
        }
        all
    }

    /// Recordings overlapping `[start, end]`, as `[start, end]` pairs.
    pub fn in_range(&self, start: i64, end: i64, now: i64) -> Vec<[i64; 2]> {
        self.all()
            .iter()
            .filter(|r| r.overlaps(start, end, now))
            .map(Recording::pair)
            .collect()
    }

    /// The first recording overlapping a historic window. In as-observed an ongoing
    /// recording never ends (so future windows find "data", PZ-13984); in as-required
    /// it ends now.
    pub fn find(
        &self,
        start: i64,
        end: i64,
        now: i64,
        profile: ServerProfile,
    ) -> Option<Recording> {
        let ongoing_end = match profile {
            ServerProfile::AsRequired => now,
            ServerProfile::AsObserved => i64::MAX,
        };
        self.all()
            .into_iter()
            .find(|r| r.overlaps(start, end, ongoing_end))
    }

    /// `GET /live_metadata`.
    pub fn live_metadata(&self, profile: ServerProfile) -> Result<Value, AppError> {
        if self.fiber_connected {
            return Ok(json!({
                "dx": 1.0214,
                "prr": self.prr,
                "fiber_start_meters": 0,
                "fiber_length_meters": 10000,
                "sw_version": concat!("focus-sandbox ", env!("CARGO_PKG_VERSION")),
                "number_of_channels": self.channels,
                "fiber_description": "focus-sandbox simulated fiber",
            }));
        }
        match profile {
            ServerProfile::AsObserved => Ok(json!({
                "dx": 0.0,
                "prr": 0.0,
                "fiber_start_meters": null,
                "fiber_length_meters": null,
                "sw_version": "waiting for fiber",
                "number_of_channels": self.channels,
                "fiber_description": "waiting for fiber",
            })),
            ServerProfile::AsRequired => Err(AppError::NotFound(
                "Live metadata not available: waiting for fiber".into(),
            )),
        }
    }

    /// The `metadata` object of a historic configure response.
    pub fn recording_metadata(rec: &Recording) -> Value {
        json!({
            "layer_type": "recording",
            "uuid": format!("sandbox-recording-{}", rec.start),
            "version": 1,
            "parent": {
                "dx": 1.0214,
                "prr": rec.prr,
                "fiber_start_meters": 0,
                "fiber_length_meters": 10000,
                "gauge_length_meters": 10.0,
                "fiber_description": "focus-sandbox simulated fiber",
                "recording_timezone": RECORDING_TZ,
                "start_time": rec.start,
                "end_time": rec.end.unwrap_or(-1),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_days_of_daytime_recordings() {
        // 12:00 UTC is 14:00 in Jerusalem: "today" there is the 28th.
        let now: Timestamp = "2026-11-28T12:00:00Z".parse().expect("ts");
        let recs = default_recordings(now, 30, 2000.0);
        assert_eq!(recs.len(), 30);
        // 2026-11-27 06:00 Asia/Jerusalem is 04:00 UTC (IST, +02:00).
        let last = recs.last().copied().expect("one");
        let expected: Timestamp = "2026-11-27T04:00:00Z".parse().expect("ts");
        assert_eq!(last.start, expected.as_second());
        assert_eq!(last.end, Some(expected.as_second() + 12 * 3600));
    }

    #[test]
    fn overlap_and_ongoing() {
        let now: Timestamp = "2026-11-28T23:00:00Z".parse().expect("ts");
        let n = now.as_second();
        let cat = Catalogue::new(&ServerConfig::default(), now);
        assert!(
            cat.find(n - 600, n - 60, n, ServerProfile::AsRequired)
                .is_some()
        );
        assert!(
            cat.find(n + 600, n + 900, n, ServerProfile::AsRequired)
                .is_none()
        );
        assert!(
            cat.find(n + 600, n + 900, n, ServerProfile::AsObserved)
                .is_some()
        );
        // 2020 has nothing.
        assert!(
            cat.find(1_577_836_800, 1_577_840_400, n, ServerProfile::AsRequired)
                .is_none()
        );
        let pairs = cat.in_range(n - 3600, n, n);
        assert_eq!(pairs, vec![[n - ONGOING_BACKFILL_SECS, -1]]);
        let mut off = cat.clone();
        off.set_fiber(false, n);
        // What was recorded until the disconnection stays.
        assert!(
            off.find(n - 600, n - 60, n, ServerProfile::AsRequired)
                .is_some()
        );
        assert!(
            off.find(n + 1, n + 60, n + 120, ServerProfile::AsRequired)
                .is_none()
        );
        off.set_fiber(true, n + 100);
        assert_eq!(off.in_range(n + 50, n + 200, n + 200), vec![[n + 100, -1]]);
        off.reset_recordings(&ServerConfig::default(), now);
        assert_eq!(
            off.in_range(n - 3600, n, n),
            vec![[n - ONGOING_BACKFILL_SECS, -1]]
        );
        off.set_fiber(false, n);
        assert!(off.live_metadata(ServerProfile::AsRequired).is_err());
        let placeholder = off.live_metadata(ServerProfile::AsObserved).expect("200");
        assert_eq!(placeholder["sw_version"], "waiting for fiber");
    }
}
