//! What the scoring job concludes about a customer, stored beside the profile.
//!
//! Scores live in the job's own item (with the message history, see
//! [`super::outreach::JobState`]), written only by the job: events rewrite the profile
//! constantly, and keeping the two apart means neither can overwrite the other's
//! fields, and the job can write in batches without version checks.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::CustomerId;

/// Where a customer stands for marketing, from the scores: the most valuable (`vip`),
/// recently acquired (`new`), drifting away (`at_risk`), gone (`lost`) or the rest
/// (`active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    Vip,
    New,
    AtRisk,
    Lost,
    Active,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Vip => "vip",
            Segment::New => "new",
            Segment::AtRisk => "at_risk",
            Segment::Lost => "lost",
            Segment::Active => "active",
        }
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerScores {
    pub customer_id: CustomerId,
    /// Probability of no purchase in the churn window.
    pub churn_risk: f64,
    /// BG/NBD probability that the customer is still active.
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value over the horizon, in minor units of the shop's currency.
    pub clv_minor: i64,
    pub segment: Segment,
    pub horizon_weeks: f64,
    pub model_version: String,
    pub scored_at: DateTime<Utc>,
    /// When the customer is expected to order next if they are still buying (the
    /// models' date or their own rhythm, whichever backtested better on the shop), and
    /// how likely an order within the horizon is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_order_on: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_order_in_horizon: Option<f64>,
}

/// Scores older than this are written again whatever moved, so `scored_at` is never
/// more than a day old for a customer the job still reads.
pub const RESCORE_AFTER_HOURS: i64 = 24;
/// A probability that moved less than this has not moved for any rule or reader.
pub const PROBABILITY_STEP: f64 = 0.01;
/// A CLV or expected-purchase count that moved less than this share (and a CLV less
/// than one major unit) has not moved.
pub const VALUE_STEP: f64 = 0.01;

impl CustomerScores {
    /// Whether these scores, computed at `now`, say nothing `stored` does not: the same
    /// model, segment and next-order day, every probability within
    /// [`PROBABILITY_STEP`], CLV and expected purchases within [`VALUE_STEP`] (a CLV
    /// within 100 minor units), and `stored` less than [`RESCORE_AFTER_HOURS`] old.
    /// A refit on a little more data moves every score in its last digits; such a run
    /// need not rewrite every customer.
    pub fn same_as(&self, stored: &CustomerScores, now: DateTime<Utc>) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() < PROBABILITY_STEP;
        let near = |a: f64, b: f64, floor: f64| (a - b).abs() <= (VALUE_STEP * b.abs()).max(floor);
        let horizon = match (self.p_order_in_horizon, stored.p_order_in_horizon) {
            (Some(a), Some(b)) => close(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        now - stored.scored_at < Duration::hours(RESCORE_AFTER_HOURS)
            && self.model_version == stored.model_version
            && self.segment == stored.segment
            && self.next_order_on == stored.next_order_on
            && self.horizon_weeks == stored.horizon_weeks
            && close(self.churn_risk, stored.churn_risk)
            && close(self.p_alive, stored.p_alive)
            && horizon
            && near(self.clv_minor as f64, stored.clv_minor as f64, 100.0)
            && near(self.expected_purchases, stored.expected_purchases, 0.01)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(now: DateTime<Utc>) -> CustomerScores {
        CustomerScores {
            customer_id: CustomerId::parse("c", "c1").unwrap(),
            churn_risk: 0.40,
            p_alive: 0.70,
            expected_purchases: 2.0,
            clv_minor: 50_000,
            segment: Segment::Active,
            horizon_weeks: 52.0,
            model_version: "m bgnbd_churn".into(),
            scored_at: now,
            next_order_on: "2026-03-01".parse().ok(),
            p_order_in_horizon: Some(0.8),
        }
    }

    #[test]
    fn scores_that_moved_in_their_last_digits_are_the_same_for_a_day() {
        let then: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let stored = scores(then);
        let later = then + Duration::hours(1);
        let mut fresh = scores(later);
        fresh.churn_risk += 0.004;
        fresh.clv_minor += 400;
        fresh.expected_purchases *= 1.005;
        assert!(fresh.same_as(&stored, later));
        // A day later they are written again, moved or not.
        assert!(!fresh.same_as(&stored, then + Duration::hours(RESCORE_AFTER_HOURS)));
        type Change = fn(&mut CustomerScores);
        let changes: [Change; 7] = [
            |s| s.churn_risk += 0.02,
            |s| s.clv_minor += 600,
            |s| s.segment = Segment::AtRisk,
            |s| s.next_order_on = None,
            |s| s.p_order_in_horizon = None,
            |s| s.model_version = "m mbgnbd".into(),
            |s| s.expected_purchases += 0.1,
        ];
        for change in changes {
            let mut moved = scores(later);
            change(&mut moved);
            assert!(!moved.same_as(&stored, later), "{moved:?}");
        }
    }
}
