//! A hot customer: 1,000 distinct purchase events for one customer, offered at 100 per
//! second for 10 seconds over real HTTP into DynamoDB Local, each sent as soon as its
//! turn comes (so hundreds are in flight at once, all racing on one profile).
//!
//! The client behaves like a storefront: a 503 is retried after the `Retry-After` it
//! names, up to 10 times; nothing else is retried. Every event must end with a 200 that
//! applied it (`"duplicate": false`), and afterwards the balance equals the ledger sum
//! equals the expected total. Amounts are 100–133 cents, so each order earns exactly one
//! point whatever the tier multiplier (the customer crosses into silver on the way).

use futures::future::join_all;
use rapport_integration::{Reply, TestApi, load_test_turn, purchase};
use rapport_shared::domain::CustomerId;
use rapport_shared::store::{LedgerStore, ProfileStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

const EVENTS: usize = 1_000;
const PER_SECOND: u64 = 100;
/// Retries of one event answered 503, as a storefront would make them.
const MAX_RETRIES: u32 = 10;

fn amount(i: usize) -> i64 {
    100 + (i % 34) as i64
}

struct Outcome {
    reply: Reply,
    retries: u32,
    latency: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_customer_at_100_events_per_second_loses_nothing() {
    let _load_test = load_test_turn().await;
    let api = Arc::new(TestApi::start().await);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let mut ticks = tokio::time::interval(Duration::from_millis(1_000 / PER_SECOND));
    // A late tick is made up at once, so the offered rate averages 100/s.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        ticks.tick().await;
        let (api, in_flight, most_in_flight) = (
            Arc::clone(&api),
            Arc::clone(&in_flight),
            Arc::clone(&most_in_flight),
        );
        tasks.push(tokio::spawn(async move {
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            most_in_flight.fetch_max(now, Ordering::Relaxed);
            let body = purchase(&format!("hot-e{i}"), "hot", &format!("hot-o{i}"), amount(i));
            let sent = Instant::now();
            let (reply, retries) = api
                .post_retrying("/v1/events/purchase", &body, MAX_RETRIES)
                .await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            Outcome {
                reply,
                retries,
                latency: sent.elapsed(),
            }
        }));
    }
    let offered_for = started.elapsed();
    let outcomes: Vec<Outcome> = join_all(tasks)
        .await
        .into_iter()
        .map(|t| t.expect("client task"))
        .collect();
    let elapsed = started.elapsed();

    let failed: Vec<_> = outcomes.iter().filter(|o| o.reply.status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {EVENTS} events failed, e.g. {:?}",
        failed.len(),
        failed.first().map(|o| (&o.reply, o.retries))
    );
    assert!(outcomes.iter().all(|o| o.reply.body["duplicate"] == false));
    let promotions = outcomes
        .iter()
        .filter(|o| o.reply.body["previous_tier"] != o.reply.body["tier"])
        .count();
    assert_eq!(promotions, 1, "the customer is promoted exactly once");

    let id = CustomerId::parse("id", "hot").expect("id");
    let profile = api
        .store
        .profile(&id)
        .await
        .expect("profile")
        .expect("the hot customer")
        .value;
    let ledger = api.store.ledger(&id).await.expect("ledger");
    let ledger_sum: i64 = ledger.iter().map(|e| e.delta).sum();
    let spend: i64 = (0..EVENTS).map(amount).sum();
    assert_eq!(profile.orders, EVENTS as u64);
    assert_eq!(profile.points_balance, ledger_sum);
    assert_eq!(profile.points_balance, EVENTS as i64);
    assert_eq!(ledger.len(), EVENTS);
    assert_eq!(profile.net_spend_minor, spend);
    assert_eq!(profile.tier.0, "silver");

    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64();
    let retried: u32 = outcomes.iter().map(|o| o.retries).sum();
    println!(
        "hot customer: {EVENTS} events offered at {PER_SECOND}/s over {:.1} s, all applied in \
         {:.1} s ({:.0} commits/s on one profile); at most {} in flight; 503s retried by the \
         client: {retried} (events retried: {}); latency p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        offered_for.as_secs_f64(),
        elapsed.as_secs_f64(),
        EVENTS as f64 / elapsed.as_secs_f64(),
        most_in_flight.load(Ordering::Relaxed),
        outcomes.iter().filter(|o| o.retries > 0).count(),
        at(0.5),
        at(0.99),
        at(1.0),
    );
}
