//! Tiers brought up to date before anything is decided: customers whose qualification
//! and grace ran out since their last order are demoted, customers a ladder on points
//! lifted are promoted (with the tier's welcome points), each once per day through the
//! service, which reads the profile again. The scanned profiles follow, so the figures
//! and the messages (a tier-change notice among them) see the tiers as they now are.

use chrono::{DateTime, Utc};
use rapport_shared::domain::{LoyaltyRules, Tier};
use rapport_shared::service::tiers::settle_tier;
use rapport_shared::store::{RewardStore, ScannedCustomer};

use super::expiry::each_due;

/// Settles every tier that is due; the tiers that changed, and how many of them down.
pub(super) async fn settle_due<S: RewardStore>(
    store: &S,
    customers: &mut [ScannedCustomer],
    rules: &LoyaltyRules,
    now: DateTime<Utc>,
) -> (usize, usize) {
    let today = now.date_naive();
    let due: Vec<usize> = customers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.profile.settled_tier(rules, today).tier != c.profile.tier)
        .map(|(n, _)| n)
        .collect();
    let results = each_due(due, |n| {
        let customer = customers[n].profile.customer_id.clone();
        async move {
            settle_tier(store, &customer, rules, today, now)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    let rank = |tier: &Tier| rules.tiers().iter().position(|t| &t.tier == tier);
    let (mut changed, mut demoted) = (0, 0);
    for (n, result) in results {
        match result {
            Ok(Some(tier)) => {
                let profile = &mut customers[n].profile;
                changed += 1;
                demoted += usize::from(rank(&tier) < rank(&profile.tier));
                let key = format!("tier:{}:{today}", profile.customer_id);
                profile.settle_tier(rules, today, &key, now);
            }
            Ok(None) => {}
            // One customer's failure waits for the next run.
            Err(e) => {
                tracing::warn!(customer = %customers[n].profile.customer_id, error = %e, "tier not settled")
            }
        }
    }
    (changed, demoted)
}
