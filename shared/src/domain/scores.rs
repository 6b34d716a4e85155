//! What the scoring job concludes about a customer, stored beside the profile.
//!
//! Scores live in the job's own item (with the message history, see
//! [`super::outreach::JobState`]), written only by the job: events rewrite the profile
//! constantly, and keeping the two apart means neither can overwrite the other's
//! fields, and the job can write in batches without version checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CustomerId;

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
    /// The marketing segment, e.g. `vip`, `at_risk`, `new`, `active`, `lost`.
    pub segment: String,
    pub horizon_weeks: f64,
    pub model_version: String,
    pub scored_at: DateTime<Utc>,
}
