//! Whole-run benchmark at a million customers
//! (`cargo bench -p rapport-integration --bench pipeline`).
//!
//! A shop drawn from the models' own generative process (BG/NBD purchase days,
//! Gamma-Gamma spend, a product per purchase day from a catalogue of 50) is loaded into
//! the in-memory store — `BENCH_CUSTOMERS` customers, default 1 000 000 — and the whole
//! run is timed, sending through a sender that only counts:
//!
//! - `one process`: [`rapport_job::run::run`], the run a single Lambda does;
//! - `N segments`: the steps the state machine takes ([`Segmented::run_all`]: plan,
//!   summarise each segment, fit once, deliver to each segment, report), the segments as
//!   parallel tasks, the steps' results serialised to JSON in memory as they are to S3.
//!
//! Each configuration runs in a child process of its own, so its peak memory is its
//! own: wall time, CPU time per customer, peak RSS, and the peak above the loaded
//! store (what the run itself held), with the sizes of the steps' stored results —
//! what a segment worker on Lambda reads and writes. `BENCH_SEGMENTS` lists the segment
//! counts (default `8`); `one process` and 1 segment always run. Each count N > 1 also
//! runs one step at a time (`N steps`), each step timed and its peak memory above the
//! process's before it measured alone: what one Lambda running that step needs.
//! `N whole fit` (for the largest N) fits the models on every buyer instead of the
//! job's sample of `RAPPORT_FIT_SAMPLE` (default 200,000): what the sample changes.
//! `N steps again` takes a whole run by N segments first (not measured), so the run
//! measured has its predecessor's buyer count and keeps only the buyers below its
//! plan's hash threshold: what the segments store and the fit reads in a shop's
//! second and later runs (its outreach then finds the first run's messages claimed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rapport_integration::{delivery_settings_at, job_settings_for};
use rapport_job::run::segments::{RunRef, Segmented};
use rapport_job::run::{RunSettings, run};
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, GammaGammaCoefficients};
use rapport_shared::domain::outreach::replenish::SkuHistory;
use rapport_shared::domain::{Consent, Currency, CustomerId, Email, Profile, Sku, Tier};
use rapport_shared::mail::pace::Pacing;
use rapport_shared::mail::{MessageSender, OutgoingMail, SendError};
use rapport_shared::store::{ArtifactStore, MemoryArtifacts, MemoryStore};

const SEED: u64 = 20_261_203;
const HISTORY_DAYS: i64 = 730;
const PRODUCTS: u64 = 50;

/// Purchase days: about 4 per customer over two years, a third of buyers lapsing.
const PURCHASES: BgNbdCoefficients = BgNbdCoefficients {
    r: 0.7,
    alpha: 12.0,
    a: 0.8,
    b: 2.5,
};
/// Spend per purchase day: a mean near 80 currency units.
const SPEND: GammaGammaCoefficients = GammaGammaCoefficients {
    p: 6.0,
    q: 4.0,
    gamma: 40.0,
};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.from_utc_datetime(&today().and_hms_opt(10, 0, 0).unwrap())
}

/// The shop's customers, the same on every call.
fn shop(customers: usize, tier: &Tier) -> Vec<Profile> {
    let start = today() - Duration::days(HISTORY_DAYS - 1);
    let histories = Simulation::new(PURCHASES, start, today())
        .spend(SPEND)
        .seed(SEED)
        .transactions(customers)
        .expect("simulated purchase histories");
    let mut rng = SmallRng::seed_from_u64(SEED);
    let noon = |day: NaiveDate| Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap());
    histories
        .customers()
        .iter()
        .enumerate()
        .map(|(i, history)| {
            let days: Vec<(NaiveDate, i64)> = (history.purchase_days().iter())
                .map(|d| {
                    (
                        d.date().unwrap(),
                        ((d.amount * 100.0).round() as i64).max(100),
                    )
                })
                .collect();
            let first = noon(days[0].0);
            let id = CustomerId::parse("customer_id", &format!("c{i:07}")).unwrap();
            let mut p = Profile::new(id, tier.clone(), first);
            p.email = Some(Email::parse("email", &format!("c{i}@shop.example")).unwrap());
            p.consent = Some(Consent {
                marketing: i % 3 != 0,
                updated_at: first,
                source: "bench".into(),
            });
            for (day, amount) in &days {
                p.purchase_days.insert(*day, *amount);
                p.net_spend_minor += amount;
                p.orders += 1;
                let sku =
                    Sku::parse("sku", &format!("P{}", rng.random_range(0..PRODUCTS))).unwrap();
                let h = p.sku_history.entry(sku).or_insert(SkuHistory {
                    first: *day,
                    last: *day,
                    days: 0,
                    name: None,
                });
                h.days += 1;
                h.last = *day;
            }
            p.first_purchase_at = Some(first);
            p.last_purchase_at = days.last().map(|(day, _)| noon(*day));
            p
        })
        .collect()
}

/// A sender that takes every message and only counts them.
#[derive(Default)]
struct Counting(AtomicUsize);

#[async_trait::async_trait]
impl MessageSender for Counting {
    async fn send(&self, _: &OutgoingMail) -> Result<String, SendError> {
        Ok(format!("bench-{}", self.0.fetch_add(1, Ordering::Relaxed)))
    }
}

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (status.lines().find(|l| l.starts_with(field)))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn settings() -> RunSettings {
    let mut settings = job_settings_for("bench", delivery_settings_at("https://shop.example"));
    settings.job.scan_segments = 1;
    settings.job.write_batch = 200;
    settings.job.send_concurrency = 16;
    settings
}

/// Forgets the peak resident set so far (Linux: `clear_refs` 5), so `VmHWM` is the peak
/// from now on.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The steps of a run by `segments` segments one at a time, each step's wall time and
/// its peak resident memory above what the process held when it started (what a
/// Lambda running that step alone would need beyond the store's data): the slowest
/// and largest of each kind of step.
async fn one_step_at_a_time(
    steps: &Segmented<MemoryStore, Counting, MemoryArtifacts>,
    run: &RunRef,
    segments: u32,
    measured: &mut serde_json::Map<String, serde_json::Value>,
) -> rapport_job::summary::Report {
    let mut record = |kind: &str, seconds: f64, above_kib: u64| {
        let entry = measured
            .entry(kind.to_owned())
            .or_insert_with(|| serde_json::json!({"max_s": 0.0, "max_above_mib": 0.0, "count": 0}));
        let max_s = entry["max_s"].as_f64().unwrap_or(0.0).max(seconds);
        let above = entry["max_above_mib"]
            .as_f64()
            .unwrap_or(0.0)
            .max(above_kib as f64 / 1024.0);
        let count = entry["count"].as_u64().unwrap_or(0) + 1;
        *entry = serde_json::json!({"max_s": max_s, "max_above_mib": above, "count": count});
    };
    macro_rules! step {
        ($kind:expr, $call:expr) => {{
            reset_peak();
            let (start_kib, started) = (rss_kib("VmRSS:"), Instant::now());
            let out = $call.await.unwrap();
            record(
                $kind,
                started.elapsed().as_secs_f64(),
                rss_kib("VmHWM:").saturating_sub(start_kib),
            );
            out
        }};
    }
    step!("plan", steps.plan(run, Some(segments), Pacing::UNPACED));
    for segment in 0..segments {
        step!("summarise", steps.summarise(run, segment));
    }
    step!("fit", steps.fit(run));
    for segment in 0..segments {
        step!("deliver", steps.deliver(run, segment, None));
    }
    step!("report", steps.report(run))
}

/// One configuration, in this (child) process; prints one JSON line.
async fn child(config: &str, customers: usize) {
    let mut settings = settings();
    let (config, again) = match config.strip_suffix(" again") {
        Some(base) => (base, true),
        None => (config, false),
    };
    let config = match config.strip_suffix(" whole fit") {
        Some(base) => {
            settings.job.fit_sample = usize::MAX;
            base
        }
        None => config,
    };
    let tier = settings.job.loyalty.tiers()[0].tier.clone();
    let store = MemoryStore::new();
    store.load_profiles(shop(customers, &tier)).unwrap();
    let loaded_kib = rss_kib("VmRSS:");
    let sender = Arc::new(Counting::default());
    let usd = Currency::parse("currency", "USD").unwrap();
    let artifacts = MemoryArtifacts::default();
    let steps = Arc::new(Segmented {
        store: store.clone(),
        sender: sender.clone(),
        artifacts: artifacts.clone(),
        settings: settings.clone(),
        currency: usd,
        report_mail: None,
    });
    let run_ref = |segments: u32| RunRef {
        run_id: format!("bench-{segments}"),
        started_at: now(),
    };
    if again {
        let segments: u32 = config.trim_end_matches(" steps").parse().unwrap();
        let before = RunRef {
            run_id: format!("before-{segments}"),
            ..run_ref(segments)
        };
        let first = steps
            .clone()
            .run_all(&before, Some(segments), Pacing::UNPACED);
        first.await.unwrap();
        reset_peak();
    }
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut steps_measured = serde_json::Map::new();
    let report = match (config.strip_suffix(" steps"), config.parse::<u32>()) {
        (Some(segments), _) => {
            let segments: u32 = segments.parse().unwrap();
            let run = run_ref(segments);
            one_step_at_a_time(&steps, &run, segments, &mut steps_measured).await
        }
        (None, Ok(segments)) => {
            let run = run_ref(segments);
            let all = steps.run_all(&run, Some(segments), Pacing::UNPACED);
            all.await.unwrap()
        }
        (None, Err(_)) => run(&store, sender.clone(), &settings, usd, now())
            .await
            .unwrap(),
    };
    let (wall, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for key in artifacts
        .keys()
        .into_iter()
        .filter(|k| k.contains("/bench-"))
    {
        let kind = key.split('/').nth(2).unwrap_or("report").to_owned();
        let size = artifacts.get(&key).await.unwrap().map_or(0, |b| b.len());
        *stored.entry(kind).or_default() += size;
    }
    let s = &report.summary;
    let vip: usize = s.actions.get("vip").map_or(0, |a| a.values().sum());
    let line = serde_json::json!({
        "config": match (settings.job.fit_sample == usize::MAX, again) {
            (true, _) => format!("{config} whole fit"),
            (false, true) => format!("{config} again"),
            (false, false) => config.to_owned(),
        },
        "fit_sample": s.fit_sample.map(|f| f.buyers),
        "vip": vip,
        "pareto_share": s.pareto_revenue_share,
        "customers": s.customers,
        "scored": s.scored,
        "sent": s.sent,
        "counted": sender.0.load(Ordering::Relaxed),
        "held_out": s.held_out,
        "model": s.scoring_model,
        "wall_s": wall,
        "cpu_s": cpu,
        "seconds_scan": s.seconds_scan,
        "seconds_model": s.seconds_model,
        "seconds_outreach": s.seconds_outreach,
        "loaded_mib": loaded_kib as f64 / 1024.0,
        "peak_mib": rss_kib("VmHWM:") as f64 / 1024.0,
        "stored_bytes": stored,
        "steps": steps_measured,
    });
    println!("RESULT {line}");
}

fn main() {
    let customers = env_usize("BENCH_CUSTOMERS", 1_000_000);
    if let Ok(config) = std::env::var("PIPELINE_CONFIG") {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(child(&config, customers));
        return;
    }
    let segments = std::env::var("BENCH_SEGMENTS").unwrap_or_else(|_| "8".into());
    let mut configs = vec!["one process".to_owned(), "1".to_owned()];
    for n in segments.split(',').map(str::trim).filter(|s| *s != "1") {
        configs.extend([n.to_owned(), format!("{n} steps")]);
    }
    if let Some(largest) =
        (segments.split(',').map(str::trim)).max_by_key(|n| n.parse::<u32>().unwrap_or(0))
    {
        configs.push(format!("{largest} whole fit"));
        if largest != "1" {
            configs.push(format!("{largest} steps again"));
        }
    }
    let exe = std::env::current_exe().unwrap();
    println!("pipeline benchmark: {customers} customers, configurations {configs:?}");
    let mut results = Vec::new();
    for config in &configs {
        let out = std::process::Command::new(&exe)
            .env("PIPELINE_CONFIG", config)
            .env("BENCH_CUSTOMERS", customers.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            panic!(
                "{config}: no result\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        println!("{r}");
        results.push(r);
    }
    println!();
    println!(
        "| run | wall s | CPU µs/customer | scan s | model s | outreach s | peak RSS MiB | run above store MiB | stored per customer (digests / model / points / outreach) | fitted on | scored | sent | VIP | Pareto share |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let n = r["customers"].as_f64().unwrap_or(1.0).max(1.0);
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        let per = |k: &str| {
            let b = r["stored_bytes"][k].as_f64().unwrap_or(0.0);
            format!("{:.0} B", b / n)
        };
        let name = match r["config"].as_str() {
            Some("one process") => "one process".to_owned(),
            Some(k) if k.ends_with(" steps") => format!("{k} one at a time"),
            Some(k) if k.ends_with(" steps again") => {
                format!(
                    "{} one at a time, a later run",
                    k.trim_end_matches(" again")
                )
            }
            Some(k) if k.ends_with(" whole fit") => {
                format!(
                    "{} segments, fitted on every buyer",
                    k.trim_end_matches(" whole fit")
                )
            }
            Some(k) => format!("{k} segments"),
            None => "?".into(),
        };
        println!(
            "| {name} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {} / {} / {} / {} | {} | {} | {} | {} | {:.4} |",
            f("wall_s"),
            f("cpu_s") / n * 1e6,
            f("seconds_scan"),
            f("seconds_model"),
            f("seconds_outreach"),
            f("peak_mib"),
            f("peak_mib") - f("loaded_mib"),
            per("digests"),
            per("model.json"),
            per("points.json"),
            per("outreach"),
            r["fit_sample"]
                .as_u64()
                .map_or("all".to_owned(), |n| n.to_string()),
            r["scored"],
            r["sent"],
            r["vip"],
            f("pareto_share"),
        );
    }
    for r in &results {
        let Some(steps) = r["steps"].as_object().filter(|s| !s.is_empty()) else {
            continue;
        };
        println!();
        println!("{}, one step at a time:", r["config"]);
        println!("| step | runs | slowest s | most memory above the store MiB |");
        println!("|---|---|---|---|");
        for kind in ["plan", "summarise", "fit", "deliver", "report"] {
            let m = &steps[kind];
            println!(
                "| {kind} | {} | {:.1} | {:.0} |",
                m["count"],
                m["max_s"].as_f64().unwrap_or(0.0),
                m["max_above_mib"].as_f64().unwrap_or(0.0)
            );
        }
    }
}
