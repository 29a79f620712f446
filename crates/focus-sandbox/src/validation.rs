//! The validation rules of `POST /configure`, one class at a time.
//!
//! A rule class is checked only when the [`Policy`] enforces it: the profile
//! (as-observed skips the classes the real server skipped) and the defects in force
//! (each validation defect switches off exactly one class, here, in
//! [`Policy::enforces`]). Every message names the offending field's wire name.
//!
//! Past ~400 lines only by its tests (the last ~210 lines).

use crate::config::{ServerConfig, ServerProfile};
use crate::defects::DefectSet;
use crate::error::AppError;
use crate::request::{ConfigureRequest, view_type};
use crate::rule::Rule;

/// An input the real server was observed to accept although a rule class it
/// enforces (or the data lookup) would refuse it: modelled in as-observed only, each
/// under its Jira key (docs/contract.md, "Known bugs").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// PZ-13760: a negative channel value passes the channel range check.
    NegativeChannels,
    /// PZ-13759: a window with a negative timestamp is launched without looking it up.
    NegativeTimes,
}

/// Which rules are in force: the profile and the defects.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The profile.
    pub profile: ServerProfile,
    /// Defects in force.
    pub defects: DefectSet,
}

impl Policy {
    /// `exclusive-bounds`: inclusive limits are treated as exclusive.
    pub fn limits_exclusive(&self) -> bool {
        self.defects
            .contains(&crate::defects::Defect::ExclusiveBounds)
    }

    /// The single injection point of every validation defect.
    pub fn enforces(&self, rule: Rule) -> bool {
        let by_profile = match self.profile {
            ServerProfile::AsRequired => true,
            ServerProfile::AsObserved => rule.enforced_as_observed(),
        };
        by_profile && !self.defects.iter().any(|d| d.disables() == Some(rule))
    }

    /// Whether the observed gap `g` is modelled (as-observed only).
    pub fn has_gap(&self, g: Gap) -> bool {
        match g {
            Gap::NegativeChannels | Gap::NegativeTimes => self.profile == ServerProfile::AsObserved,
        }
    }
}

/// Live or historic, as decided by the time fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Both times null.
    Live,
    /// Both times set.
    Historic {
        /// Epoch seconds.
        start: i64,
        /// Epoch seconds.
        end: i64,
    },
}

/// NFFT sizes of the multichannel view.
pub const MULTICHANNEL_NFFT: &[i64] = &[32, 64, 128, 256, 512, 1024, 2048];

fn is_singlechannel_nfft(n: i64) -> bool {
    (128..=65536).contains(&n) && n.count_ones() == 1
}

fn view_name(v: i64) -> &'static str {
    match v {
        view_type::MULTICHANNEL => "multichannel",
        view_type::SINGLECHANNEL => "singlechannel",
        view_type::WATERFALL => "waterfall",
        _ => "unsupported",
    }
}

/// Checks every field rule (400) except those that need the data's PRR, and
/// decides live versus historic. `now` is epoch seconds.
pub fn check_fields(
    req: &ConfigureRequest,
    policy: &Policy,
    cfg: &ServerConfig,
    now: i64,
) -> Result<Mode, AppError> {
    let bad = |m: String| Err(AppError::BadRequest(m));
    let vt = req.view_type;

    if policy.enforces(Rule::ViewType) && !(0..=2).contains(&vt) {
        return bad(format!(
            "Invalid view_type: {vt} is not supported (0 multichannel, 1 singlechannel, 2 waterfall)"
        ));
    }

    let ch = req.channels;
    if policy.enforces(Rule::ChannelRange) {
        if ch.min < cfg.lowest_channel && !(ch.min < 0 && policy.has_gap(Gap::NegativeChannels)) {
            return bad(format!(
                "Invalid channels: channels.min {} is below the lowest channel {}",
                ch.min, cfg.lowest_channel
            ));
        }
        if ch.max > cfg.highest_channel {
            return bad(format!(
                "Invalid channels: channels.max {} is above the highest channel {}",
                ch.max, cfg.highest_channel
            ));
        }
        if ch.min > ch.max {
            return bad(format!(
                "Invalid channels: channels.min {} is greater than channels.max {}",
                ch.min, ch.max
            ));
        }
    }
    let count = i128::from(ch.max) - i128::from(ch.min) + 1;
    if policy.enforces(Rule::ChannelCount) && count > i128::from(cfg.max_channel_count) {
        return bad(format!(
            "Invalid channels: {count} channels requested, at most {} allowed",
            cfg.max_channel_count
        ));
    }
    if policy.enforces(Rule::Singlechannel) && vt == view_type::SINGLECHANNEL && ch.min != ch.max {
        return bad(format!(
            "Invalid channels: singlechannel view (view_type 1) needs channels.min == channels.max, got {}..{}",
            ch.min, ch.max
        ));
    }

    if policy.enforces(Rule::Height) && req.height <= 0 {
        return bad(format!(
            "Invalid displayInfo.height: must be greater than 0, got {}",
            req.height
        ));
    }

    if policy.enforces(Rule::RequiredParams) {
        if vt == view_type::WATERFALL {
            if req.display_time_axis_duration.is_some() {
                return bad(
                    "Invalid displayTimeAxisDuration: must be omitted for view_type 2 (waterfall)"
                        .into(),
                );
            }
            if req.frequency_range.is_some() {
                return bad(
                    "Invalid frequencyRange: must be omitted for view_type 2 (waterfall)".into(),
                );
            }
            if req.nfft_selection.is_none() {
                return bad("Missing nfftSelection: must be 1 for view_type 2 (waterfall)".into());
            }
        } else {
            let name = view_name(vt);
            if req.nfft_selection.is_none() {
                return bad(format!(
                    "Missing nfftSelection: required for view_type {vt} ({name})"
                ));
            }
            if req.display_time_axis_duration.is_none() {
                return bad(format!(
                    "Missing displayTimeAxisDuration: required for view_type {vt} ({name})"
                ));
            }
            if req.frequency_range.is_none() {
                return bad(format!(
                    "Missing frequencyRange: required for view_type {vt} ({name})"
                ));
            }
        }
    }

    // After the required-parameter check, so a missing or forbidden parameter is
    // named first.
    if policy.limits_exclusive()
        && let Some(field) = at_inclusive_limit(req, cfg)
    {
        return bad(format!(
            "Invalid {field}: value at its limit is not accepted"
        ));
    }
    if policy.enforces(Rule::Duration)
        && let Some(d) = req.display_time_axis_duration
        && d <= 0
    {
        return bad(format!(
            "Invalid displayTimeAxisDuration: must be greater than 0, got {d}"
        ));
    }

    if policy.enforces(Rule::Nfft)
        && let Some(n) = req.nfft_selection
    {
        let ok = match vt {
            view_type::SINGLECHANNEL => is_singlechannel_nfft(n),
            view_type::WATERFALL => n == 1,
            _ => MULTICHANNEL_NFFT.contains(&n),
        };
        if !ok {
            let allowed = match vt {
                view_type::SINGLECHANNEL => "a power of two from 128 to 65536".to_owned(),
                view_type::WATERFALL => "1".to_owned(),
                _ => format!("one of {MULTICHANNEL_NFFT:?}"),
            };
            return bad(format!(
                "Invalid nfftSelection: {n} for view_type {vt} ({}); must be {allowed}",
                view_name(vt)
            ));
        }
    }

    check_time(req.start_time, req.end_time, policy, cfg, now)
}

fn check_time(
    start: Option<i64>,
    end: Option<i64>,
    policy: &Policy,
    cfg: &ServerConfig,
    now: i64,
) -> Result<Mode, AppError> {
    let bad = |m: &str| Err(AppError::BadRequest(format!("Invalid time range: {m}")));
    let (start, end) = match (start, end) {
        (None, None) => return Ok(Mode::Live),
        (Some(s), Some(e)) => (s, e),
        (s, _) => {
            if policy.enforces(Rule::TimeBounds) {
                let missing = if s.is_none() {
                    "start_time"
                } else {
                    "end_time"
                };
                return bad(&format!(
                    "start_time and end_time must both be set (historic) or both be null (live); {missing} is missing"
                ));
            }
            // The real server treated a one-sided window as live.
            return Ok(Mode::Live);
        }
    };
    if policy.enforces(Rule::TimeBounds) && (start < 0 || end < 0) {
        return bad("start_time and end_time must not be negative");
    }
    if policy.enforces(Rule::TimeOrder) && start >= end {
        return bad(&format!(
            "start_time ({start}) must be before end_time ({end})"
        ));
    }
    let limit = now.saturating_add(cfg.future_skew_secs);
    if policy.enforces(Rule::FutureTime) && (start > limit || end > limit) {
        let which = if start > limit {
            "start_time"
        } else {
            "end_time"
        };
        return bad(&format!("{which} is in the future"));
    }
    Ok(Mode::Historic { start, end })
}

/// The field whose value sits exactly on an inclusive limit (`exclusive-bounds`).
fn at_inclusive_limit(req: &ConfigureRequest, cfg: &ServerConfig) -> Option<&'static str> {
    let ch = req.channels;
    let count = i128::from(ch.max) - i128::from(ch.min) + 1;
    if ch.min == cfg.lowest_channel
        || ch.max == cfg.highest_channel
        || count == i128::from(cfg.max_channel_count)
    {
        return Some("channels");
    }
    if req.height == 1 {
        return Some("displayInfo.height");
    }
    if req.display_time_axis_duration == Some(1) {
        return Some("displayTimeAxisDuration");
    }
    let nfft_limits: &[i64] = match req.view_type {
        view_type::SINGLECHANNEL => &[128, 65536],
        view_type::WATERFALL => &[1],
        _ => &[32, 2048],
    };
    if req.nfft_selection.is_some_and(|n| nfft_limits.contains(&n)) {
        return Some("nfftSelection");
    }
    if req.frequency_range.is_some_and(|f| f.min == 0) {
        return Some("frequencyRange");
    }
    None
}

/// Checks `frequencyRange` against the Nyquist frequency of the data asked for.
pub fn check_frequency(
    req: &ConfigureRequest,
    policy: &Policy,
    nyquist: f64,
) -> Result<(), AppError> {
    let Some(f) = req.frequency_range else {
        return Ok(());
    };
    if !policy.enforces(Rule::Frequency) {
        return Ok(());
    }
    #[allow(clippy::cast_precision_loss)]
    let max_hz = f.max as f64;
    if policy.limits_exclusive() && (max_hz - nyquist).abs() < f64::EPSILON {
        return Err(AppError::BadRequest(format!(
            "Invalid frequencyRange: frequencyRange.max at Nyquist ({nyquist} Hz) is not accepted"
        )));
    }
    if f.min < 0 || f.min >= f.max || max_hz > nyquist {
        return Err(AppError::BadRequest(format!(
            "Invalid frequencyRange: {}..{} Hz must satisfy 0 <= frequencyRange.min < frequencyRange.max <= Nyquist ({nyquist} Hz)",
            f.min, f.max
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defects::Defect;
    use crate::request::Range;
    use serde_json::Value;

    const NOW: i64 = 1_800_000_000;

    fn req() -> ConfigureRequest {
        ConfigureRequest {
            display_time_axis_duration: Some(30),
            nfft_selection: Some(1024),
            height: 600,
            channels: Range { min: 1, max: 50 },
            frequency_range: Some(Range { min: 0, max: 500 }),
            start_time: None,
            end_time: None,
            view_type: 0,
            raw: Value::Null,
        }
    }

    fn required() -> Policy {
        Policy {
            profile: ServerProfile::AsRequired,
            defects: DefectSet::new(),
        }
    }

    fn observed() -> Policy {
        Policy {
            profile: ServerProfile::AsObserved,
            defects: DefectSet::new(),
        }
    }

    fn msg(r: Result<Mode, AppError>) -> String {
        match r {
            Err(AppError::BadRequest(m)) => m,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn valid_live_and_historic() {
        let cfg = ServerConfig::default();
        assert_eq!(
            check_fields(&req(), &required(), &cfg, NOW).ok(),
            Some(Mode::Live)
        );
        let mut r = req();
        r.start_time = Some(NOW - 100);
        r.end_time = Some(NOW - 10);
        assert_eq!(
            check_fields(&r, &required(), &cfg, NOW).ok(),
            Some(Mode::Historic {
                start: NOW - 100,
                end: NOW - 10
            })
        );
    }

    #[test]
    fn each_rule_names_its_field_and_observed_accepts_listed_inputs() {
        let cfg = ServerConfig::default();
        type Case = (fn(&mut ConfigureRequest), &'static str, bool);
        let cases: Vec<Case> = vec![
            (|r| r.view_type = 3, "view_type", true),
            (|r| r.channels.min = 0, "channels", false),
            (
                |r| r.channels = Range { min: -10, max: 50 },
                "channels",
                true,
            ),
            (
                |r| r.channels = Range { min: -5, max: -10 },
                "channels",
                false,
            ),
            (|r| r.channels.max = 2338, "channels", false),
            (
                |r| r.channels = Range { min: 10, max: 5 },
                "channels",
                false,
            ),
            (
                |r| r.channels = Range { min: 1, max: 2223 },
                "channels",
                true,
            ),
            (
                |r| {
                    r.view_type = 1;
                    r.nfft_selection = Some(1024);
                },
                "channels",
                true,
            ),
            (|r| r.height = 0, "displayInfo.height", true),
            (|r| r.nfft_selection = None, "nfftSelection", true),
            (
                |r| r.display_time_axis_duration = None,
                "displayTimeAxisDuration",
                true,
            ),
            (|r| r.frequency_range = None, "frequencyRange", true),
            (
                |r| r.display_time_axis_duration = Some(0),
                "displayTimeAxisDuration",
                true,
            ),
            (|r| r.nfft_selection = Some(1000), "nfftSelection", true),
            (|r| r.nfft_selection = Some(4096), "nfftSelection", true),
            (
                |r| {
                    r.view_type = 2;
                    r.display_time_axis_duration = None;
                    r.frequency_range = None;
                    r.nfft_selection = Some(1024);
                },
                "nfftSelection",
                true,
            ),
            (
                |r| {
                    r.view_type = 2;
                    r.nfft_selection = Some(1);
                    r.frequency_range = None;
                },
                "displayTimeAxisDuration",
                true,
            ),
            (|r| r.start_time = Some(NOW - 10), "start_time", true),
            (
                |r| {
                    r.start_time = Some(-5);
                    r.end_time = Some(10);
                },
                "start_time",
                true,
            ),
            (
                |r| {
                    r.start_time = Some(NOW - 10);
                    r.end_time = Some(NOW - 10);
                },
                "start_time",
                false,
            ),
            (
                |r| {
                    r.start_time = Some(NOW + 100);
                    r.end_time = Some(NOW + 200);
                },
                "future",
                true,
            ),
        ];
        for (i, (edit, field, observed_accepts)) in cases.into_iter().enumerate() {
            let mut r = req();
            edit(&mut r);
            let m = msg(check_fields(&r, &required(), &cfg, NOW));
            assert!(m.contains(field), "case {i}: {m:?} should name {field}");
            assert_eq!(
                check_fields(&r, &observed(), &cfg, NOW).is_ok(),
                observed_accepts,
                "case {i} as-observed"
            );
        }
    }

    #[test]
    fn singlechannel_and_waterfall_valid_forms() {
        let cfg = ServerConfig::default();
        let mut r = req();
        r.view_type = 1;
        r.channels = Range { min: 7, max: 7 };
        r.nfft_selection = Some(65536);
        assert!(check_fields(&r, &required(), &cfg, NOW).is_ok());
        r.nfft_selection = Some(64);
        assert!(check_fields(&r, &required(), &cfg, NOW).is_err());
        let mut w = req();
        w.view_type = 2;
        w.nfft_selection = Some(1);
        w.display_time_axis_duration = None;
        w.frequency_range = None;
        assert!(check_fields(&w, &required(), &cfg, NOW).is_ok());
    }

    #[test]
    fn a_defect_switches_off_its_whole_class_only() {
        let cfg = ServerConfig::default();
        let policy = Policy {
            profile: ServerProfile::AsRequired,
            defects: [Defect::SkipHeightCheck].into_iter().collect(),
        };
        let mut r = req();
        r.height = -100;
        assert!(check_fields(&r, &policy, &cfg, NOW).is_ok());
        r.nfft_selection = Some(1000);
        assert!(check_fields(&r, &policy, &cfg, NOW).is_err());
    }

    #[test]
    fn nyquist() {
        let mut r = req();
        r.frequency_range = Some(Range { min: 0, max: 1000 });
        assert!(check_frequency(&r, &required(), 1000.0).is_ok());
        r.frequency_range = Some(Range { min: 0, max: 1001 });
        assert!(check_frequency(&r, &required(), 1000.0).is_err());
        assert!(check_frequency(&r, &observed(), 1000.0).is_ok());
        r.frequency_range = Some(Range { min: 250, max: 250 });
        assert!(check_frequency(&r, &required(), 1000.0).is_err());
        r.frequency_range = Some(Range { min: -1, max: 250 });
        assert!(check_frequency(&r, &required(), 1000.0).is_err());
    }
}
