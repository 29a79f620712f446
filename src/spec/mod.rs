//! The domain the steps speak: investigations and their footprint, the Examples-table
//! language, the environment's facts, the contract, premises, scenario outcomes and
//! the known-issues register.

pub mod availability;
pub mod capacity;
pub mod changes;
pub mod contract;
pub mod footprint;
pub mod investigation;
pub mod known_issues;
pub mod outcome;
pub mod premise;
pub mod soak;
pub mod system;
pub mod tags;
