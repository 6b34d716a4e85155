//! A queue per customer for the writes of one process: first come, first served.
//!
//! The driver's read–decide–commit loop is optimistic: of several concurrent writers to one
//! profile one wins and the others re-read. With a few writers that is cheap; with
//! hundreds (a hot customer, a storefront replaying a backlog) almost every attempt
//! loses, each loser re-reads, and the retries crowd out the writes that would succeed.
//! Queueing the writers of one customer that share a process, first come first served,
//! turns that race into a line: one attempt per event. Writers in other processes (other
//! Lambda instances) are still ordered by the optimistic check, so correctness never
//! depends on this module; it only removes contention that can be avoided.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

use crate::domain::CustomerId;

type Line = Arc<tokio::sync::Mutex<()>>;

/// The customers with a writer in this process, each with its line.
static LINES: LazyLock<Mutex<HashMap<String, Line>>> = LazyLock::new(Default::default);

/// The right to write one customer; the next writer in line goes when it is dropped.
pub struct Turn {
    customer: String,
    line: Line,
    guard: Option<OwnedMutexGuard<()>>,
}

/// Waits, at most `patience`, for this process's turn to write `customer`. `None` means
/// the line was too long: the caller should answer "retry later" rather than wait on.
pub async fn take(customer: &CustomerId, patience: Duration) -> Option<Turn> {
    let line = {
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(lines.entry(customer.as_str().to_owned()).or_default())
    };
    // Built before the wait so that a timed-out waiter still tidies the map on drop.
    let mut turn = Turn {
        customer: customer.as_str().to_owned(),
        line,
        guard: None,
    };
    let guard = tokio::time::timeout(patience, Arc::clone(&turn.line).lock_owned())
        .await
        .ok()?;
    turn.guard = Some(guard);
    Some(turn)
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
        self.guard.take();
        // Nobody else holds or waits for this line (the map's copy and ours are the
        // only ones, and new waiters need the map lock held here): forget it.
        if Arc::strong_count(&self.line) == 2 {
            lines.remove(&self.customer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> CustomerId {
        CustomerId::parse("id", s).unwrap()
    }

    #[tokio::test]
    async fn one_writer_at_a_time_per_customer_and_the_map_empties() {
        let first = take(&id("turns-a"), Duration::from_secs(1)).await.unwrap();
        // Another customer is not held up.
        let other = take(&id("turns-b"), Duration::from_millis(10)).await;
        assert!(other.is_some());
        // The same customer waits, and gives up after its patience.
        assert!(
            take(&id("turns-a"), Duration::from_millis(20))
                .await
                .is_none()
        );
        let waiter = tokio::spawn(async { take(&id("turns-a"), Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        assert!(waiter.await.unwrap().is_some());
        drop(other);
        let lines = LINES.lock().unwrap();
        assert!(!lines.contains_key("turns-a") && !lines.contains_key("turns-b"));
    }
}
