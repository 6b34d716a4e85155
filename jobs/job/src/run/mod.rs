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

mod buyers;
mod control;
mod model;
mod outreach;
pub mod phases;
mod scan;
pub mod segments;
pub mod steps;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use rapport_shared::config::JobConfig;
use rapport_shared::domain::Currency;
use rapport_shared::domain::program::ProgramVersion;
use rapport_shared::mail::MessageSender;
use rapport_shared::mail::pace::{Paced, Pacing, QuotaSource};
use rapport_shared::store::{
    ArtifactStore, JobStore, MemoryArtifacts, ProgramReadStore, ProgramStatsStore,
};

pub use crate::summary::RunSummary;
pub use control::CONTROL_WINDOW_DAYS;
pub use model::CHOICE_MARGIN;
pub use scan::{Scanned, scan_all, scan_segment};

use crate::summary::Report;

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

    /// These settings under `program`, when there is one.
    pub fn under(&self, program: Option<&ProgramVersion>) -> Self {
        match program {
            Some(version) => self.under_program(version),
            None => self.clone(),
        }
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

/// One full run in this process; what it did, with everything the report shows.
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
    let settings = settings.under(program.as_ref());
    let program_version = program.as_ref().map_or(0, |v| v.version);
    let started = Instant::now();
    let mut scanned = scan_all(store, settings.job.scan_segments).await?;
    let suppressed = std::mem::take(&mut scanned.suppressed);
    let (digest, customers) = phases::summarise(
        store,
        &settings,
        program_version,
        None,
        scanned,
        started,
        now,
    )
    .await?;
    let model = phases::fit(store, &settings, program_version, digest, currency, now).await;
    let outreach = phases::deliver(
        store,
        sender.as_ref(),
        &settings,
        &model,
        customers,
        &suppressed,
        None,
        currency,
        now,
    )
    .await?;
    Ok(phases::report(
        model,
        vec![outreach],
        &settings,
        currency,
        now,
    ))
}

/// The job's store, sender and settings from the environment, and the pace of a run
/// that sends (`send`: checked that it can), unpaced for a dry run.
async fn wired(send: bool) -> anyhow::Result<(rapport_shared::bootstrap::JobWiring, Pacing)> {
    let wiring = rapport_shared::bootstrap::job_from_env().await?;
    if !send {
        return Ok((wiring, Pacing::UNPACED));
    }
    wiring.job.can_send()?;
    let pace = pacing(&wiring.account, &wiring.job).await;
    Ok((wiring, pace))
}

/// A run against the store and SES the environment names — what the Lambda and
/// `rapport-job run` do.
pub async fn run_from_env(
    send: bool,
    send_until: Option<std::time::SystemTime>,
) -> anyhow::Result<Report> {
    let (wiring, pacing) = wired(send).await?;
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

/// A run by `segments` segments in this process against what the environment names —
/// `rapport-job run --segments N`: the steps the state machine takes, with the same
/// code, the segments in parallel tasks; their results in the run bucket when
/// `RAPPORT_RUN_BUCKET` names one, in memory otherwise.
pub async fn run_segmented_from_env(segments: u32, send: bool) -> anyhow::Result<Report> {
    let (wiring, pace) = wired(send).await?;
    let now = Utc::now();
    let run = segments::RunRef {
        run_id: format!("local-{}", now.format("%Y%m%dT%H%M%S%.3fZ")),
        started_at: now,
    };
    let settings = RunSettings {
        send,
        ..RunSettings::new(wiring.job)
    };
    let artifacts: Arc<dyn ArtifactStore> =
        match rapport_shared::bootstrap::run_artifacts_from_env().await? {
            Some(bucket) => Arc::new(bucket),
            None => Arc::new(MemoryArtifacts::default()),
        };
    let steps = segments::Segmented {
        store: wiring.store,
        sender: Arc::new(wiring.sender),
        artifacts,
        settings,
        currency: wiring.config.rules.currency,
        report_mail: wiring.report_mail,
    };
    Arc::new(steps).run_all(&run, Some(segments), pace).await
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
