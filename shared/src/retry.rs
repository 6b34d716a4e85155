//! The one backoff of the code base: how long to wait before trying again, for lost
//! write races, throttled batch calls and throttled sends alike.
//!
//! Each wait is drawn between half and one and a half times the current step (so
//! writers that collided spread out instead of colliding again), and the step doubles
//! up to a ceiling. A [`Backoff`] also ends: after a number of attempts, or once a
//! time budget is spent, [`Backoff::wait`] answers `false` and the caller gives up in
//! its own way (a 503, a failed batch, a message left for the next run).

use std::time::{Duration, Instant};

/// Waits between attempts, growing and jittered, with an end.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The first step; it doubles with every wait.
    first: Duration,
    /// The largest step.
    ceiling: Duration,
    /// Attempts allowed in all, the first included.
    attempts: u32,
    /// No new attempt starts after this.
    deadline: Option<Instant>,
    /// Attempts made so far (the first counts once `wait` is first called).
    made: u32,
}

impl Backoff {
    /// Steps from `first` doubling to `ceiling`, for at most `attempts` attempts.
    pub fn new(first: Duration, ceiling: Duration, attempts: u32) -> Self {
        Self {
            first,
            ceiling,
            attempts,
            deadline: None,
            made: 0,
        }
    }

    /// Also stop once `budget` has passed from now.
    pub fn within(self, budget: Duration) -> Self {
        Self {
            deadline: Instant::now().checked_add(budget),
            ..self
        }
    }

    /// The wait before the next attempt, or `None` when the attempts or the budget are
    /// spent. Counts the attempt that just failed.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.made += 1;
        if self.made >= self.attempts || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let doubling = 1u32 << (self.made - 1).min(16);
        let step = self.first.saturating_mul(doubling).min(self.ceiling);
        // Uniform in [step / 2, 3 * step / 2).
        let jitter = step.mul_f64(f64::from(random_u32()) / f64::from(u32::MAX));
        Some(step / 2 + jitter)
    }

    /// Sleeps before the next attempt; `false` (at once) when there is none.
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }

    /// Attempts made so far.
    pub fn attempts_made(&self) -> u32 {
        self.made
    }
}

/// A random `u32` from the OS-seeded generator `uuid` already uses; jitter needs no
/// more than that.
fn random_u32() -> u32 {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_to_the_ceiling_with_jitter_and_stop_after_the_attempts() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(40), 5);
        let delays: Vec<Duration> = std::iter::from_fn(|| backoff.next_delay()).collect();
        assert_eq!(delays.len(), 4, "five attempts, four waits between them");
        for (delay, step) in delays.iter().zip([10, 20, 40, 40]) {
            let step = Duration::from_millis(step);
            assert!(
                *delay >= step / 2 && *delay < step * 3 / 2,
                "{delay:?} for {step:?}"
            );
        }
        assert_eq!(backoff.attempts_made(), 5);
    }

    #[test]
    fn a_spent_budget_ends_the_attempts() {
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(1), 100)
            .within(Duration::ZERO);
        assert_eq!(backoff.next_delay(), None);
    }

    #[tokio::test]
    async fn wait_sleeps_then_reports_the_end() {
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(1), 2);
        assert!(backoff.wait().await);
        assert!(!backoff.wait().await);
    }
}
