//! Soak: a long, shuffled, duplicated stream of purchases and refunds from many
//! concurrent storefront clients over real HTTP into DynamoDB Local.
//!
//! 10,000 deliveries (`SOAK_EVENTS` changes the count) across 300 customers from a fixed
//! seed: 70 % distinct events, 30 % repeats of one of them with the same event id and
//! the same body. The deliveries are shuffled, except that a refund is sent only after
//! its order was acknowledged (as a storefront would), and posted by 16 concurrent
//! clients that retry a 503 after its `Retry-After`. Afterwards:
//! - every delivery was finally answered 200: no 5xx is left after retries;
//! - each event id was applied exactly once: one answer says `"duplicate": false`, every
//!   other copy says `true` and otherwise repeats the first answer;
//! - every customer's `points_balance` equals the sum of their ledger entries, and
//!   equals, with orders, net spend and tier, what the same service code computes
//!   when the distinct events are delivered once, in order, to the in-memory store;
//! - the balances also equal the arithmetic of the rules (one point per whole dollar,
//!   a refund takes back its share of the order's points).
//!
//! Each customer's purchases stay below the first tier threshold, so points do not
//! depend on the order in which concurrent events were applied and the in-order result
//! is the only correct one.

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rapport_integration::{Reply, TestApi, config, load_test_turn, purchase, refund};
use rapport_shared::domain::{CustomerId, Profile, PurchaseInput};
use rapport_shared::service::record_purchase;
use rapport_shared::store::{LedgerStore, MemoryStore, ProfileStore};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

const DELIVERIES: usize = 10_000;
const CUSTOMERS: usize = 300;
const CLIENTS: usize = 16;
const DUPLICATE_PCT: usize = 30;
const SEED: u64 = 0x50a6_2026;
/// Spend below the silver threshold (50,000 minor units), so every customer stays in the
/// base tier.
const SPEND_CAP: i64 = 49_999;
/// How often a client retries one delivery answered 503 before giving up.
const MAX_RETRIES: u32 = 20;

/// One distinct event of the stream.
struct Event {
    body: Value,
    customer: usize,
    /// For a refund, the index of the purchase it refunds.
    refunds: Option<usize>,
}

/// A deterministic stream of distinct purchases and refunds.
fn distinct_events(rng: &mut StdRng, count: usize) -> Vec<Event> {
    let mut spent = vec![0i64; CUSTOMERS];
    // Purchases that can still be refunded: (event index, refundable amount).
    let mut refundable: Vec<(usize, i64)> = Vec::new();
    let mut events: Vec<Event> = Vec::with_capacity(count);
    while events.len() < count {
        let i = events.len();
        if !refundable.is_empty() && rng.random_bool(0.2) {
            let pick = rng.random_range(0..refundable.len());
            let (purchase, left) = refundable[pick];
            let amount = if rng.random_bool(0.5) {
                left
            } else {
                rng.random_range(1..=left)
            };
            if amount == left {
                refundable.swap_remove(pick);
            } else {
                refundable[pick].1 -= amount;
            }
            let of = &events[purchase];
            let body = refund(
                &format!("soak-e{i}"),
                of.body["customer_id"].as_str().unwrap_or_default(),
                of.body["order_id"].as_str().unwrap_or_default(),
                amount,
            );
            let customer = of.customer;
            events.push(Event {
                body,
                customer,
                refunds: Some(purchase),
            });
            continue;
        }
        let customer = rng.random_range(0..CUSTOMERS);
        let amount = rng
            .random_range(100..=2_500)
            .min(SPEND_CAP - spent[customer]);
        if amount < 100 {
            continue;
        }
        spent[customer] += amount;
        refundable.push((i, amount));
        events.push(Event {
            body: purchase(
                &format!("soak-e{i}"),
                &format!("soak-c{customer}"),
                &format!("soak-o{i}"),
                amount,
            ),
            customer,
            refunds: None,
        });
    }
    events
}

/// The delivery order: every event once plus repeats, shuffled, each refund moved to
/// just after the first delivery of its purchase if it came before it.
fn deliveries(rng: &mut StdRng, events: &[Event], total: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.extend((events.len()..total).map(|_| rng.random_range(0..events.len())));
    order.shuffle(rng);
    let mut sent = HashSet::new();
    let mut waiting: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut out = Vec::with_capacity(order.len());
    for e in order {
        match events[e].refunds {
            Some(p) if !sent.contains(&p) => waiting.entry(p).or_default().push(e),
            _ => {
                out.push(e);
                if events[e].refunds.is_none() && sent.insert(e) {
                    out.extend(waiting.remove(&e).unwrap_or_default());
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Figures {
    retried_503: AtomicU64,
    gave_up: AtomicU64,
}

/// Posts `body`, retrying a 503 after the `Retry-After` it names.
async fn deliver(api: &TestApi, body: &Value, figures: &Figures) -> Reply {
    let (reply, retries) = api
        .post_retrying("/v1/events/purchase", body, MAX_RETRIES)
        .await;
    figures
        .retried_503
        .fetch_add(u64::from(retries), Ordering::Relaxed);
    if reply.status == 503 {
        figures.gave_up.fetch_add(1, Ordering::Relaxed);
    }
    reply
}

/// Points a customer must hold by the rules: one per whole dollar of each order, less
/// the refunded share of it, rounded down as the rules round.
fn expected_points(events: &[Event]) -> Vec<i64> {
    let mut refunded: BTreeMap<usize, i64> = BTreeMap::new();
    for e in events {
        if let Some(p) = e.refunds {
            *refunded.entry(p).or_default() += e.body["total_minor"].as_i64().unwrap_or(0);
        }
    }
    let mut points = vec![0i64; CUSTOMERS];
    for (i, e) in events.iter().enumerate() {
        if e.refunds.is_none() {
            let total = e.body["total_minor"].as_i64().unwrap_or(0);
            let earned = total / 100;
            let back = earned * refunded.get(&i).copied().unwrap_or(0) / total;
            points[e.customer] += earned - back;
        }
    }
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shuffled_duplicated_stream_from_16_clients_adds_up() {
    let _load_test = load_test_turn().await;
    let total: usize = std::env::var("SOAK_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DELIVERIES);
    let distinct = total - total * DUPLICATE_PCT / 100;
    let mut rng = StdRng::seed_from_u64(SEED);
    let events = Arc::new(distinct_events(&mut rng, distinct));
    let plan = Arc::new(deliveries(&mut rng, &events, total));
    assert_eq!(plan.len(), total);

    let api = Arc::new(TestApi::start().await);
    let figures = Arc::new(Figures::default());
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged: Arc<Vec<tokio::sync::OnceCell<()>>> = Arc::new(
        (0..events.len())
            .map(|_| tokio::sync::OnceCell::new())
            .collect(),
    );
    let acked = Arc::new(Notify::new());
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|_| {
        let (api, events, plan, figures, next, acknowledged, acked) = (
            Arc::clone(&api),
            Arc::clone(&events),
            Arc::clone(&plan),
            Arc::clone(&figures),
            Arc::clone(&next),
            Arc::clone(&acknowledged),
            Arc::clone(&acked),
        );
        tokio::spawn(async move {
            let mut replies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&e) = plan.get(n) else { break };
                if let Some(p) = events[e].refunds {
                    // The purchase was taken from the queue before this refund, so it
                    // is in flight or done: waiting here cannot deadlock.
                    loop {
                        let notified = acked.notified();
                        if acknowledged[p].initialized() {
                            break;
                        }
                        notified.await;
                    }
                }
                let reply = deliver(&api, &events[e].body, &figures).await;
                // Released even on failure, which the checks below then report.
                let _ = acknowledged[e].set(());
                acked.notify_waiters();
                replies.push((e, reply));
            }
            replies
        })
    });
    let mut replies: Vec<Vec<Reply>> = (0..events.len()).map(|_| Vec::new()).collect();
    for client in join_all(clients).await {
        for (e, reply) in client.expect("client task") {
            replies[e].push(reply);
        }
    }
    let elapsed = started.elapsed();

    let failed: Vec<_> = replies
        .iter()
        .flatten()
        .filter(|r| r.status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} deliveries not answered 200, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let mut duplicates_seen = 0;
    for (e, answers) in replies.iter().enumerate() {
        let firsts: Vec<_> = answers
            .iter()
            .filter(|r| r.body["duplicate"] == false)
            .collect();
        assert_eq!(firsts.len(), 1, "event {e} applied {} times", firsts.len());
        for r in answers.iter().filter(|r| r.body["duplicate"] == true) {
            duplicates_seen += 1;
            let mut same = r.body.clone();
            same["duplicate"] = false.into();
            assert_eq!(
                &same, &firsts[0].body,
                "a repeat of event {e} answered differently"
            );
        }
    }
    assert_eq!(duplicates_seen, total - distinct);

    // The same distinct events once, in order, through the same service code.
    let memory = MemoryStore::new();
    let rules = config("memory", &[]);
    for e in events.iter() {
        let event = serde_json::from_value::<PurchaseInput>(e.body.clone())
            .expect("event")
            .validate()
            .expect("valid event");
        record_purchase(
            &memory,
            &rules.rules,
            &rules.referrals,
            &event,
            chrono::Utc::now(),
        )
        .await
        .expect("in-order delivery");
    }
    let arithmetic = expected_points(&events);
    // What DynamoDB Local holds for each customer: the profile and its ledger's sum.
    let mut stored: HashMap<usize, (Profile, i64)> = stream::iter(0..CUSTOMERS)
        .map(|c| {
            let api = Arc::clone(&api);
            async move {
                let id = CustomerId::parse("id", &format!("soak-c{c}")).expect("id");
                let profile = api.store.profile(&id).await.expect("profile")?.value;
                let ledger = api.store.ledger(&id).await.expect("ledger");
                Some((c, (profile, ledger.iter().map(|l| l.delta).sum())))
            }
        })
        .buffer_unordered(CLIENTS)
        .filter_map(|found| async move { found })
        .collect()
        .await;
    let mut customers_checked = 0;
    let mut points_total = 0;
    for (c, expected) in arithmetic.iter().enumerate() {
        let id = CustomerId::parse("id", &format!("soak-c{c}")).expect("id");
        let reference = memory.profile(&id).await.expect("memory profile");
        let Some(reference) = reference else {
            assert_eq!(*expected, 0);
            continue;
        };
        let (stored, ledger) = stored
            .remove(&c)
            .unwrap_or_else(|| panic!("customer {id} missing"));
        let reference_ledger: i64 = memory
            .ledger(&id)
            .await
            .expect("ledger")
            .iter()
            .map(|l| l.delta)
            .sum();
        let reference = reference.value;
        assert_eq!(
            stored.points_balance, ledger,
            "{id}: balance and ledger differ"
        );
        assert_eq!(reference.points_balance, reference_ledger);
        assert_eq!(
            (
                stored.points_balance,
                stored.orders,
                stored.net_spend_minor,
                &stored.tier
            ),
            (
                reference.points_balance,
                reference.orders,
                reference.net_spend_minor,
                &reference.tier
            ),
            "{id}: concurrent and in-order results differ"
        );
        assert_eq!(
            stored.points_balance, *expected,
            "{id}: not what the rules give"
        );
        customers_checked += 1;
        points_total += stored.points_balance;
    }
    assert!(
        stored.is_empty(),
        "customers the stream never named: {:?}",
        stored.keys()
    );
    assert!(customers_checked > CUSTOMERS * 9 / 10);

    let refunds = events.iter().filter(|e| e.refunds.is_some()).count();
    println!(
        "soak: {total} deliveries ({distinct} distinct: {} purchases, {refunds} refunds; \
         {duplicates_seen} duplicates answered duplicate=true) over {customers_checked} customers \
         by {CLIENTS} clients in {:.1} s = {:.0} deliveries/s; 503s retried: {}; gave up: {}; \
         points in all balances: {points_total}",
        distinct - refunds,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        figures.retried_503.load(Ordering::Relaxed),
        figures.gave_up.load(Ordering::Relaxed),
    );
}
