//! The run's first write: points that have lapsed under the program's expiry, for every
//! customer the scan found due, each exactly once (the service re-reads the profile and
//! keys the lapse by its date). The scanned profiles are brought up to date, so the
//! figures and the decisions after see the balances as they now are.

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use rapport_shared::service::expiry::expire_points;
use rapport_shared::store::{RewardStore, ScannedCustomer, StoreError};

/// Lapses in flight at once.
const CONCURRENCY: usize = 8;

/// Runs `change` for each customer index in `due`, [`CONCURRENCY`] at a time; each
/// result beside its index.
pub(super) async fn each_due<T, F, Fut>(
    due: Vec<usize>,
    change: F,
) -> Vec<(usize, Result<T, String>)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    stream::iter(due)
        .map(|n| {
            let pending = change(n);
            async move { (n, pending.await) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

/// Lapses what is due; the customers and points that lapsed.
pub(super) async fn expire_due<S: RewardStore>(
    store: &S,
    customers: &mut [ScannedCustomer],
    months: u32,
    now: DateTime<Utc>,
) -> Result<(usize, i64), StoreError> {
    let due: Vec<usize> = customers
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let p = &c.profile;
            p.points_balance > 0 && p.points_expire_at(months).is_some_and(|at| at <= now)
        })
        .map(|(n, _)| n)
        .collect();
    let results = each_due(due, |n| {
        let profile = &customers[n].profile;
        let (customer, at) = (
            profile.customer_id.clone(),
            profile.points_expire_at(months),
        );
        async move {
            match at {
                Some(at) => expire_points(store, &customer, months, at, now)
                    .await
                    .map_err(|e| e.to_string()),
                None => Ok(0),
            }
        }
    })
    .await;
    let (mut lapsed, mut points) = (0, 0);
    for (n, result) in results {
        match result {
            Ok(0) => {}
            Ok(p) => {
                let key = format!("expiry:{}", customers[n].profile.customer_id);
                customers[n].profile.expire_points(months, &key, now);
                lapsed += 1;
                points += p;
            }
            // One customer's failure waits for the next run; the others' lapses stand.
            Err(e) => {
                tracing::warn!(customer = %customers[n].profile.customer_id, error = %e, "points not expired")
            }
        }
    }
    Ok((lapsed, points))
}
