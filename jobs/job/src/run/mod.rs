//! The scheduled scoring-and-outreach run over the live store.
//!
//! 1. Scan every customer with a parallel scan (one task per segment), keeping only
//!    what the models and the rules need (`scan`).
//! 2. Fit the churn classifier on the shop's own history (time split) and the BG/NBD +
//!    Gamma-Gamma models, and score every customer (`model`).
//! 3. Decide at most one message per customer, deliver it (or hold it out), and write
//!    scores and message history back in batches (`outreach`).
//!
//! The run is idempotent: a message is claimed before it is sent, so a re-run, an
//! overlapping run or a run after a crash never sends a message twice.

mod control;
mod model;
mod outreach;
mod scan;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use rapport_shared::config::JobConfig;
use rapport_shared::domain::Currency;
use rapport_shared::domain::outreach::recommend::CoPurchases;
use rapport_shared::domain::outreach::replenish::rhythms;
use rapport_shared::domain::program::ProgramVersion;
use rapport_shared::domain::stats::StatsTally;
use rapport_shared::mail::MessageSender;
use rapport_shared::mail::pace::{Paced, Pacing, QuotaSource};
use rapport_shared::store::{JobStore, ProgramReadStore, ProgramStatsStore};

pub use crate::summary::RunSummary;
pub use control::CONTROL_WINDOW_DAYS;
pub use scan::{Scanned, scan_all};

use crate::summary::Report;
use model::Modelled;

mod expiry;
mod gifts;
mod tiers;

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

impl RunSettings {
    /// These settings with what the program version `version` decides: the outreach
    /// policy, expiry and its reminders, what a point is worth, the coupons' validity,
    /// the catalogue and the merchant's wording.
    pub fn under_program(&self, version: &ProgramVersion) -> Self {
        let program = &version.program;
        let mut settings = self.clone();
        let job = &mut settings.job;
        job.rules = program.outreach_rules();
        match version.rules(&job.loyalty) {
            Ok(rules) => job.loyalty = rules.loyalty,
            // Saved versions were checked before they were accepted.
            Err(e) => {
                tracing::error!(version = version.version, error = %e, "a stored program does not read back")
            }
        }
        job.delivery.coupon_valid_days = program.redemption.coupon_valid_days;
        job.delivery.review_points = program.reviews.body_points;
        job.delivery.rewards = program.rewards.clone();
        job.delivery.festivals = program.festivals.clone();
        job.delivery.tips = program.tips.clone();
        job.spend_gifts = program.spend_gifts.clone();
        job.delivery.points_expiry_months = program.expiry.after_inactive_months;
        job.delivery.wording = program.wording.clone();
        settings
    }

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

/// The process's peak resident set size, from `/proc/self/status` (`VmHWM`).
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One full run; what it did, with everything the report shows.
pub async fn run<S, M>(
    store: &S,
    sender: Arc<M>,
    settings: &RunSettings,
    currency: Currency,
    now: DateTime<Utc>,
) -> anyhow::Result<Report>
where
    S: JobStore + ProgramReadStore + ProgramStatsStore + Clone + 'static,
    M: MessageSender + 'static,
{
    // The run decides under the program in force when it starts.
    let program = store.current_program().await?;
    let under_program;
    let settings = match &program {
        Some(version) => {
            under_program = settings.under_program(version);
            &under_program
        }
        None => settings,
    };
    let mut summary = RunSummary {
        program_version: program.as_ref().map_or(0, |v| v.version),
        ..RunSummary::default()
    };
    let started = Instant::now();
    let Scanned {
        mut customers,
        suppressed,
        read,
    } = scan_all(store, settings.job.scan_segments).await?;
    summary.customers = customers.len();
    summary.items_read = read.items;
    summary.read_capacity_units = read.capacity_units;
    summary.seconds_scan = started.elapsed().as_secs_f64();
    let (changed, demoted) =
        tiers::settle_due(store, &mut customers, &settings.job.loyalty, now).await;
    summary.tiers_changed = changed;
    summary.tiers_demoted = demoted;
    summary.gifts_granted = gifts::grant_due(
        store,
        &mut customers,
        &settings.job.spend_gifts,
        &settings.job.loyalty,
        &settings.job.delivery.rewards,
        now,
    )
    .await;
    if let Some(months) = settings.job.rules.expiry_months {
        let (lapsed, points) = expiry::expire_due(store, &mut customers, months, now).await?;
        summary.customers_expired = lapsed;
        summary.points_expired = points;
    }
    // The program's figures, from the profiles just read.
    let mut tally = StatsTally::new(now, summary.program_version, &settings.job.loyalty);
    for customer in &customers {
        tally.add(&customer.profile);
    }
    let stats = tally.finish();
    if let Err(e) = store.save_program_stats(&stats).await {
        // The figures wait for the next run; the customers' messages do not.
        tracing::warn!(error = %e, "the program's figures were not saved");
    }
    summary.program_stats = Some(stats);

    let started = Instant::now();
    let today = now.date_naive();
    let minor_per_major = currency.minor_per_major() as f64;
    let (scores, backtest) =
        match model::score_all(&customers, settings, minor_per_major, today, now) {
            Ok(Modelled {
                scores,
                model: (kind, why),
                backtest,
                fallbacks,
            }) => {
                summary.scoring_fallbacks = fallbacks;
                summary.scoring_model = Some(kind.as_str().to_owned());
                summary.scoring_model_reason = Some(why);
                (scores, backtest)
            }
            Err(reason) => {
                tracing::warn!(%reason, "scoring skipped; deciding without scores");
                summary.scoring_skipped = Some(reason.clone());
                (BTreeMap::new(), Err(reason))
            }
        };
    let points = model::scored_points(&customers, &scores, minor_per_major);
    let control = control::control_groups(&customers, now);
    summary.scored = scores.len();
    summary.pareto_revenue_share = model::pareto_share(&customers, &scores);
    let pop = model::population(&scores);
    // The products bought at a steady rhythm, for replenishment reminders.
    let rhythms = rhythms(customers.iter().map(|c| &c.profile));
    // What the buyers of each product also bought, for suggestions in mail.
    let co_purchases = CoPurchases::from_profiles(customers.iter().map(|c| &c.profile));
    summary.seconds_model = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let sending_stopped = outreach::SendingStopped::new();
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
                sender.as_ref(),
                settings,
                &pop,
                &rhythms,
                &co_purchases,
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
        store.write_job_states(&states).await?;
    }
    drop(batches);
    summary.sending_stopped = sending_stopped.into_inner();
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
    let pacing = if send {
        pacing(&wiring.account, &wiring.job).await
    } else {
        Pacing::UNPACED
    };
    let settings = RunSettings {
        send,
        send_until,
        ..RunSettings::new(wiring.job)
    };
    let mut report = run(
        &wiring.store,
        Arc::new(Paced::new(wiring.sender, pacing)),
        &settings,
        wiring.config.rules.currency,
        Utc::now(),
    )
    .await?;
    report.summary.pacing = send.then_some(pacing);
    Ok(report)
}

/// The run's share of the SES account's limits; unpaced, with a warning, when SES does
/// not tell them (its throttling and quota answers then pace the run).
pub async fn pacing(account: &impl QuotaSource, job: &JobConfig) -> Pacing {
    match account.send_quota().await {
        Ok(quota) => {
            let pacing = Pacing::from_quota(quota, job.ses_rate_share, job.ses_max_send_rate, 1);
            tracing::info!(?pacing, "sending paced to the SES account's quota");
            pacing
        }
        Err(e) => {
            tracing::warn!(error = %e, "the SES account's quota is unknown; sending unpaced");
            Pacing {
                rate: job.ses_max_send_rate,
                ..Pacing::UNPACED
            }
        }
    }
}
