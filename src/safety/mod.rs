//! What keeps a shared environment safe: the run lock, the ownership ledger and its
//! mirror, fault drivers and their undo, recovery after a crash. Redaction of secrets
//! is `target::redact` (the target's own values are redacted where they are read).

pub mod faults;
pub mod ledger;
pub mod ledger_mirror;
pub mod lock;
pub mod recovery;

// The path of before the move into `target`, for branches in flight.
pub use crate::target::redact;
