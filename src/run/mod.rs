//! Run orchestration: the run's lifecycle and shared context, the plan, the lock and
//! the hold, and the exit code.

pub(crate) mod exclusive;
pub mod exit;
pub(crate) mod hold;
pub mod lock;
pub(crate) mod plan;
pub(crate) mod publish;
pub mod runner;
pub(crate) mod suite;
