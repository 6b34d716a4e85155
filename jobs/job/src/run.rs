//! The scheduled scoring-and-outreach run over the live store.
//!
//! 1. Scan every customer with a parallel scan (one task per segment), keeping only
//!    what the models and the rules need.
//! 2. Fit the churn classifier on the shop's own history (time split) and the BG/NBD +
//!    Gamma-Gamma models, and score every customer.
//! 3. Decide at most one message per customer, deliver it (or hold it out), and write
//!    scores and message history back in batches.
//!
//! The run is idempotent: a message is claimed before it is sent, so a re-run, an
//! overlapping run or a run after a crash never sends a message twice.

use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::{self, StreamExt};
use rapport_shared::config::JobConfig;
use rapport_shared::deliver::{Delivered, deliver};
use rapport_shared::domain::outreach::{
    CustomerContext, Decision, MessageKind, MessageStatus, PastMessage, Population, decide,
};
use rapport_shared::domain::{Currency, CustomerScores, JobState, Profile, Sku};
use rapport_shared::mail::MessageSender;
use rapport_shared::store::{ScannedCustomer, Store};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

pub use crate::summary::RunSummary;
use crate::summary::{Action, ControlRow, Report, ScoredPoint};
use rapport_models::{
    ChurnModel, CustomerHistory, Evaluation, PARETO_SHARE, ScoreParams, Transactions, evaluate,
    metrics,
};

/// Messages older than this no longer matter to any rule.
const HISTORY_DAYS: i64 = 400;

#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The deployment's settings (segments, horizons, outreach rules, delivery).
    pub job: JobConfig,
    /// Decide and record, but send nothing (a dry run for the report).
    pub send: bool,
    pub model_version: String,
    /// No new message is started after this (the Lambda's deadline less a margin for
    /// the write-back); what is left waits for the next run.
    pub send_until: Option<std::time::SystemTime>,
}

/// The process's peak resident set size, from `/proc/self/status` (`VmHWM`).
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Everything the scan read.
#[derive(Debug, Default)]
pub struct Scanned {
    pub customers: Vec<ScannedCustomer>,
    /// Address keys of suppressed addresses.
    pub suppressed: HashSet<String>,
}

/// Reads every customer but the erased, and the suppression list, with one task per
/// scan segment.
pub async fn scan_all<S: Store + Clone + 'static>(
    store: &S,
    segments: u32,
) -> Result<Scanned, rapport_shared::store::StoreError> {
    let tasks = (0..segments).map(|segment| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut out = Scanned::default();
            let mut cursor = None;
            loop {
                let page = store.scan_customers(segment, segments, cursor).await?;
                // An erased customer is neither scored nor mailed: their records stay
                // for accounting only.
                out.customers.extend(
                    page.customers
                        .into_iter()
                        .filter(|c| !c.profile.is_erased()),
                );
                out.suppressed.extend(page.suppressed);
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return Ok::<_, rapport_shared::store::StoreError>(out),
                }
            }
        })
    });
    let mut all = Scanned::default();
    for task in futures::future::join_all(tasks).await {
        let part = task.map_err(|e| {
            rapport_shared::store::StoreError::Internal(format!("scan task: {e}"))
        })??;
        all.customers.extend(part.customers);
        all.suppressed.extend(part.suppressed);
    }
    Ok(all)
}

/// The customer's purchase history in major currency units, fully refunded days left out.
fn history_of(profile: &Profile, minor_per_major: f64) -> Option<CustomerHistory> {
    let days = profile
        .purchase_days
        .iter()
        .filter(|(_, net)| **net > 0)
        .map(|(day, net)| (*day, *net as f64 / minor_per_major));
    CustomerHistory::new(profile.customer_id.as_str(), days).ok()
}

/// What the models made of the shop's history.
struct Modelled {
    scores: BTreeMap<String, CustomerScores>,
    backtest: Result<Evaluation, String>,
}

/// Fits the models on everyone's history and scores every customer with a purchase;
/// backtests the same models on the churn window that just ended.
fn score_all(
    customers: &[ScannedCustomer],
    settings: &RunSettings,
    minor_per_major: f64,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Modelled, String> {
    let histories: Vec<CustomerHistory> = customers
        .iter()
        .filter_map(|c| history_of(&c.profile, minor_per_major))
        .collect();
    let shop = Transactions::new(histories);
    let churn = ChurnModel::params()
        .max_window_weeks(settings.job.churn_window_weeks)
        .fit(&shop, today)
        .map_err(|e| format!("churn model: {e}"))?;
    let cohort = shop.cohort_at(today);
    let scored = ScoreParams::default()
        .horizon_weeks(settings.job.horizon_weeks)
        .fit(&cohort.summaries, Some(churn))
        .map_err(|e| format!("CLV models: {e}"))?;
    let scores = cohort
        .members
        .iter()
        .zip(&scored.scores)
        .map(|(member, s)| {
            let id = member.id().to_owned();
            let scores = CustomerScores {
                customer_id: rapport_shared::domain::CustomerId::parse("customer_id", &id)
                    .map_err(|e| e.to_string())?,
                churn_risk: s.churn_risk,
                p_alive: s.p_alive,
                expected_purchases: s.expected_purchases,
                clv_minor: (s.clv * minor_per_major).round() as i64,
                segment: s.segment.as_str().to_owned(),
                horizon_weeks: settings.job.horizon_weeks,
                model_version: settings.model_version.clone(),
                scored_at: now,
            };
            Ok((id, scores))
        })
        .collect::<Result<_, String>>()?;
    let window_days = (settings.job.churn_window_weeks * 7.0).round() as i64;
    let backtest = evaluate(&shop, today - chrono::Duration::days(window_days), today)
        .map_err(|e| format!("backtest over the last {window_days} days: {e}"));
    Ok(Modelled { scores, backtest })
}

/// The CLV from which a customer is in the Pareto top, and the median: the CLV from
/// which they are in the top half.
fn population(scores: &BTreeMap<String, CustomerScores>) -> Population {
    // Minor units are exact in an f64 far beyond any CLV; no CLV makes the cut-off
    // infinite, which saturates to `i64::MAX`: nobody is above it.
    let clv: Vec<f64> = scores.values().map(|s| s.clv_minor as f64).collect();
    Population {
        vip_clv_minor: metrics::top_share_cutoff(&clv, PARETO_SHARE) as i64,
        median_clv_minor: metrics::top_share_cutoff(&clv, 0.5) as i64,
    }
}

/// Share of net spend brought by the Pareto top of customers by CLV; `None` when no
/// scored customer has spent.
fn pareto_share(
    customers: &[ScannedCustomer],
    scores: &BTreeMap<String, CustomerScores>,
) -> Option<f64> {
    let (clv, spend): (Vec<f64>, Vec<f64>) = customers
        .iter()
        .filter_map(|c| {
            scores
                .get(c.profile.customer_id.as_str())
                .map(|s| (s.clv_minor as f64, c.profile.net_spend_minor.max(0) as f64))
        })
        .unzip();
    let total: f64 = spend.iter().sum();
    (total > 0.0).then(|| metrics::pareto(&clv, &spend, PARETO_SHARE).revenue_share)
}

/// Days after a message in which a purchase or redemption counts as its outcome.
pub const CONTROL_WINDOW_DAYS: i64 = 30;

/// Later purchase and redemption rates of earlier messages, sent against held out, per
/// message kind — for messages whose window has closed.
fn control_groups(customers: &[ScannedCustomer], now: DateTime<Utc>) -> Vec<ControlRow> {
    let mut rows: BTreeMap<MessageKind, ControlRow> = BTreeMap::new();
    for c in customers {
        let Some(job) = &c.job else { continue };
        for m in &job.messages {
            if (now - m.at).num_days() < CONTROL_WINDOW_DAYS {
                continue;
            }
            let from = m.at.date_naive();
            let until = from + chrono::Duration::days(CONTROL_WINDOW_DAYS);
            let after = |d: &NaiveDate| *d > from && *d <= until;
            let bought = c
                .profile
                .purchase_days
                .iter()
                .any(|(d, net)| *net > 0 && after(d));
            let redeemed = c.profile.redemption_days.iter().any(after);
            let row = rows.entry(m.kind).or_insert_with(|| ControlRow {
                kind: m.kind.to_string(),
                window_days: CONTROL_WINDOW_DAYS,
                ..ControlRow::default()
            });
            let (n, b, r) = if m.held_out {
                (
                    &mut row.held_out,
                    &mut row.held_out_purchased,
                    &mut row.held_out_redeemed,
                )
            } else {
                (
                    &mut row.sent,
                    &mut row.sent_purchased,
                    &mut row.sent_redeemed,
                )
            };
            *n += 1;
            *b += usize::from(bought);
            *r += usize::from(redeemed);
        }
    }
    rows.into_values().collect()
}

/// What the run decided and did for one customer.
struct Outcome {
    segment: String,
    decision: Decision,
    /// `None` when nothing was to be delivered, or delivery hit an error (logged).
    delivered: Option<Delivered>,
    out_of_time: bool,
    state: JobState,
}

/// Decides and delivers this customer's message, and the job state to write back.
#[allow(clippy::too_many_arguments)]
async fn outreach<S: Store, M: MessageSender + ?Sized>(
    store: &S,
    sender: &M,
    settings: &RunSettings,
    pop: &Population,
    tips: &BTreeSet<Sku>,
    customer: ScannedCustomer,
    scores: Option<CustomerScores>,
    address_suppressed: bool,
    now: DateTime<Utc>,
) -> Outcome {
    let mut messages: Vec<PastMessage> = customer
        .job
        .map(|j| j.messages)
        .unwrap_or_default()
        .into_iter()
        .filter(|m| (now - m.at).num_days() < HISTORY_DAYS)
        .collect();
    let profile = customer.profile;
    let ctx = CustomerContext {
        profile: &profile,
        scores: scores.as_ref(),
        history: &messages,
        address_suppressed,
        tips_catalogue: tips,
    };
    let decision = decide(&ctx, pop, &settings.job.rules, now);
    let out_of_time = settings
        .send_until
        .is_some_and(|until| std::time::SystemTime::now() >= until);
    let to_deliver = match &decision {
        _ if out_of_time => None,
        Decision::Send(p) if settings.send => Some((p, false)),
        Decision::HoldOut(p) => Some((p, true)),
        _ => None,
    };
    let delivered = match to_deliver {
        Some((planned, held_out)) => {
            let result = deliver(
                store,
                sender,
                &settings.job.delivery,
                &profile,
                planned,
                held_out,
                now,
            )
            .await;
            result
                .inspect_err(|e| {
                    tracing::error!(customer = %profile.customer_id, error = %e, "delivery failed")
                })
                .ok()
        }
        None => None,
    };
    match &delivered {
        Some(Delivered::Sent(r) | Delivered::HeldOut(r)) => messages.push(r.past()),
        // Another run's outcome: remember it so the cap counts it. A claim still
        // `sending` is not an outcome: until it is settled, each run tries it again.
        Some(Delivered::AlreadyDone(r))
            if matches!(r.status, MessageStatus::Sent | MessageStatus::HeldOut)
                && !messages
                    .iter()
                    .any(|m| m.kind == r.kind && m.period == r.period) =>
        {
            messages.push(r.past())
        }
        _ => {}
    }
    Outcome {
        segment: scores
            .as_ref()
            .map_or_else(|| "unscored".to_owned(), |s| s.segment.clone()),
        decision,
        delivered,
        out_of_time,
        state: JobState {
            customer_id: profile.customer_id.clone(),
            scores,
            messages,
        },
    }
}

/// One full run; what it did, with everything the report shows.
pub async fn run<S, M>(
    store: &S,
    sender: Arc<M>,
    settings: &RunSettings,
    tips: &BTreeSet<Sku>,
    currency: Currency,
    now: DateTime<Utc>,
) -> anyhow::Result<Report>
where
    S: Store + Clone + 'static,
    M: MessageSender + 'static,
{
    let mut summary = RunSummary::default();
    let started = Instant::now();
    let Scanned {
        customers,
        suppressed,
    } = scan_all(store, settings.job.scan_segments).await?;
    summary.customers = customers.len();
    summary.seconds_scan = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let today = now.date_naive();
    let minor_per_major = currency.minor_per_major() as f64;
    let (scores, backtest) = match score_all(&customers, settings, minor_per_major, today, now) {
        Ok(Modelled { scores, backtest }) => (scores, backtest),
        Err(reason) => {
            tracing::warn!(%reason, "scoring skipped; deciding without scores");
            summary.scoring_skipped = Some(reason.clone());
            (BTreeMap::new(), Err(reason))
        }
    };
    let points: Vec<ScoredPoint> = customers
        .iter()
        .filter_map(|c| {
            scores
                .get(c.profile.customer_id.as_str())
                .map(|s| ScoredPoint {
                    churn_risk: s.churn_risk,
                    clv: s.clv_minor as f64 / minor_per_major,
                    net_spend: c.profile.net_spend_minor as f64 / minor_per_major,
                })
        })
        .collect();
    let control = control_groups(&customers, now);
    summary.scored = scores.len();
    summary.pareto_revenue_share = pareto_share(&customers, &scores);
    let pop = population(&scores);
    summary.seconds_model = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let outcomes: Vec<Outcome> = stream::iter(customers)
        .map(|customer| {
            let scores = scores.get(customer.profile.customer_id.as_str()).cloned();
            let address_suppressed = customer
                .profile
                .email
                .as_ref()
                .is_some_and(|e| suppressed.contains(&e.address_key()));
            outreach(
                store,
                sender.as_ref(),
                settings,
                &pop,
                tips,
                customer,
                scores,
                address_suppressed,
                now,
            )
        })
        .buffer_unordered(settings.job.send_concurrency.max(1))
        .collect()
        .await;

    let mut states = Vec::with_capacity(outcomes.len());
    for Outcome {
        segment,
        decision,
        delivered,
        out_of_time,
        state,
    } in outcomes
    {
        *summary
            .actions
            .entry(segment)
            .or_default()
            .entry(Action::from(&decision))
            .or_default() += 1;
        match (&decision, &delivered) {
            (Decision::Send(_) | Decision::HoldOut(_), _) if out_of_time => {
                summary.out_of_time += 1
            }
            (Decision::Suppressed { reason, .. }, _) => {
                *summary.suppressed.entry(*reason).or_default() += 1
            }
            (Decision::Defer { .. }, _) => summary.deferred += 1,
            (_, Some(Delivered::Sent(_))) => summary.sent += 1,
            (_, Some(Delivered::HeldOut(_))) => summary.held_out += 1,
            (_, Some(Delivered::Failed(_))) => summary.failed += 1,
            (_, Some(Delivered::AlreadyDone(_))) => summary.already_done += 1,
            (Decision::Send(_) | Decision::HoldOut(_), None) if settings.send => {
                summary.errors += 1
            }
            _ => {}
        }
        states.push(state);
    }
    store.write_job_states(&states).await?;
    summary.seconds_outreach = started.elapsed().as_secs_f64();
    summary.peak_memory_bytes = peak_memory_bytes();
    let (backtest, backtest_skipped) = match backtest {
        Ok(b) => (Some(b), None),
        Err(reason) => (None, Some(reason)),
    };
    Ok(Report {
        generated_at: now,
        shop_name: settings.job.delivery.shop_name.clone(),
        currency: currency.code().to_owned(),
        summary,
        backtest,
        backtest_skipped,
        customers: points,
        control,
    })
}

impl RunSettings {
    /// A run that sends, under `job`'s settings.
    pub fn new(job: JobConfig) -> Self {
        Self {
            job,
            send: true,
            model_version: format!("rapport-models {}", rapport_models::VERSION),
            send_until: None,
        }
    }
}

/// A run against the store and SES the environment names — what the Lambda and
/// `rapport-job run` do.
pub async fn run_from_env(
    send: bool,
    send_until: Option<std::time::SystemTime>,
) -> anyhow::Result<Report> {
    let wiring = rapport_shared::bootstrap::job_from_env().await?;
    if send {
        wiring.job.can_send()?;
    }
    let tips = wiring.job.tips_catalogue();
    let settings = RunSettings {
        send,
        send_until,
        ..RunSettings::new(wiring.job)
    };
    run(
        &wiring.store,
        Arc::new(wiring.sender),
        &settings,
        &tips,
        wiring.config.rules.currency,
        Utc::now(),
    )
    .await
}
