//! The cap on investigations the run holds at once. Every configure takes a place
//! before it is sent; an investigation keeps its place until it is cancelled or
//! cleaned up, so ordinary scenarios running side by side can never saturate a shared
//! environment (DEV's 40 GPU slices) however many run concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a configure could not take a place.
#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(
        "the run already holds {cap} investigations (limits.max_held_investigations) and none was released within {wait:?} (deadlines.held_wait)"
    )]
    Full { cap: usize, wait: Duration },
    #[error(
        "this scenario needs {wanted} investigations at once, more than the profile lets the run hold (limits.max_held_investigations = {cap})"
    )]
    TooMany { wanted: usize, cap: usize },
}

/// A place taken for one configure; given to [`Held::keep`] once the job_id is known,
/// or dropped (released) when the configure opened nothing.
#[derive(Debug)]
pub struct Place(OwnedSemaphorePermit);

#[derive(Debug)]
pub struct Held {
    cap: usize,
    places: Arc<Semaphore>,
    kept: Mutex<HashMap<String, OwnedSemaphorePermit>>,
    peak: AtomicUsize,
}

impl Held {
    pub fn new(cap: usize) -> Held {
        Held {
            cap,
            places: Arc::new(Semaphore::new(cap)),
            kept: Mutex::new(HashMap::new()),
            peak: AtomicUsize::new(0),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Fails at once when a scenario asks for more than the cap (it could never get them).
    pub fn check_fits(&self, wanted: usize) -> Result<(), HoldError> {
        if wanted > self.cap {
            return Err(HoldError::TooMany {
                wanted,
                cap: self.cap,
            });
        }
        Ok(())
    }

    /// Takes a place, waiting at most `wait` for one to be released.
    pub async fn take(&self, wait: Duration) -> Result<Place, HoldError> {
        let full = || HoldError::Full {
            cap: self.cap,
            wait,
        };
        let permit = tokio::time::timeout(wait, self.places.clone().acquire_owned())
            .await
            .map_err(|_| full())?
            .map_err(|_| full())?;
        let in_use = self.cap - self.places.available_permits();
        self.peak.fetch_max(in_use, Ordering::Relaxed);
        Ok(Place(permit))
    }

    /// The investigation `job_id` keeps its place until [`Held::release`].
    pub fn keep(&self, job_id: &str, place: Place) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.insert(job_id.to_string(), place.0);
        }
    }

    /// The investigation is gone: its place is free again.
    pub fn release(&self, job_id: &str) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(job_id);
        }
    }

    /// Investigations held right now (the tests' view; the run reports `peak`).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.kept.lock().map(|k| k.len()).unwrap_or(0)
    }

    /// The most places in use at once during the run.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_place_is_kept_until_released_and_the_cap_is_never_exceeded() {
        let held = Held::new(2);
        let a = held.take(Duration::from_millis(10)).await.expect("first");
        held.keep("1-1", a);
        let b = held.take(Duration::from_millis(10)).await.expect("second");
        let full = held.take(Duration::from_millis(20)).await;
        assert!(
            matches!(full, Err(HoldError::Full { cap: 2, .. })),
            "{full:?}"
        );
        drop(b); // a configure that opened nothing gives its place back
        let c = held.take(Duration::from_millis(10)).await.expect("freed");
        held.keep("2-2", c);
        assert_eq!(held.held(), 2);
        held.release("1-1");
        assert!(held.take(Duration::from_millis(10)).await.is_ok());
        assert_eq!(held.peak(), 2);
        assert!(held.check_fits(3).is_err());
        assert!(held.check_fits(2).is_ok());
    }
}
