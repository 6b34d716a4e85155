//! The run in four phases, each of which a run by scan segments does per segment or
//! once, with what passes between them serialisable:
//!
//! 1. [`summarise`] a part of the customers: bring their tiers, spend gifts and points
//!    expiry up to date, and tally what the fit and the rules need of all customers —
//!    the buyers' purchases, the program's figures, the products' rhythms and
//!    co-purchases ([`Digest`], merged across parts);
//! 2. [`fit`] the models once on the buyers — every one, or a sample of them
//!    ([`super::buyers`]) — ([`RunModel`]);
//! 3. [`deliver`] to a part of the customers: score them with the fitted models, decide,
//!    deliver and write back in batches ([`Outreach`]);
//! 4. [`report`]: the run summary and the report from the model and every part's
//!    outreach.
//!
//! A run in one process does the four on all customers at once.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use rapport_models::Evaluation;
use rapport_shared::domain::outreach::MessageKind;
use rapport_shared::domain::outreach::recommend::{CoPurchases, PairCounts};
use rapport_shared::domain::outreach::replenish::Intervals;
use rapport_shared::domain::stats::StatsTally;
use rapport_shared::domain::{Currency, Sku};
use rapport_shared::mail::MessageSender;
use rapport_shared::store::{JobStore, ProgramStatsStore, ScanRead, ScannedCustomer};
use serde::{Deserialize, Serialize};

use super::buyers::{Buyer, BuyerSample};
use super::model::{self, Fitted, Overview};
use super::{RunSettings, Scanned, control, expiry, gifts, outreach, tiers};
use crate::summary::{ControlRow, Report, RunSummary};

/// What the fit and the run's figures need of a part of the customers; the digests of
/// the parts merge into the digest of all of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Digest {
    pub customers: usize,
    pub read: ScanRead,
    /// The longest scan of the parts (they run side by side).
    pub seconds_scan: f64,
    /// The longest settling of tiers, gifts and expiry of the parts.
    #[serde(default)]
    pub seconds_settle: f64,
    pub tiers_changed: usize,
    pub tiers_demoted: usize,
    pub gifts_granted: usize,
    pub customers_expired: usize,
    pub points_expired: i64,
    pub stats: StatsTally,
    /// The buyers the fit reads: all of them, or a sample of `fit_sample`.
    pub buyers: BuyerSample,
    pub intervals: Intervals,
    pub pairs: PairCounts,
}

impl Digest {
    /// Adds another part's digest (under the same program and moment).
    pub fn merge(&mut self, part: Digest) {
        self.customers += part.customers;
        self.read += part.read;
        self.seconds_scan = self.seconds_scan.max(part.seconds_scan);
        self.seconds_settle = self.seconds_settle.max(part.seconds_settle);
        self.tiers_changed += part.tiers_changed;
        self.tiers_demoted += part.tiers_demoted;
        self.gifts_granted += part.gifts_granted;
        self.customers_expired += part.customers_expired;
        self.points_expired += part.points_expired;
        self.stats.merge(part.stats);
        self.buyers.merge(part.buyers);
        self.intervals.merge(part.intervals);
        self.pairs.merge(part.pairs);
    }
}

/// Brings the scanned customers' tiers, spend gifts and points expiry up to date and
/// tallies what the fit needs of them — of the buyers, the sample of those whose hash
/// is below `fit_below` (see [`super::buyers::threshold`]); the customers as they now
/// are.
pub(super) async fn summarise<S: JobStore>(
    store: &S,
    settings: &RunSettings,
    program_version: u64,
    fit_below: Option<u64>,
    scanned: Scanned,
    scan_started: Instant,
    now: DateTime<Utc>,
) -> anyhow::Result<(Digest, Vec<ScannedCustomer>)> {
    let Scanned {
        mut customers,
        read,
        ..
    } = scanned;
    let seconds_scan = scan_started.elapsed().as_secs_f64();
    let settle_started = Instant::now();
    let job = &settings.job;
    let (tiers_changed, tiers_demoted) =
        tiers::settle_due(store, &mut customers, &job.loyalty, now).await;
    let gifts_granted = gifts::grant_due(
        store,
        &mut customers,
        &job.spend_gifts,
        &job.loyalty,
        &job.delivery.rewards,
        now,
    )
    .await;
    let (customers_expired, points_expired) = match job.rules.expiry_months {
        Some(months) => expiry::expire_due(store, &mut customers, months, now).await?,
        None => (0, 0),
    };
    let seconds_settle = settle_started.elapsed().as_secs_f64();
    let mut stats = StatsTally::new(now, program_version, &job.loyalty);
    for customer in &customers {
        stats.add(&customer.profile);
    }
    let profiles = || customers.iter().map(|c| &c.profile);
    let digest = Digest {
        customers: customers.len(),
        read,
        seconds_scan,
        seconds_settle,
        tiers_changed,
        tiers_demoted,
        gifts_granted,
        customers_expired,
        points_expired,
        stats,
        buyers: BuyerSample::below(job.fit_sample, fit_below, profiles().filter_map(Buyer::of)),
        intervals: Intervals::from_profiles(profiles()),
        pairs: PairCounts::from_profiles(profiles()),
    };
    Ok((digest, customers))
}

/// The models fitted on the buyers (or their sample), what the rules need of all
/// customers, and the run summary so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunModel {
    /// The models, or why scoring was skipped.
    pub fitted: Result<Fitted, String>,
    pub overview: Overview,
    pub backtest: Result<Evaluation, String>,
    pub rhythms: BTreeMap<Sku, f64>,
    pub co_purchases: CoPurchases,
    pub summary: RunSummary,
}

/// Fits the models on the buyers of `digest` (its sample) and saves the program's
/// figures.
pub(super) async fn fit<S: ProgramStatsStore>(
    store: &S,
    settings: &RunSettings,
    program_version: u64,
    digest: Digest,
    currency: Currency,
    now: DateTime<Utc>,
) -> RunModel {
    let started = Instant::now();
    let stats = digest.stats.finish();
    if let Err(e) = store.save_program_stats(&stats).await {
        // The figures wait for the next run; the customers' messages do not.
        tracing::warn!(error = %e, "the program's figures were not saved");
    }
    let mut summary = RunSummary {
        program_version,
        customers: digest.customers,
        items_read: digest.read.items,
        read_capacity_units: digest.read.capacity_units,
        seconds_scan: digest.seconds_scan,
        seconds_settle: digest.seconds_settle,
        tiers_changed: digest.tiers_changed,
        tiers_demoted: digest.tiers_demoted,
        gifts_granted: digest.gifts_granted,
        customers_expired: digest.customers_expired,
        points_expired: digest.points_expired,
        program_stats: Some(stats),
        ..RunSummary::default()
    };
    let minor_per_major = currency.minor_per_major() as f64;
    let modelled = model::fit_all(digest.buyers, settings, minor_per_major, now.date_naive());
    match &modelled.fitted {
        Ok(fitted) => {
            summary.scoring_fallbacks = fitted.fallbacks.clone();
            summary.scoring_model = Some(fitted.kind.as_str().to_owned());
            summary.scoring_model_reason = Some(fitted.why.clone());
        }
        Err(reason) => {
            tracing::warn!(%reason, "scoring skipped; deciding without scores");
            summary.scoring_skipped = Some(reason.clone());
        }
    }
    summary.fit_sample = modelled.overview.sample;
    summary.pareto_revenue_share = modelled.overview.pareto_share;
    let rhythms = digest.intervals.rhythms();
    let co_purchases = digest.pairs.finish();
    summary.seconds_model = started.elapsed().as_secs_f64();
    RunModel {
        fitted: modelled.fitted,
        overview: modelled.overview,
        backtest: modelled.backtest,
        rhythms,
        co_purchases,
        summary,
    }
}

/// What the outreach to a part of the customers did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outreach {
    /// Its counts (decisions, deliveries, what its scan read, its time).
    pub summary: RunSummary,
    /// Earlier messages' outcomes among these customers.
    pub control: Vec<ControlRow>,
}

/// Scores `customers` with the run's models, decides at most one message for each,
/// delivers it (or holds it out) and writes scores and message history back in
/// batches. `stopped` is why SES stopped taking the run's mail before this part began,
/// if it did: nothing is sent then, and the due messages wait for the next run.
#[allow(clippy::too_many_arguments)]
pub(super) async fn deliver<S: JobStore, M: MessageSender>(
    store: &S,
    sender: &M,
    settings: &RunSettings,
    model: &RunModel,
    customers: Vec<ScannedCustomer>,
    suppressed: &HashSet<String>,
    stopped: Option<String>,
    currency: Currency,
    now: DateTime<Utc>,
) -> anyhow::Result<Outreach> {
    let started = Instant::now();
    let mut summary = RunSummary::default();
    let minor_per_major = currency.minor_per_major() as f64;
    let scores = match &model.fitted {
        Ok(fitted) => model::score(fitted, &customers, minor_per_major, now.date_naive(), now)
            .unwrap_or_else(|reason| {
                tracing::error!(%reason, "these customers were not scored; deciding without scores");
                BTreeMap::new()
            }),
        Err(_) => BTreeMap::new(),
    };
    summary.scored = scores.len();
    let control = control::control_groups(&customers, now);
    let sending_stopped = outreach::SendingStopped::new();
    if let Some(reason) = stopped {
        let _ = sending_stopped.set(reason);
    }
    let mut batches = stream::iter(customers)
        .map(|customer| {
            let scores = scores.get(customer.profile.customer_id.as_str()).cloned();
            // Under any of its keys: a bounce's, a tombstone's, an old tombstone's.
            let address_suppressed = customer.profile.email.as_ref().is_some_and(|e| {
                let keys = settings.job.tombstone_key.lookups(e);
                keys.iter().any(|k| suppressed.contains(k))
            });
            outreach::outreach(
                store,
                sender,
                settings,
                &model.overview.population,
                &model.rhythms,
                &model.co_purchases,
                customer,
                scores,
                address_suppressed,
                &sending_stopped,
                now,
            )
        })
        .buffer_unordered(settings.job.send_concurrency.max(1))
        .chunks(settings.job.write_batch.max(1));
    // Each batch's history is written as soon as its customers are done, so a run
    // stopped at any point leaves the caps seeing all but at most one batch of what it
    // sent (and that batch's messages are claimed: a run that decides one of them
    // again records it from its claim instead of sending it).
    while let Some(outcomes) = batches.next().await {
        let states = outreach::tally(outcomes, &mut summary, settings.send);
        if !states.replacing.is_empty() {
            store.write_job_states(&states.replacing).await?;
        }
        if !states.first.is_empty() {
            store.write_first_job_states(&states.first).await?;
        }
    }
    drop(batches);
    summary.sending_stopped = sending_stopped.into_inner();
    summary.seconds_outreach = started.elapsed().as_secs_f64();
    summary.peak_memory_bytes = super::peak_memory_bytes();
    Ok(Outreach { summary, control })
}

/// The run summary and the report, from the model and every part's outreach.
pub(super) fn report(
    model: RunModel,
    parts: Vec<Outreach>,
    settings: &RunSettings,
    currency: Currency,
    now: DateTime<Utc>,
) -> Report {
    let mut summary = model.summary;
    let mut control: Vec<ControlRow> = Vec::new();
    for part in parts {
        summary.absorb_outreach(part.summary);
        for row in part.control {
            match control.iter_mut().find(|sum| sum.kind == row.kind) {
                Some(sum) => sum.absorb(&row),
                None => control.push(row),
            }
        }
    }
    // In the order of the message kinds, as one part's rows are.
    control.sort_by_key(|row| {
        MessageKind::ALL
            .iter()
            .position(|k| k.to_string() == row.kind)
    });
    let (backtest, backtest_skipped) = match model.backtest {
        Ok(b) => (Some(b), None),
        Err(reason) => (None, Some(reason)),
    };
    Report {
        generated_at: now,
        shop_name: settings.job.delivery.shop_name.clone(),
        currency: currency.code().to_owned(),
        summary,
        backtest,
        backtest_skipped,
        customers: model.overview.points,
        control,
    }
}
