//! The classes of validation rules of `POST /configure`. Below both `validation`
//! (which checks them) and `defects` (each validation defect switches one off).

/// A class of rules. Each one can be switched off by exactly one defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// 422: required fields present, JSON types right.
    Schema,
    /// `view_type` ∈ {0,1,2}.
    ViewType,
    /// lowest ≤ `channels.min` ≤ `channels.max` ≤ highest.
    ChannelRange,
    /// At most `max_channel_count` channels.
    ChannelCount,
    /// Singlechannel: `channels.min == channels.max`.
    Singlechannel,
    /// 0 ≤ `frequencyRange.min` < `frequencyRange.max` ≤ Nyquist.
    Frequency,
    /// `nfftSelection` in the list of its view type.
    Nfft,
    /// `displayInfo.height` > 0.
    Height,
    /// `displayTimeAxisDuration` > 0.
    Duration,
    /// Per view type: which of `nfftSelection`, `displayTimeAxisDuration`,
    /// `frequencyRange` must be present or absent.
    RequiredParams,
    /// `start_time` < `end_time`.
    TimeOrder,
    /// Both or neither of `start_time`/`end_time`; neither negative.
    TimeBounds,
    /// Not in the future.
    FutureTime,
    /// Live needs a live stream (fiber connected).
    LiveData,
    /// Historic needs recordings in the window.
    HistoricData,
}

impl Rule {
    /// Every rule class.
    pub const ALL: &'static [Rule] = &[
        Rule::Schema,
        Rule::ViewType,
        Rule::ChannelRange,
        Rule::ChannelCount,
        Rule::Singlechannel,
        Rule::Frequency,
        Rule::Nfft,
        Rule::Height,
        Rule::Duration,
        Rule::RequiredParams,
        Rule::TimeOrder,
        Rule::TimeBounds,
        Rule::FutureTime,
        Rule::LiveData,
        Rule::HistoricData,
    ];

    /// Whether the real server (contract, "Observed") enforced this class.
    pub fn enforced_as_observed(self) -> bool {
        matches!(
            self,
            Rule::Schema
                | Rule::ChannelRange
                | Rule::TimeOrder
                | Rule::LiveData
                | Rule::HistoricData
        )
    }
}
