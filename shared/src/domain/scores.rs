//! What the scoring job concludes about a customer, stored beside the profile.
//!
//! Scores live in the job's own item (with the message history, see
//! [`super::outreach::JobState`]), written only by the job: events rewrite the profile
//! constantly, and keeping the two apart means neither can overwrite the other's
//! fields, and the job can write in batches without version checks.

use chrono::{DateTime, Utc};
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
