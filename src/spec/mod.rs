//! The domain the steps speak: investigations and their footprint, the Examples-table
//! language, the environment's facts, the contract, premises, scenario outcomes, the
//! latency samples the measurements record (`metrics`) and the known-issues register.

pub(crate) mod availability;
pub(crate) mod capacity;
pub(crate) mod changes;
pub(crate) mod contract;
pub(crate) mod footprint;
pub mod investigation;
pub(crate) mod known_issues;
pub(crate) mod metrics;
pub(crate) mod outcome;
pub(crate) mod premise;
pub(crate) mod soak;
pub(crate) mod system;
pub mod tags;
