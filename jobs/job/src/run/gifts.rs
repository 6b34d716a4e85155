//! Spend gifts granted before anything is decided: every customer who crossed a gift's
//! threshold in the window and has not had it for that window gets its coupon, once,
//! through the service (which reads the profile again). The scanned profiles follow, so
//! the announcement goes in the same run.

use chrono::{DateTime, Utc};
use rapport_shared::domain::LoyaltyRules;
use rapport_shared::domain::program::{Reward, SpendGift};
use rapport_shared::service::gifts::grant_gift;
use rapport_shared::store::{RedemptionStore, ScannedCustomer};
use std::collections::BTreeMap;

use super::expiry::each_due;

/// Grants what is due; how many gifts were granted.
pub(super) async fn grant_due<S: RedemptionStore>(
    store: &S,
    customers: &mut [ScannedCustomer],
    gifts: &[SpendGift],
    rules: &LoyaltyRules,
    catalogue: &[Reward],
    now: DateTime<Utc>,
) -> usize {
    let today = now.date_naive();
    let window = rules.qualification.window;
    let mut granted = 0;
    for gift in gifts {
        // Each due customer, with the window the gift is due for.
        let due: BTreeMap<usize, String> = customers
            .iter()
            .enumerate()
            .filter_map(|(n, c)| Some((n, c.profile.gift_due(gift, window, today)?)))
            .collect();
        let results = each_due(due.keys().copied().collect(), |n| {
            let customer = customers[n].profile.customer_id.clone();
            let key = due.get(&n).cloned().unwrap_or_default();
            async move {
                grant_gift(store, &customer, gift, &key, rules, catalogue, now)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await;
        let reward = catalogue.iter().find(|r| r.id == gift.reward_id);
        for (n, result) in results {
            match (result, reward, due.get(&n)) {
                (Ok(Some(code)), Some(reward), Some(key)) => {
                    granted += 1;
                    let profile = customers[n].profile.clone();
                    if let Ok(outcome) = profile.grant_gift(gift, key, reward, code, rules, now) {
                        customers[n].profile = outcome.profile;
                    }
                }
                (Ok(_), _, _) => {}
                // One customer's failure waits for the next run.
                (Err(e), _, _) => {
                    tracing::warn!(customer = %customers[n].profile.customer_id, gift = %gift.id, error = %e, "gift not granted")
                }
            }
        }
    }
    granted
}
