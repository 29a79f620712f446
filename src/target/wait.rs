//! Deadlines: every wait of the suite goes through [`within`], so a hung server or a
//! silent watch fails the step with what was awaited and for how long.

use std::future::Future;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}")]
pub struct WaitError {
    pub what: String,
    pub after: Duration,
}

/// Runs `fut` under `deadline`.
pub async fn within<F: Future>(
    deadline: Duration,
    what: &str,
    fut: F,
) -> Result<F::Output, WaitError> {
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| WaitError {
            what: what.to_string(),
            after: deadline,
        })
}
