//! Scoring-job benchmark (`cargo bench -p rapport-integration --bench job`).
//!
//! Loads a table shaped like production into DynamoDB Local: `BENCH_CUSTOMERS`
//! customers (default 100 000) with `BENCH_ITEMS` items in all (default 1 000 000). Each
//! customer has one `PROFILE`, an `ORDER#` per order and a `LEDGER#` per points change,
//! all produced by the real purchase rules (`PurchaseEvent::apply`) from purchase
//! histories drawn from the BG/NBD process over the last two years, and written with
//! the store's attribute layout.
//!
//! Then, twice and alternating, it measures:
//! - (a) a bare parallel `Scan` of the whole table with the raw SDK client, four
//!   segments like the job, every page read and dropped; the same scan with the filter
//!   the job used before the customer index (`SK IN (PROFILE, SCORES, SUPPRESSED)`),
//!   which reads as much but returns less; and a bare scan of the customer index
//!   (`GSI2`), what the job reads now — items read and read capacity of each;
//! - (b) the job as deployed: the release binary `rapport-job run --dry-run --json`
//!   in its own process, configured from the environment like the Lambda, timed on the
//!   wall clock, with its JSON summary (phase times, peak RSS, counts).
//!
//! `--dry-run` leaves out sending email; held-out claims and the batched write-back of
//! scores and job state stay in, inside `seconds_outreach`. The second job run finds the
//! first run's job state. Each round is printed as it ends. The write-back alone is
//! measured once more at the end, on a scratch table holding a profile per customer —
//! every customer's first state, the same states replaced, and the same items as plain
//! batches — so `seconds_outreach` can be split.
//!
//! Targets: the job within 1.5× of the bare scan of the table, email sending excluded,
//! and the job's scan within 1.2× of the bare scan of the customer index.
//!
//! DynamoDB Local pages a Scan at a cost that grows with the table (about 0.13 s a page
//! at 20 000 items, 0.94 s at 200 000 on a 2-core machine), so a full scan takes time
//! quadratic in the table size: at the default 1 000 000 items each of the six scans
//! takes about twenty minutes there. `BENCH_CUSTOMERS=20000 BENCH_ITEMS=200000` runs in
//! about seven minutes. `BENCH_TABLE_SCANS=0` leaves the two table scans out, so the
//! default size measures the job against the bare scan of the customer index alone;
//! `BENCH_WRITEBACK=0` leaves out the write-back measured alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnConsumedCapacity, WriteRequest};
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use futures::stream::{self, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rapport_integration::{KEY_SETTINGS, config};
use rapport_models::BgNbdCoefficients;
use rapport_models::GammaGammaCoefficients;
use rapport_models::simulate::Simulation;
use rapport_shared::domain::LineItemInput;
use rapport_shared::domain::{
    CustomerId, CustomerScores, JobState, LedgerEntry, LoyaltyRules, Order, Profile, PurchaseInput,
    ReferralRules,
};
use rapport_shared::retry::Backoff;
use rapport_shared::store::dynamo::items::{
    Item, job_state_item, ledger_item, order_item, profile_item,
};
use rapport_shared::store::dynamo::keys;
use rapport_shared::store::{
    DynamoStore, LedgerStore, ProfileStore, ProfileViewStore, PurchaseStore, ScoreStore,
};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Scan segments, as the job is configured (`RAPPORT_SCAN_SEGMENTS`).
const SEGMENTS: u32 = 4;
/// Concurrent `BatchWriteItem` callers while loading.
const WRITERS: usize = 8;
/// Most items one `BatchWriteItem` accepts.
const BATCH: usize = 25;
/// Purchase histories cover this many days up to today.
const HISTORY_DAYS: i64 = 730;
const SEED: u64 = 20_240_101;
/// Customers simulated to calibrate the purchase rate.
const CALIBRATION_SAMPLE: usize = 20_000;
/// Share of the item budget left for days with a second order and for refunds.
const SPARE: f64 = 0.1;
/// Share of orders refunded in full.
const REFUND_SHARE: f64 = 0.03;
const SKUS: f64 = 200.0;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(raw) => raw
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={raw:?} is not a whole number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------------
// Purchase histories

/// Heterogeneous purchase rates (small `r`: most buy rarely, a few often) and a
/// dropout probability after each repeat purchase with mean a / (a + b) = 0.2.
fn bgnbd(alpha: f64) -> BgNbdCoefficients {
    BgNbdCoefficients {
        r: 0.35,
        alpha,
        a: 0.6,
        b: 2.4,
    }
}

/// Spend per purchase day: a mean near 80 currency units.
const SPEND: GammaGammaCoefficients = GammaGammaCoefficients {
    p: 6.0,
    q: 4.0,
    gamma: 40.0,
};

/// Purchase days (day, spend in minor units, at least 1.00) of `customers` customers.
fn draw_days(customers: usize, alpha: f64, today: NaiveDate) -> Vec<Vec<(NaiveDate, i64)>> {
    let start = today - Days::days(HISTORY_DAYS - 1);
    Simulation::new(bgnbd(alpha), start, today)
        .spend(SPEND)
        .seed(SEED)
        .transactions(customers)
        .expect("simulated purchase histories")
        .customers()
        .iter()
        .map(|c| {
            c.purchase_days()
                .iter()
                .map(|d| {
                    let day = d.date().expect("simulated day");
                    (day, ((d.amount * 100.0).round() as i64).max(100))
                })
                .collect()
        })
        .collect()
}

/// The rate scale α at which a sample of customers averages `mean_days` purchase days.
fn calibrate(mean_days: f64, today: NaiveDate) -> f64 {
    let mean = |alpha: f64| {
        let days = draw_days(CALIBRATION_SAMPLE, alpha, today);
        days.iter().map(Vec::len).sum::<usize>() as f64 / days.len() as f64
    };
    // A larger α means lower rates and fewer purchases; bisect on a log scale.
    let (mut lo, mut hi) = (0.01_f64.ln(), 10_000_f64.ln());
    for _ in 0..30 {
        let mid = (lo + hi) / 2.0;
        if mean(mid.exp()) > mean_days {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// One customer's purchases as the storefront reports them.
struct Plan {
    days: Vec<(NaiveDate, i64)>,
    /// Orders placed on each day (a day's spend split between them).
    orders_per_day: Vec<u32>,
    /// (day, order of that day) refunded in full.
    refunds: HashSet<(usize, u32)>,
}

/// Purchase plans with exactly `items` items in all: one profile per customer, and per
/// order one `ORDER#` and one `LEDGER#`, per refund one more `LEDGER#`.
fn plans(customers: usize, items: usize, today: NaiveDate) -> (Vec<Plan>, f64) {
    assert!(
        items >= 3 * customers,
        "BENCH_ITEMS must be at least 3 × BENCH_CUSTOMERS (profile, order and ledger entry)"
    );
    let natural_days = (items - customers) as f64 / 2.0 / customers as f64;
    let alpha = calibrate((natural_days * (1.0 - SPARE)).max(1.0), today);
    let mut days = draw_days(customers, alpha, today);

    // Too many: the heaviest buyers lose their latest days.
    let mut total = customers + 2 * days.iter().map(Vec::len).sum::<usize>();
    if total > items {
        let mut heaviest: Vec<usize> = (0..customers).collect();
        heaviest.sort_by_key(|&c| std::cmp::Reverse(days[c].len()));
        while total > items {
            for &c in &heaviest {
                if total > items && days[c].len() > 1 {
                    days[c].pop();
                    total -= 2;
                }
            }
        }
    }

    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut plans: Vec<Plan> = days
        .into_iter()
        .map(|days| Plan {
            orders_per_day: vec![1; days.len()],
            days,
            refunds: HashSet::new(),
        })
        .collect();
    let every_day: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(c, p)| (0..p.days.len()).map(move |d| (c, d)))
        .collect();
    // Too few: full refunds (one item each), then second orders on a day (two each).
    let spare = items - total;
    let mut refunds = spare.min((every_day.len() as f64 * REFUND_SHARE).round() as usize);
    if (spare - refunds) % 2 == 1 {
        refunds += 1;
    }
    for _ in 0..(spare - refunds) / 2 {
        let (c, d) = every_day[rng.random_range(0..every_day.len())];
        plans[c].orders_per_day[d] += 1;
    }
    let mut placed = 0;
    while placed < refunds {
        let (c, d) = every_day[rng.random_range(0..every_day.len())];
        let k = rng.random_range(0..plans[c].orders_per_day[d]);
        if plans[c].refunds.insert((d, k)) {
            placed += 1;
        }
    }
    (plans, alpha)
}

// ---------------------------------------------------------------------------------
// Customers through the real purchase rules

/// What the store holds for one customer after all its events.
struct Built {
    profile: Profile,
    /// Events applied: the profile's `version`.
    version: u64,
    orders: Vec<Order>,
    ledger: Vec<LedgerEntry>,
}

fn customer_id(index: usize) -> String {
    format!("c{index:08}")
}

fn pick<'a>(rng: &mut SmallRng, options: &[&'a str]) -> &'a str {
    options[rng.random_range(0..options.len())]
}

/// Line items adding up to `total`, from a catalogue where a few products sell most.
fn line_items(rng: &mut SmallRng, total: i64) -> Vec<LineItemInput> {
    let lines = match rng.random_range(0..10) {
        0..6 => 1,
        6..9 => 2,
        _ => 3,
    }
    .min(total);
    let mut cuts: Vec<i64> = (1..lines).map(|_| rng.random_range(1..total)).collect();
    cuts.extend([0, total]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| {
            let u: f64 = rng.random();
            LineItemInput {
                sku: Some(format!("SKU-{:03}", (u * u * SKUS) as u32)),
                quantity: Some(1),
                unit_price_minor: Some(w[1] - w[0]),
                name: None,
            }
        })
        .collect()
}

enum Step {
    Buy { order: usize, total: i64 },
    Refund { order: usize },
}

/// Applies the customer's purchases and refunds in time order, as the purchase
/// handler would have on the day, and returns what the store holds afterwards.
fn build(
    index: usize,
    plan: &Plan,
    rules: &LoyaltyRules,
    referrals: &ReferralRules,
    now: DateTime<Utc>,
) -> Built {
    let mut rng = SmallRng::seed_from_u64(SEED ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let id = customer_id(index);
    let latest = now - Days::seconds(1);
    let mut steps: Vec<(DateTime<Utc>, u8, Step)> = Vec::new();
    let mut order = 0;
    for (d, (day, spend)) in plan.days.iter().enumerate() {
        let k = plan.orders_per_day[d];
        let start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let mut left = (*spend).max(100 * i64::from(k));
        // Order numbers follow the time of day.
        let mut times: Vec<i64> = (0..k).map(|_| rng.random_range(0..86_400)).collect();
        times.sort_unstable();
        for (j, second) in (0..k).zip(times) {
            let total = if j + 1 == k {
                left
            } else {
                let share = left as f64 / f64::from(k - j) * rng.random_range(0.7..1.3);
                (share as i64).clamp(100, left - 100 * i64::from(k - j - 1))
            };
            left -= total;
            let at = (start + Days::seconds(second)).min(latest);
            steps.push((at, 0, Step::Buy { order, total }));
            if plan.refunds.contains(&(d, j)) {
                // Returned within two weeks, never later than now.
                let back = (at + Days::seconds(rng.random_range(86_400..14 * 86_400))).min(now);
                steps.push((back.max(at), 1, Step::Refund { order }));
            }
            order += 1;
        }
    }
    steps.sort_by_key(|(at, kind, _)| (*at, *kind));

    let email = rng.random_bool(0.75);
    let consent = match rng.random_range(0..100) {
        _ if !email => None,
        0..55 => Some(true),
        55..70 => Some(false),
        _ => None,
    };
    let locale = rng
        .random_bool(0.3)
        .then(|| pick(&mut rng, &["en", "hi-IN", "de", "fr", "es"]).to_owned());
    let timezone = rng.random_bool(0.4).then(|| {
        pick(
            &mut rng,
            &[
                "Asia/Kolkata",
                "Europe/Berlin",
                "America/New_York",
                "America/Los_Angeles",
                "Europe/London",
            ],
        )
        .to_owned()
    });
    let birthday = rng.random_bool(0.25).then(|| {
        format!(
            "{:02}-{:02}",
            rng.random_range(1..=12),
            rng.random_range(1..=28)
        )
    });

    let mut built = Built {
        profile: Profile::new(
            CustomerId::parse("customer_id", &id).expect("customer id"),
            rules.base_tier().clone(),
            now,
        ),
        version: 0,
        orders: Vec::with_capacity(order),
        ledger: Vec::new(),
    };
    let mut profile = None;
    for (n, (at, _, step)) in steps.into_iter().enumerate() {
        let first = n == 0;
        let (kind, order, total, items) = match step {
            Step::Buy { order, total } => {
                ("purchase", order, total, Some(line_items(&mut rng, total)))
            }
            Step::Refund { order } => ("refund", order, built.orders[order].total_minor, None),
        };
        let input = PurchaseInput {
            event_id: Some(format!("e{index:08}-{n:04}")),
            kind: Some(kind.into()),
            customer_id: Some(id.clone()),
            order_id: Some(format!("o{index:08}-{order:04}")),
            occurred_at: Some(at.to_rfc3339()),
            currency: Some("USD".into()),
            total_minor: Some(total),
            items,
            // Contact details come with the first checkout.
            email: (first && email).then(|| format!("{id}@bench.example")),
            first_name: None,
            locale: locale.clone().filter(|_| first),
            birthday: birthday.clone().filter(|_| first),
            referral_code: None,
            marketing_consent: consent.filter(|_| first),
            timezone: timezone.clone().filter(|_| first),
            coupon_codes: None,
        };
        let event = input.validate().expect("a valid generated event");
        let previous = (kind == "refund").then(|| built.orders[order].clone());
        let outcome = event
            .apply(profile.take(), previous, None, rules, referrals, at)
            .expect("the purchase rules accept the generated event");
        if order == built.orders.len() {
            built.orders.push(outcome.order);
        } else {
            built.orders[order] = outcome.order;
        }
        built.ledger.extend(outcome.ledger);
        built.version += 1;
        profile = Some(outcome.profile);
    }
    built.profile = profile.expect("every customer has a purchase");
    built
}

// ---------------------------------------------------------------------------------
// Items as `DynamoStore` writes them

/// The customer's items: the profile at its version, the orders, the ledger.
fn items_of(built: &Built) -> Vec<Item> {
    let customer = &built.profile.customer_id;
    let mut items = vec![profile_item(&built.profile, built.version).expect("profile item")];
    items.extend(
        built
            .orders
            .iter()
            .map(|o| order_item(customer, o).expect("order item")),
    );
    items.extend(
        built
            .ledger
            .iter()
            .map(|e| ledger_item(customer, e).expect("ledger item")),
    );
    items
}

fn put(item: Item) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("put request"),
        )
        .build()
}

/// One `BatchWriteItem`, repeated for whatever DynamoDB leaves unprocessed.
async fn write_batch(client: &Client, table: &str, mut requests: Vec<WriteRequest>) {
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(3), 10);
    while !requests.is_empty() {
        let out = client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .expect("BatchWriteItem");
        requests = out
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
        if !requests.is_empty() {
            assert!(
                backoff.wait().await,
                "BatchWriteItem kept leaving items unprocessed"
            );
        }
    }
}

/// Writes `batches` with `writers` concurrent callers.
async fn write_all(client: &Client, table: &str, batches: Vec<Vec<WriteRequest>>, writers: usize) {
    stream::iter(batches)
        .for_each_concurrent(writers, |batch| write_batch(client, table, batch))
        .await;
}

// ---------------------------------------------------------------------------------
// Measurements

/// CPU seconds (user + system) from a `/proc/<pid>/stat` line: own, or of waited-for
/// children.
fn cpu_seconds(pid: &str, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, cutime and cstime 16 and 17;
    // `fields` starts at field 3.
    let at = if children { 13 } else { 11 };
    let ticks: f64 =
        fields.get(at)?.parse::<f64>().ok()? + fields.get(at + 1)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The process serving `endpoint` on this machine (DynamoDB Local's JVM), by its
/// command line.
fn server_pid(endpoint: &str) -> Option<String> {
    let port = endpoint.rsplit(':').next()?.trim_end_matches('/');
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().into_string().ok()?;
            pid.parse::<u32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            // The JVM itself, not the `sh` wrapper that starts it with the same arguments.
            let java = args.first().is_some_and(|a| a.ends_with(b"java"));
            let serves = java
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-port" && w[1] == port.as_bytes());
            serves.then_some(pid)
        })
}

/// CPU seconds used by the DynamoDB Local process, when it runs on this machine.
struct ServerCpu(Option<String>);

impl ServerCpu {
    fn now(&self) -> Option<f64> {
        self.0.as_deref().and_then(|pid| cpu_seconds(pid, false))
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ScanRun {
    seconds: f64,
    scanned: u64,
    /// Read capacity units consumed, as DynamoDB reports them.
    capacity: f64,
    returned: u64,
    pages: u64,
    /// Of this process, which only receives and drops pages.
    client_cpu: Option<f64>,
    server_cpu: Option<f64>,
}

/// The write-back alone, on a scratch table holding a profile for every customer.
struct Writeback {
    /// The store's `write_job_states` for every customer's first job state, s.
    first: f64,
    /// `write_first_job_states` (what the job calls for customers it found without a
    /// state) for as many other customers' first states, s.
    first_known: f64,
    /// The same again, every state replaced, s.
    replaced: f64,
    /// The same items as unconditional `BatchWriteItem`s from concurrent writers, s.
    batches: f64,
}

/// Times the write-back alone (see [`Writeback`]).
async fn writeback_alone(
    client: &Client,
    table: &str,
    customers: usize,
    rules: &LoyaltyRules,
    now: DateTime<Utc>,
) -> Writeback {
    let scratch = format!("{table}-writeback");
    rapport_local::tables::create_table_without_stream(client, &scratch)
        .await
        .expect("scratch table");
    // A profile each: a first state is written only for a customer who has one. Twice
    // the customers: half for each way of writing first states.
    let profiles: Vec<Vec<WriteRequest>> = (0..2 * customers)
        .map(|i| {
            let id = CustomerId::parse("customer_id", &customer_id(i)).expect("id");
            let profile = Profile::new(id, rules.base_tier().clone(), now);
            put(profile_item(&profile, 1).expect("profile item"))
        })
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(<[WriteRequest]>::to_vec)
        .collect();
    write_all(client, &scratch, profiles, WRITERS).await;

    let all = job_states(2 * customers, now);
    let (states, others) = all.split_at(customers);
    let scratch_store = DynamoStore::new(client.clone(), scratch.clone());
    let timed = async || {
        let started = Instant::now();
        scratch_store
            .write_job_states(states)
            .await
            .expect("write_job_states");
        started.elapsed().as_secs_f64()
    };
    let first = timed().await;
    let started = Instant::now();
    (scratch_store.write_first_job_states(others))
        .await
        .expect("write_first_job_states");
    let first_known = started.elapsed().as_secs_f64();
    let last = CustomerId::parse("customer_id", &customer_id(2 * customers - 1)).expect("id");
    assert!(
        scratch_store
            .profile_and_scores(&last)
            .await
            .expect("profile read")
            .1
            .is_some(),
        "the first write-back wrote every state"
    );
    let replaced = timed().await;
    let batches: Vec<Vec<WriteRequest>> = states
        .chunks(BATCH)
        .map(|chunk| {
            chunk
                .iter()
                .map(|s| put(job_state_item(s).expect("job state item")))
                .collect()
        })
        .collect();
    let started = Instant::now();
    write_all(client, &scratch, batches, WRITERS).await;
    let batches = started.elapsed().as_secs_f64();
    client
        .delete_table()
        .table_name(&scratch)
        .send()
        .await
        .expect("delete scratch table");
    Writeback {
        first,
        first_known,
        replaced,
        batches,
    }
}

impl ScanRun {
    /// A scan of the table's `items` that was left out: no time, no capacity.
    fn left_out(items: usize) -> Self {
        ScanRun {
            seconds: f64::NAN,
            scanned: items as u64,
            capacity: f64::NAN,
            returned: 0,
            pages: 0,
            client_cpu: None,
            server_cpu: None,
        }
    }
}

/// What a benchmark scan reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scanned {
    /// Every item of the table.
    Table,
    /// Every item of the table, returning what the job read before the customer
    /// index: profiles, job state and suppressed addresses.
    TableFiltered,
    /// The customer index, whole: what the job reads now.
    CustomerIndex,
}

/// A parallel scan with [`SEGMENTS`] segments, pages read and dropped.
async fn bare_scan(client: &Client, table: &str, what: Scanned, server: &ServerCpu) -> ScanRun {
    let (own, srv) = (cpu_seconds("self", false), server.now());
    let started = Instant::now();
    let tasks: Vec<_> = (0..SEGMENTS)
        .map(|segment| {
            let (client, table) = (client.clone(), table.to_owned());
            tokio::spawn(async move {
                let mut start = None;
                let mut run = ScanRun::default();
                loop {
                    let mut scan = client
                        .scan()
                        .table_name(&table)
                        .segment(segment as i32)
                        .total_segments(SEGMENTS as i32)
                        .return_consumed_capacity(ReturnConsumedCapacity::Total)
                        .set_exclusive_start_key(start);
                    match what {
                        Scanned::Table => {}
                        Scanned::TableFiltered => {
                            scan = scan
                                .filter_expression("SK IN (:profile, :job, :suppressed)")
                                .expression_attribute_values(
                                    ":profile",
                                    AttributeValue::S(keys::PROFILE.into()),
                                )
                                .expression_attribute_values(
                                    ":job",
                                    AttributeValue::S(keys::SCORES.into()),
                                )
                                .expression_attribute_values(
                                    ":suppressed",
                                    AttributeValue::S(keys::SUPPRESSED.into()),
                                );
                        }
                        Scanned::CustomerIndex => scan = scan.index_name(keys::GSI2),
                    }
                    let out = scan.send().await.expect("Scan");
                    run.pages += 1;
                    run.scanned += out.scanned_count() as u64;
                    run.returned += out.count() as u64;
                    run.capacity += out
                        .consumed_capacity()
                        .and_then(|c| c.capacity_units())
                        .unwrap_or_default();
                    start = out.last_evaluated_key.filter(|k| !k.is_empty());
                    if start.is_none() {
                        return run;
                    }
                }
            })
        })
        .collect();
    let mut total = ScanRun::default();
    for task in futures::future::join_all(tasks).await {
        let part = task.expect("scan task");
        total.scanned += part.scanned;
        total.capacity += part.capacity;
        total.returned += part.returned;
        total.pages += part.pages;
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.client_cpu = cpu_seconds("self", false).zip(own).map(|(b, a)| b - a);
    total.server_cpu = server.now().zip(srv).map(|(b, a)| b - a);
    total
}

/// `rapport-job` from the release build beside this benchmark (`target/release`).
/// Cargo builds a package's binaries only for that package's own tests, and this one
/// belongs to rapport-job, so it is built here, once per run, with
/// `cargo build --release -p rapport-job --bin rapport-job`: a no-op when it is up to
/// date, and never a measurement of a stale binary. Without cargo (the benchmark
/// executable started by hand), an existing binary is used as it is.
fn job_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("benchmark executable");
    // target/release/deps/job-<hash> → target/release/rapport-job
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let binary = dir.join(format!("rapport-job{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let built = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "rapport-job",
            "--bin",
            "rapport-job",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        // This benchmark's own target directory, whatever CARGO_TARGET_DIR says relative
        // to which working directory.
        .arg("--target-dir")
        .arg(dir.parent().unwrap_or(dir))
        .status();
    match built {
        Ok(status) => assert!(status.success(), "building rapport-job failed"),
        Err(e) if binary.exists() => eprintln!("cargo not run ({e}); using {}", binary.display()),
        Err(e) => panic!("cannot build rapport-job: {e}"),
    }
    assert!(binary.exists(), "{} is missing", binary.display());
    binary
}

#[derive(Debug, Clone)]
struct JobRun {
    wall: f64,
    summary: serde_json::Value,
    cpu: Option<f64>,
    server_cpu: Option<f64>,
}

impl JobRun {
    fn number(&self, name: &str) -> f64 {
        self.summary[name].as_f64().unwrap_or(f64::NAN)
    }

    fn count(&self, name: &str) -> u64 {
        self.summary[name].as_u64().unwrap_or_default()
    }

    /// Decisions whose action starts with `prefix` (`send:`, `held_out:`, …), over all
    /// segments.
    fn actions(&self, prefix: &str) -> u64 {
        self.summary["actions"]
            .as_object()
            .into_iter()
            .flat_map(|segments| segments.values())
            .filter_map(|actions| actions.as_object())
            .flat_map(|actions| actions.iter())
            .filter(|(action, _)| action.starts_with(prefix))
            .filter_map(|(_, n)| n.as_u64())
            .sum()
    }
}

/// Runs the job in its own process against DynamoDB Local, configured only through
/// the environment, as the Lambda is.
async fn run_job(binary: &PathBuf, env: &[(&str, String)], server: &ServerCpu) -> JobRun {
    let (children, srv) = (cpu_seconds("self", true), server.now());
    let started = Instant::now();
    let out = tokio::process::Command::new(binary)
        .args(["run", "--dry-run", "--json"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .expect("starting rapport-job");
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rapport-job run failed ({}):\n{stderr}",
        out.status
    );
    if !stderr.trim().is_empty() {
        eprintln!("rapport-score stderr:\n{stderr}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("rapport-score printed a JSON summary");
    JobRun {
        wall,
        summary,
        cpu: cpu_seconds("self", true).zip(children).map(|(b, a)| b - a),
        server_cpu: server.now().zip(srv).map(|(b, a)| b - a),
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let line = info
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .to_owned();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.1} GiB RAM", kib / 1048576.0)
        });
    format!("{cpus} CPUs (nproc), {model}{memory}")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "n/a".into(), |v| format!("{v:.digits$}"))
}

/// Job state for every customer, scored, as a run writes it back.
fn job_states(customers: usize, now: DateTime<Utc>) -> Vec<JobState> {
    (0..customers)
        .map(|i| {
            let customer_id = CustomerId::parse("customer_id", &customer_id(i)).expect("id");
            JobState {
                scores: Some(CustomerScores {
                    customer_id: customer_id.clone(),
                    churn_risk: 0.42,
                    p_alive: 0.73,
                    expected_purchases: 1.7,
                    clv_minor: 12_345,
                    segment: rapport_shared::domain::Segment::Active,
                    horizon_weeks: 52.0,
                    model_version: format!("rapport-models {}", rapport_models::VERSION),
                    scored_at: now,
                    next_order_on: None,
                    p_order_in_horizon: None,
                }),
                customer_id,
                messages: Vec::new(),
            }
        })
        .collect()
}

/// One round of the measurements, in the order they run.
struct Round {
    bare: ScanRun,
    filtered: ScanRun,
    index: ScanRun,
    job: JobRun,
}

impl Round {
    fn print(&self, n: usize) {
        let job = &self.job;
        println!(
            "round {n}: bare table scan {:.1} s, filtered {:.1} s; customer index scan {:.1} s ({} items); \
             job {:.1} s (scan {:.1} / model {:.1} / outreach {:.1}), job's scan / index scan {:.2}",
            self.bare.seconds,
            self.filtered.seconds,
            self.index.seconds,
            self.index.scanned,
            job.wall,
            job.number("seconds_scan"),
            job.number("seconds_model"),
            job.number("seconds_outreach"),
            job.number("seconds_scan") / self.index.seconds,
        );
    }
}

#[tokio::main]
async fn main() {
    let customers = env_usize("BENCH_CUSTOMERS", 100_000);
    let items = env_usize("BENCH_ITEMS", 1_000_000);
    let binary = job_binary();
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let server = ServerCpu(server_pid(&dynamodb.endpoint()));
    let client = dynamodb.client();
    let table = format!("bench-job-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&client, &table)
        .await
        .expect("table from template.yaml");
    println!("machine: {}", machine());

    // Data: histories, then every event through the purchase rules, then items.
    let now = Utc::now();
    let today = now.date_naive();
    let settings = config(&table, &[]);
    let started = Instant::now();
    let (plans, alpha) = plans(customers, items, today);
    let built: Vec<Built> = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| build(i, plan, &settings.rules, &settings.referrals, now))
        .collect();
    let mut requests: Vec<WriteRequest> = Vec::with_capacity(items);
    for b in &built {
        requests.extend(items_of(b).into_iter().map(put));
    }
    assert_eq!(requests.len(), items, "item budget not met");
    let generated = started.elapsed().as_secs_f64();

    let days: Vec<usize> = built
        .iter()
        .map(|b| b.profile.purchase_days.len())
        .collect();
    let share = |range: std::ops::RangeInclusive<usize>| {
        100.0 * days.iter().filter(|d| range.contains(d)).count() as f64 / customers as f64
    };
    let orders: usize = built.iter().map(|b| b.orders.len()).sum();
    let refunds = built
        .iter()
        .flat_map(|b| &b.orders)
        .filter(|o| o.refunded_minor > 0)
        .count();
    let consented = built
        .iter()
        .filter(|b| b.profile.email.is_some() && b.profile.marketing_allowed())
        .count();
    let with_email = built.iter().filter(|b| b.profile.email.is_some()).count();
    println!(
        "data: {customers} customers, {items} items ({customers} PROFILE, {orders} ORDER#, {} LEDGER#), generated in {generated:.1} s",
        items - customers - orders
    );
    println!(
        "  purchase days per customer (BG/NBD r 0.35, alpha {alpha:.2}, a 0.6, b 2.4, over {HISTORY_DAYS} days): \
         1: {:.1} %, 2-3: {:.1} %, 4-10: {:.1} %, 11-50: {:.1} %, >50: {:.1} %, mean {:.2}, max {}",
        share(1..=1),
        share(2..=3),
        share(4..=10),
        share(11..=50),
        share(51..=usize::MAX),
        days.iter().sum::<usize>() as f64 / customers as f64,
        days.iter().max().copied().unwrap_or_default()
    );
    println!(
        "  {refunds} orders refunded; {with_email} customers with email, {consented} of them with marketing consent"
    );

    // Spot checks through the store's own reads: the layout is the store's.
    let store = DynamoStore::new(client.clone(), table.clone());
    let heaviest = (0..customers).max_by_key(|&i| days[i]).unwrap_or(0);
    let refunded = (0..customers)
        .find(|&i| built[i].orders.iter().any(|o| o.refunded_minor > 0))
        .unwrap_or(0);
    let samples = [0, customers / 2, heaviest, refunded];

    let batches: Vec<Vec<WriteRequest>> = {
        let mut batches = Vec::with_capacity(items.div_ceil(BATCH));
        let mut rest = requests.into_iter().peekable();
        while rest.peek().is_some() {
            batches.push(rest.by_ref().take(BATCH).collect());
        }
        batches
    };
    let expected: Vec<(Profile, u64, Vec<Order>, Vec<LedgerEntry>)> = samples
        .iter()
        .map(|&i| {
            let b = &built[i];
            (
                b.profile.clone(),
                b.version,
                b.orders.clone(),
                b.ledger.clone(),
            )
        })
        .collect();
    drop(built);
    let started = Instant::now();
    write_all(&client, &table, batches, WRITERS).await;
    let load = started.elapsed().as_secs_f64();
    println!(
        "load: {items} items in {load:.1} s = {:.0} items/s ({WRITERS} concurrent BatchWriteItem callers, {BATCH} items each)",
        items as f64 / load
    );
    for (profile, version, orders, ledger) in &expected {
        let id = &profile.customer_id;
        let stored = store
            .profile(id)
            .await
            .expect("profile read")
            .expect("profile stored");
        assert_eq!(&stored.value, profile, "profile of {id}");
        assert_eq!(stored.version, *version, "version of {id}");
        assert_eq!(&store.ledger(id).await.expect("ledger read"), ledger);
        for order in orders {
            let snapshot = store
                .load_purchase(id, &order.order_id, "bench-none")
                .await
                .expect("order read");
            assert_eq!(
                snapshot.order.as_ref(),
                Some(order),
                "order {}",
                order.order_id
            );
        }
    }

    // The job's environment: only what the Lambda gets, pointed at DynamoDB Local.
    // Nothing is sent with --dry-run; the SES endpoint is a closed port so that a send
    // would fail loudly rather than reach anything.
    let mut env = rapport_local::env_vars(&dynamodb.endpoint(), "http://127.0.0.1:9");
    env.extend(KEY_SETTINGS.map(|(name, value)| (name, value.to_owned())));
    env.extend([
        ("RAPPORT_TABLE", table.clone()),
        ("RAPPORT_SCAN_SEGMENTS", SEGMENTS.to_string()),
        // No quiet hours: decisions do not depend on the hour the benchmark runs at.
        ("RAPPORT_QUIET_HOURS", "0-0".to_owned()),
        (
            "RAPPORT_SENDER_EMAIL",
            "Bench Shop <hello@bench.example>".to_owned(),
        ),
        ("RAPPORT_PUBLIC_URL", "https://bench.example".to_owned()),
        ("RAPPORT_SHOP_NAME", "Bench Shop".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/nonexistent".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_owned()),
    ]);

    let mut runs = Vec::new();
    // The table scans take time quadratic in the table under DynamoDB Local (see the
    // header): `BENCH_TABLE_SCANS=0` leaves them out (their rows read NaN) and keeps
    // the customer index's scan and the job.
    let table_scans = env_usize("BENCH_TABLE_SCANS", 1) != 0;
    if !table_scans {
        println!("table scans left out (BENCH_TABLE_SCANS=0)");
    }
    for _ in 0..2 {
        let (bare, filtered) = if table_scans {
            (
                bare_scan(&client, &table, Scanned::Table, &server).await,
                bare_scan(&client, &table, Scanned::TableFiltered, &server).await,
            )
        } else {
            (ScanRun::left_out(items), ScanRun::left_out(items))
        };
        let index = bare_scan(&client, &table, Scanned::CustomerIndex, &server).await;
        let job = run_job(&binary, &env, &server).await;
        let round = Round {
            bare,
            filtered,
            index,
            job,
        };
        // As it finishes: at the default size a round takes the better part of an hour.
        round.print(runs.len() + 1);
        runs.push(round);
    }
    if table_scans {
        assert_eq!(
            runs[0].bare.scanned, items as u64,
            "the first scan reads every item"
        );
    }
    assert_eq!(
        runs[0].index.scanned, customers as u64,
        "the customer index holds the profiles alone before the first run"
    );

    // The write-back alone: the store's `write_job_states` for every customer, on a
    // scratch table, and the same items with concurrent writers (`BENCH_WRITEBACK=0`
    // leaves it out).
    let writeback = if env_usize("BENCH_WRITEBACK", 1) != 0 {
        Some(writeback_alone(&client, &table, customers, &settings.rules, now).await)
    } else {
        None
    };

    // Report.
    let row = |label: &str, cells: [String; 2]| {
        println!("{label:<58} {:>12} {:>12}", cells[0], cells[1]);
    };
    let per = |f: &dyn Fn(&Round) -> String| [f(&runs[0]), f(&runs[1])];
    println!();
    println!(
        "scoring job vs bare scan: {customers} customers, {items} items loaded, {SEGMENTS} segments, email sending excluded"
    );
    row("", ["run 1".into(), "run 2".into()]);
    row(
        "items in table (read by the bare scan)",
        per(&|r| r.bare.scanned.to_string()),
    );
    row("bare Scan, s", per(&|r| format!("{:.2}", r.bare.seconds)));
    row("  pages", per(&|r| r.bare.pages.to_string()));
    row(
        "  DynamoDB Local CPU, s",
        per(&|r| opt(r.bare.server_cpu, 2)),
    );
    row(
        "  client CPU (receive and drop), s",
        per(&|r| opt(r.bare.client_cpu, 2)),
    );
    row(
        "same Scan with the job's filter, s",
        per(&|r| format!("{:.2}", r.filtered.seconds)),
    );
    row(
        "  items returned",
        per(&|r| r.filtered.returned.to_string()),
    );
    row(
        "  DynamoDB Local CPU, s",
        per(&|r| opt(r.filtered.server_cpu, 2)),
    );
    // Read capacity: DynamoDB charges an eventually consistent scan half a unit per
    // 4 KiB it reads, so a unit is 8 KiB of items read.
    let per_customer = |units: f64| format!("{:.2}", units * 8.0 / customers as f64);
    row(
        "before: items read (the table, filtered)",
        per(&|r| r.filtered.scanned.to_string()),
    );
    row(
        "  read capacity units / KiB per customer",
        per(&|r| {
            format!(
                "{:.0} / {}",
                r.filtered.capacity,
                per_customer(r.filtered.capacity)
            )
        }),
    );
    row(
        "bare Scan of the customer index, s",
        per(&|r| format!("{:.2}", r.index.seconds)),
    );
    row("  items read", per(&|r| r.index.scanned.to_string()));
    row(
        "  read capacity units / KiB per customer",
        per(&|r| {
            format!(
                "{:.0} / {}",
                r.index.capacity,
                per_customer(r.index.capacity)
            )
        }),
    );
    row(
        "after: the job's items read (the customer index)",
        per(&|r| r.job.count("items_read").to_string()),
    );
    row(
        "  read capacity units / KiB per customer",
        per(&|r| {
            let units = r.job.number("read_capacity_units");
            format!("{units:.0} / {}", per_customer(units))
        }),
    );
    row(
        "  items read before / after",
        per(&|r| {
            format!(
                "{:.1}",
                r.filtered.scanned as f64 / r.job.count("items_read").max(1) as f64
            )
        }),
    );
    row(
        "job wall clock (process start to exit), s",
        per(&|r| format!("{:.2}", r.job.wall)),
    );
    row(
        "  scan, s",
        per(&|r| format!("{:.2}", r.job.number("seconds_scan"))),
    );
    row(
        "  tiers, gifts, points expiry, s",
        per(&|r| format!("{:.2}", r.job.number("seconds_settle"))),
    );
    row(
        "  model, s",
        per(&|r| format!("{:.2}", r.job.number("seconds_model"))),
    );
    row(
        "  outreach: decide, held-out claims, write-back, s",
        per(&|r| format!("{:.2}", r.job.number("seconds_outreach"))),
    );
    row(
        "  rest (start-up, the program's figures, exit), s",
        per(&|r| {
            let phases = r.job.number("seconds_scan")
                + r.job.number("seconds_settle")
                + r.job.number("seconds_model")
                + r.job.number("seconds_outreach");
            format!("{:.2}", r.job.wall - phases)
        }),
    );
    row("  job CPU (user + system), s", per(&|r| opt(r.job.cpu, 2)));
    row(
        "  DynamoDB Local CPU during the job, s",
        per(&|r| opt(r.job.server_cpu, 2)),
    );
    row(
        "ratio job wall / bare scan",
        per(&|r| format!("{:.2}", r.job.wall / r.bare.seconds)),
    );
    row(
        "ratio job scan + model / bare scan",
        per(&|r| {
            format!(
                "{:.2}",
                (r.job.number("seconds_scan") + r.job.number("seconds_model")) / r.bare.seconds
            )
        }),
    );
    row(
        "ratio job scan / filtered scan",
        per(&|r| format!("{:.2}", r.job.number("seconds_scan") / r.filtered.seconds)),
    );
    row(
        "ratio job scan / bare scan of the customer index",
        per(&|r| format!("{:.2}", r.job.number("seconds_scan") / r.index.seconds)),
    );
    let peak = |r: &Round| r.job.summary["peak_memory_bytes"].as_f64();
    row(
        "peak RSS of the job, MB",
        per(&|r| opt(peak(r).map(|b| b / 1e6), 1)),
    );
    row(
        "  per customer, bytes",
        per(&|r| opt(peak(r).map(|b| b / customers as f64), 0)),
    );
    row(
        "customers scanned / scored",
        per(&|r| format!("{} / {}", r.job.count("customers"), r.job.count("scored"))),
    );
    row(
        "decisions: send (not sent: dry run)",
        per(&|r| r.job.actions("send:").to_string()),
    );
    row(
        "  held out (claimed)",
        per(&|r| r.job.count("held_out").to_string()),
    );
    row(
        "  already done (claim found)",
        per(&|r| r.job.count("already_done").to_string()),
    );
    row("  deferred", per(&|r| r.job.count("deferred").to_string()));
    row(
        "  suppressed",
        per(&|r| r.job.actions("suppressed:").to_string()),
    );
    row(
        "  nothing due",
        per(&|r| r.job.actions("nothing").to_string()),
    );
    row(
        "  errors / failed",
        per(&|r| format!("{} / {}", r.job.count("errors"), r.job.count("failed"))),
    );
    if let Some(reason) = runs[0].job.summary["scoring_skipped"].as_str() {
        println!("scoring skipped in run 1: {reason}");
    }
    if let Some(w) = writeback {
        println!(
            "write-back alone, {customers} SCORES items on a scratch table of {} profiles: the store's write_job_states \
             {:.2} s for first states, write_first_job_states {:.2} s for as many others, write_job_states {:.2} s replacing the first; \
             the same items as plain BatchWriteItem from {WRITERS} concurrent writers of {BATCH} {:.2} s",
            2 * customers,
            w.first,
            w.first_known,
            w.replaced,
            w.batches
        );
    }
    println!(
        "targets: job within 1.5× of the bare scan of the table, email sending excluded; \
         the job's scan within 1.2× of a bare scan of the customer index"
    );
}
