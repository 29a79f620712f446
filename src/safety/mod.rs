//! What keeps a shared environment safe: the run lock, the ownership ledger and its
//! mirror, fault drivers and their undo, recovery after a crash. Redaction of secrets
//! is `target::redact` (the target's own values are redacted where they are read).

pub mod faults;
pub mod ledger;
pub mod ledger_mirror;
pub mod lock;
pub mod recovery;

/// Set when the run stops (signal, deadline, lost lock): no new configure and no new
/// fault from then on, so the sweep sees everything the run opened.
#[derive(Debug, Default)]
pub struct Stopping(std::sync::atomic::AtomicBool);

impl Stopping {
    pub fn stop(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Refuses new work once the run is stopping.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("the run is stopping: nothing new is sent");
        }
        Ok(())
    }
}
