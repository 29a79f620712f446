//! What data the environment has: its live channel range and sampling rate, and its
//! recordings, found through the API (never hard-coded) so the same scenarios run on
//! every environment. The result is a set of named [`Facts`] for the Examples tables.

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use crate::spec::changes::Facts;
use crate::target::focus_api::FocusApi;

/// How far back the suite looks for recordings.
pub const LOOKBACK_SECS: i64 = 30 * 24 * 3600;
/// Length of the historic window the suite asks for inside a recording.
pub const WINDOW_SECS: i64 = 300;

/// One recording, `[start, end]` in epoch seconds; `end == None` while still recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    pub start: i64,
    pub end: Option<i64>,
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Parses `/recordings_in_time_range`'s list of `[start, end]` pairs (`end == -1`: ongoing).
pub fn parse_recordings(body: &Value) -> anyhow::Result<Vec<Recording>> {
    let list = body
        .as_array()
        .ok_or_else(|| anyhow!("/recordings_in_time_range did not answer a list: {body}"))?;
    list.iter()
        .map(|pair| {
            let (s, e) = (
                pair.get(0).and_then(Value::as_i64),
                pair.get(1).and_then(Value::as_i64),
            );
            match (s, e) {
                (Some(start), Some(-1)) => Ok(Recording { start, end: None }),
                (Some(start), Some(end)) => Ok(Recording {
                    start,
                    end: Some(end),
                }),
                _ => Err(anyhow!(
                    "a recording is not a [start, end] pair of integers: {pair}"
                )),
            }
        })
        .collect()
}

/// Recordings overlapping `[start, end]`, as the API reports them.
pub async fn recordings(api: &FocusApi, start: i64, end: i64) -> anyhow::Result<Vec<Recording>> {
    let resp = api.recordings_in_time_range(start, end).await?;
    if resp.status != 200 {
        bail!("recordings could not be listed: {}", resp.describe());
    }
    parse_recordings(&resp.body)
}

/// The newest finished recording long enough for a window, and a gap of at least
/// `3 * 60` seconds between two recordings.
pub fn choose_windows(mut recs: Vec<Recording>) -> (Option<Recording>, Option<(i64, i64)>) {
    recs.sort_by_key(|r| r.start);
    let finished = recs
        .iter()
        .rev()
        .find(|r| r.end.is_some_and(|e| e - r.start >= 2 * WINDOW_SECS))
        .copied();
    // A gap followed by a finished recording, so windows around it lie in the past.
    let gap = recs.windows(2).rev().find_map(|w| {
        let end = w[0].end?;
        w[1].end?;
        (w[1].start - end >= 180).then_some((end + 60, w[1].start - 60))
    });
    (finished, gap)
}

/// Gathers the facts the tables use: `lowest`, `highest` (live channel range),
/// `prr` and `nyquist` (live sampling rate), `now`, and where recordings exist
/// `rec.start`, `rec.end` (a historic window inside a recording) and `gap.start`,
/// `gap.end` (a window between recordings).
pub async fn gather(api: &FocusApi) -> anyhow::Result<Facts> {
    let mut f = Facts::default();
    let now = now();
    f.set("now", now);
    let ch = api.channels().await?;
    if ch.status != 200 {
        bail!("the live channel range is unknown: {}", ch.describe());
    }
    let lowest = ch.body["lowest_channel"]
        .as_i64()
        .context("`lowest_channel` is not an integer")?;
    let highest = ch.body["highest_channel"]
        .as_i64()
        .context("`highest_channel` is not an integer")?;
    f.set("lowest", lowest);
    f.set("highest", highest);
    let live = api.live_metadata().await?;
    if let Some(prr) = live
        .body
        .get("prr")
        .and_then(Value::as_f64)
        .filter(|p| *p > 0.0)
    {
        f.set("prr", prr.round() as i64);
        f.set("nyquist", (prr / 2.0).floor() as i64);
    }
    let recs = recordings(api, now - LOOKBACK_SECS, now).await?;
    let (rec, gap) = choose_windows(recs);
    if let Some(r) = rec {
        f.set("rec.start", r.start + 60);
        f.set("rec.end", r.start + 60 + WINDOW_SECS);
    }
    if let Some((s, e)) = gap {
        f.set("gap.start", s);
        f.set("gap.end", e);
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_pairs_and_ongoing() {
        let r = parse_recordings(&json!([[10, 20], [30, -1]])).expect("parses");
        assert_eq!(
            r[1],
            Recording {
                start: 30,
                end: None
            }
        );
        assert!(parse_recordings(&json!([[10]])).is_err());
        assert!(parse_recordings(&json!({"error": "x"})).is_err());
    }

    #[test]
    fn chooses_newest_finished_recording_and_a_gap() {
        let recs = vec![
            Recording {
                start: 0,
                end: Some(1000),
            },
            Recording {
                start: 5000,
                end: Some(9000),
            },
            Recording {
                start: 20000,
                end: None,
            },
        ];
        let (rec, gap) = choose_windows(recs);
        assert_eq!(
            rec,
            Some(Recording {
                start: 5000,
                end: Some(9000)
            })
        );
        // Not the gap before the ongoing recording: windows around it reach the future.
        assert_eq!(gap, Some((1060, 4940)));
    }
}
