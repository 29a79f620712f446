//! Run orchestration: the run's lifecycle and shared context, the plan, the hold,
//! and the exit code. The run lock is `safety::lock` (it protects a shared environment).

pub(crate) mod batch;
pub(crate) mod exclusive;
pub mod exit;
pub(crate) mod hold;
// The path of before the lock moved into `safety`, for branches in flight.
pub(crate) mod plan;
pub(crate) mod publish;
pub mod runner;
pub(crate) mod suite;
