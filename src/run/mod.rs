//! Run orchestration: the run's lifecycle and shared context, the plan, the lock and
//! the hold, and the exit code.

pub mod exit;
pub mod hold;
pub mod lock;
pub mod plan;
pub mod publish;
pub mod runner;
pub mod suite;
