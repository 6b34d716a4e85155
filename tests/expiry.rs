//! Points expiry under a scheduled job killed at random points: a shop whose program
//! lapses points after 12 months without an order, the job killed ten times while it
//! runs, then run to the end and once more. Every inactive customer's points lapse
//! exactly once, all of them and no more; recent buyers keep theirs; every balance is
//! its ledger's sum and never negative; the program's figures count each lapse once;
//! and a refund after the lapse takes nothing more.

use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use rapport_integration::{TestApi, cid, job_settings, load_test_turn, purchase, refund, run_job};
use rapport_job::summary::RunSummary;
use rapport_shared::domain::LedgerReason;
use rapport_shared::store::LedgerStore;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::job::Lcg;
use crate::program::{put, send};

/// Customers of the shop.
const CUSTOMERS: u64 = 240;
/// Kills of the job before the run that completes it.
const KILLS: usize = 10;
/// Set to a printed seed to replay a run's kill points.
const SEED_VARIABLE: &str = "RAPPORT_EXPIRY_SEED";

/// A seeded customer and their orders: (order id, total, refunded), oldest last.
struct Customer {
    id: String,
    /// Last ordered within the program's 12 months: nothing lapses.
    recent: bool,
    orders: Vec<(String, i64, i64)>,
}

/// Puts the program with points lapsing after 12 months without an order, then posts
/// the same history on every call: 1-4 orders per customer, the last 13-24 months ago
/// for most and within the last 10 months for every tenth; a quarter of them refunded
/// part of an order a few days after placing it.
async fn open_shop(api: &TestApi, now: DateTime<Utc>) -> Vec<Customer> {
    let read = send(api, "GET", "/v1/admin/program", None, None).await;
    let mut program = read.body["program"].clone();
    program["expiry"] = json!({"after_inactive_months": 12});
    let saved = put(api, &program, "\"0\"").await;
    assert_eq!(saved.status, 200, "{}", saved.body);

    let mut rng = Lcg(11);
    let mut customers = Vec::new();
    let (mut orders, mut refunds) = (Vec::new(), Vec::new());
    for c in 0..CUSTOMERS {
        let id = format!("x-{c}");
        let recent = c % 10 == 3;
        let mut days_ago = if recent {
            1 + rng.below(300)
        } else {
            396 + rng.below(330)
        } as i64;
        let mut placed = Vec::new();
        for o in 0..1 + rng.below(4) {
            let order = format!("o-{c}-{o}");
            let total = 500 + rng.below(9_500) as i64;
            let mut body = purchase(&format!("p-{c}-{o}"), &id, &order, total);
            body["occurred_at"] = (now - Duration::days(days_ago)).to_rfc3339().into();
            orders.push(body);
            let mut refunded = 0;
            if o == 0 && c % 4 == 1 {
                refunded = total / 2;
                let mut body = refund(&format!("r-{c}-{o}"), &id, &order, refunded);
                let on = (days_ago - 1 - rng.below(10) as i64).max(0);
                body["occurred_at"] = (now - Duration::days(on)).to_rfc3339().into();
                refunds.push(body);
            }
            placed.push((order, total, refunded));
            days_ago += 10 + rng.below(90) as i64;
        }
        customers.push(Customer {
            id,
            recent,
            orders: placed,
        });
    }
    // Each refund after its order.
    for batch in [orders, refunds] {
        let replies: Vec<_> = stream::iter(batch)
            .map(|body| async move { (api.post("/v1/events/purchase", &body).await, body) })
            .buffer_unordered(8)
            .collect()
            .await;
        for (reply, body) in replies {
            assert_eq!(reply.status, 200, "{body}: {}", reply.body);
        }
    }
    customers
}

/// Every customer's balance, as the API shows it.
async fn balances(api: &TestApi, customers: &[Customer]) -> BTreeMap<String, i64> {
    stream::iter(customers)
        .map(|c| async move {
            let profile = api.get(&format!("/v1/customers/{}", c.id)).await;
            assert_eq!(profile.status, 200, "{}", profile.body);
            let balance = profile.body["points_balance"].as_i64().unwrap();
            (c.id.clone(), balance)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// The customers whose points have lapsed so far.
async fn lapsed_so_far(api: &TestApi) -> usize {
    let scanned = rapport_job::run::scan_all(&api.store, 3).await.unwrap();
    scanned
        .customers
        .iter()
        .filter(|c| c.profile.points_expired_at.is_some())
        .count()
}

#[tokio::test]
async fn points_lapse_exactly_once_across_kills_of_the_job() {
    let _load_test = load_test_turn().await;
    let now = Utc::now();
    // The same shop twice: one run straight through, one killed and run again.
    let reference = TestApi::start().await;
    let api = Arc::new(TestApi::start().await);
    let (customers, _) = tokio::join!(open_shop(&api, now), open_shop(&reference, now));
    let before = balances(&api, &customers).await;
    assert!(before.values().all(|b| *b > 0), "{before:?}");
    let lapsing: Vec<&Customer> = customers.iter().filter(|c| !c.recent).collect();
    let lapsing_points: i64 = lapsing.iter().map(|c| before[&c.id]).sum();

    // How long a run takes to its models, with all the lapses to write and with none.
    let settings = job_settings(&reference);
    let started = Instant::now();
    let straight = run_job(&reference, &settings, now).await;
    let full_run = started.elapsed();
    assert_eq!(
        (straight.customers_expired, straight.points_expired),
        (lapsing.len(), lapsing_points),
        "{straight:?}"
    );
    let started = Instant::now();
    let idle = run_job(&reference, &settings, now).await;
    let idle_run = started.elapsed();
    assert_eq!(idle.customers_expired, 0, "{idle:?}");
    let lead = |run: std::time::Duration, s: &RunSummary| {
        run.saturating_sub(std::time::Duration::from_secs_f64(
            s.seconds_model + s.seconds_outreach,
        ))
    };
    let (full_lead, idle_lead) = (lead(full_run, &straight), lead(idle_run, &idle));

    let seed = std::env::var(SEED_VARIABLE)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(now.timestamp_subsec_nanos() as u64);
    eprintln!(
        "seed {seed} ({SEED_VARIABLE}): a run takes {full_run:?} with {} customers to \
         lapse ({full_lead:?} to its models), {idle_run:?} with none ({idle_lead:?})",
        lapsing.len()
    );
    let mut rng = Lcg(seed);
    let (mut killed, mut lapsed, mut cut_while_lapsing) = (0, 0, 0);
    for kill in 0..KILLS {
        let job = tokio::spawn({
            let api = Arc::clone(&api);
            async move { run_job(&api, &job_settings(&api), now).await }
        });
        // Each kill lands while the run scans or lapses: within the scan's time and half
        // the lapses' (in proportion to those still due), so that most runs are cut with
        // part of their lapses written and the run to the end has some left.
        let due = (lapsing.len() - lapsed) as f64 / lapsing.len() as f64;
        let window = idle_lead + full_lead.saturating_sub(idle_lead).mul_f64(0.5 * due);
        let at = window.mul_f64(rng.below(1000) as f64 / 1000.0);
        tokio::time::sleep(at).await;
        job.abort();
        let ended = match job.await {
            Ok(_) => "run had finished",
            Err(e) if e.is_cancelled() => {
                killed += 1;
                "killed"
            }
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let before_kill = lapsed;
        lapsed = lapsed_so_far(&api).await;
        cut_while_lapsing += usize::from(before_kill < lapsed && lapsed < lapsing.len());
        eprintln!(
            "kill {kill} (seed {seed}) after {at:?}: {ended}, {lapsed} of {} lapsed so far",
            lapsing.len()
        );
    }
    assert!(
        killed >= KILLS / 2,
        "seed {seed}: only {killed} of {KILLS} runs were killed before they finished"
    );

    let later = now + Duration::minutes(31);
    let completed = run_job(&api, &job_settings(&api), later).await;
    assert_eq!(completed.errors + completed.failed, 0, "{completed:?}");
    eprintln!(
        "{killed} of {KILLS} runs killed, {cut_while_lapsing} with part of the lapses \
         written; the run to the end lapsed {} more",
        completed.customers_expired
    );
    let again = run_job(&api, &job_settings(&api), later + Duration::minutes(31)).await;
    assert_eq!(
        (again.customers_expired, again.points_expired),
        (0, 0),
        "seed {seed}: {again:?}"
    );

    let after = balances(&api, &customers).await;
    let ledgers: BTreeMap<String, _> = stream::iter(&customers)
        .map(|c| {
            let api = &api;
            async move { (c.id.clone(), api.store.ledger(&cid(&c.id)).await.unwrap()) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut expired_total = 0;
    for c in &customers {
        let ledger = &ledgers[&c.id];
        let expired: Vec<i64> = ledger
            .iter()
            .filter(|e| e.reason == LedgerReason::Expired)
            .map(|e| e.delta)
            .collect();
        let (was, is) = (before[&c.id], after[&c.id]);
        if c.recent {
            assert!(expired.is_empty(), "seed {seed}: {} bought lately", c.id);
            assert_eq!(is, was, "seed {seed}: {}", c.id);
        } else {
            assert_eq!(
                expired,
                [-was],
                "seed {seed}: {} lapses once, all of it",
                c.id
            );
            assert_eq!(is, 0, "seed {seed}: {}", c.id);
        }
        let sum: i64 = ledger.iter().map(|e| e.delta).sum();
        assert_eq!(
            is, sum,
            "seed {seed}: {}'s balance is its ledger's sum",
            c.id
        );
        assert!(is >= 0, "seed {seed}: {} has {is}", c.id);
        expired_total -= expired.iter().sum::<i64>();
    }
    assert_eq!(expired_total, lapsing_points);
    assert_eq!(
        again.program_stats.as_ref().unwrap().points_expired_30d,
        expired_total
    );
    let stats = send(&api, "GET", "/v1/admin/program/stats", None, None).await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(stats.body["points_expired_30d"], expired_total);

    // The last order of a few lapsed customers refunded in full: nothing left to take.
    for c in lapsing.iter().take(5) {
        let (order, total, refunded) = &c.orders[0];
        let body = refund(&format!("late-{}", c.id), &c.id, order, total - refunded);
        let reply = api.post("/v1/events/purchase", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["points_delta"], 0, "{}", reply.body);
        let profile = api.get(&format!("/v1/customers/{}", c.id)).await;
        assert_eq!(profile.body["points_balance"], 0, "{}", profile.body);
        assert_eq!(api.ledger_sum(&c.id).await, 0, "{}", c.id);
    }
}
