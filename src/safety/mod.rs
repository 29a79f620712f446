//! What keeps a shared environment safe: the ownership ledger and its mirror, fault
//! drivers and their undo, recovery after a crash, and redaction of secrets.

pub mod faults;
pub mod ledger;
pub mod ledger_mirror;
pub mod recovery;
pub(crate) mod redact;
