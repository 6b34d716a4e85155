//! The run by scan segments: each phase of [`super::phases`] as a step of its own —
//! `plan`, `summarise` each segment, `fit`, `deliver` to each segment, `report` — with
//! what passes between them kept in an [`ArtifactStore`] under the run's id. On AWS a
//! Step Functions state machine (infra/job.asl.json) invokes the job's Lambda once per
//! step; [`Segmented::run_all`] takes the same steps in one process, the segments in
//! parallel tasks.
//!
//! Every step is idempotent by run id and segment: a step whose result is stored
//! returns it without doing anything again, so a retried, duplicated or redriven step
//! changes nothing twice, and a run started again finishes only what is missing. A
//! delivery interrupted half-way is done again whole: its messages are claimed before
//! they are sent, so none is sent twice, and its customers' scores and history are
//! written again with the same values.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rapport_shared::auth::report_link;
use rapport_shared::domain::program::ProgramVersion;
use rapport_shared::domain::{Currency, RunId};
use rapport_shared::mail::pace::{Paced, Pacing};
use rapport_shared::mail::{AlertSender, MerchantNotice, MessageSender};
use rapport_shared::store::{
    ArtifactStore, JobStore, ProgramReadStore, ProgramStatsStore, ReportFile,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::buyers;
use super::phases::{self, Digest, Outreach, RunModel};
use super::{RunSettings, scan_segment};
use crate::summary::Report;

/// Messages one delivering segment keeps up with per second (its sends in flight, each
/// a claim, a render, an SES call and a record): more segments than the account's rate
/// over this would only wait on the pacing.
pub const MAILS_PER_SEGMENT_SECOND: f64 = 10.0;

/// Most segments a run is split into.
pub const MAX_SEGMENTS: u32 = 1000;

/// One run: its id (the state machine's execution name) and the moment it decides at
/// (the execution's start), the same in every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
}

impl RunRef {
    /// The run's id, checked: it names the run's objects.
    fn id(&self) -> anyhow::Result<RunId> {
        Ok(RunId::parse("run_id", &self.run_id)?)
    }

    fn key(&self, name: &str) -> anyhow::Result<String> {
        Ok(format!("runs/{}/{name}", self.id()?))
    }
}

/// What the plan fixed for the whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Segments the run is split into.
    pub of: u32,
    /// Segments delivering at once, from the SES account's send rate.
    pub deliver_concurrency: u32,
    /// Each delivering segment's share of the account's limits.
    pub pacing: Pacing,
    /// The program in force when the run started: every step decides under it.
    pub program: Option<ProgramVersion>,
    /// Segments keep for the fit only buyers whose hash is below this
    /// ([`buyers::threshold`], from the buyers of the run before); `None`: up to the
    /// sample's capacity each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit_below: Option<u64>,
}

/// How many buyers the last fitted run drew its sample from, for the next plan's
/// [`buyers::threshold`]; kept under `runs/`, rewritten by every run's fit.
const SHOP_BUYERS_KEY: &str = "runs/shop-buyers.json";

/// What [`SHOP_BUYERS_KEY`] holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ShopBuyers {
    buyers: usize,
}

/// What `plan` answers the state machine: the segments to map over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanAnswer {
    pub run: RunRef,
    pub segments: Vec<u32>,
    pub of: u32,
    pub deliver_concurrency: u32,
}

/// What a `summarise` or `deliver` step answers: small, the objects hold the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentAnswer {
    pub segment: u32,
    pub customers: usize,
    pub sent: usize,
}

/// What `fit` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitAnswer {
    /// The buyers the fit scored: every buyer, or its sample of the job's `fit_sample`
    /// (the deliver steps score every customer).
    pub scored: usize,
    pub model: Option<String>,
}

/// Segments delivering at once: as many as the account's send rate keeps busy, at least
/// one, at most `segments`.
pub fn deliver_concurrency(rate: Option<f64>, segments: u32) -> u32 {
    let segments = segments.max(1);
    match rate.filter(|r| r.is_finite() && *r > 0.0) {
        Some(rate) => ((rate / MAILS_PER_SEGMENT_SECOND).ceil() as u32).clamp(1, segments),
        None => segments,
    }
}

/// The steps of runs by segments over one store, sender and artifact store.
pub struct Segmented<S, M, A> {
    pub store: S,
    pub sender: Arc<M>,
    pub artifacts: A,
    /// The deployment's settings (the program's are applied per run).
    pub settings: RunSettings,
    pub currency: Currency,
    /// Mails the merchant the link to each run's report; `None`: no address is set.
    pub report_mail: Option<Arc<dyn AlertSender>>,
}

impl<S, M, A> Segmented<S, M, A>
where
    S: JobStore + ProgramReadStore + ProgramStatsStore + Clone + 'static,
    M: MessageSender + 'static,
    A: ArtifactStore,
{
    async fn load<T: DeserializeOwned>(&self, key: &str) -> anyhow::Result<Option<T>> {
        match self.artifacts.get(key).await? {
            Some(body) => Ok(Some(
                serde_json::from_slice(&body).with_context(|| format!("reading {key}"))?,
            )),
            None => Ok(None),
        }
    }

    async fn save<T: Serialize>(&self, key: &str, value: &T) -> anyhow::Result<()> {
        let body = serde_json::to_vec(value)?;
        self.artifacts.put(key, body, "application/json").await?;
        Ok(())
    }

    async fn plan_of(&self, run: &RunRef) -> anyhow::Result<Plan> {
        let key = run.key("plan.json")?;
        self.load(&key)
            .await?
            .with_context(|| format!("run {} has no plan", run.run_id))
    }

    /// Refuses a step that names another segment count than the run's plan.
    pub(super) async fn check_of(&self, run: &RunRef, of: u32) -> anyhow::Result<()> {
        let plan = self.plan_of(run).await?;
        if plan.of != of {
            bail!(
                "run {} is planned in {} segments, not {of}",
                run.run_id,
                plan.of
            );
        }
        Ok(())
    }

    fn settings_of(&self, plan: &Plan) -> RunSettings {
        self.settings.under(plan.program.as_ref())
    }

    /// Fixes the run's segments (`segments`, or the settings' scan segments), the
    /// program it decides under and each delivering segment's pace (`pacing` is the
    /// pace of one sender alone: the account's share of a run).
    pub async fn plan(
        &self,
        run: &RunRef,
        segments: Option<u32>,
        pacing: Pacing,
    ) -> anyhow::Result<PlanAnswer> {
        let key = run.key("plan.json")?;
        let plan = match self.load::<Plan>(&key).await? {
            Some(plan) => plan,
            None => {
                let of = segments.unwrap_or(self.settings.job.scan_segments);
                if !(1..=MAX_SEGMENTS).contains(&of) {
                    bail!("segments must be between 1 and {MAX_SEGMENTS}, not {of}");
                }
                let concurrency = deliver_concurrency(pacing.rate, of);
                // A record that does not read is no record: the segments then keep up
                // to the sample's size each, as on a first run.
                let last = self
                    .load::<ShopBuyers>(SHOP_BUYERS_KEY)
                    .await
                    .ok()
                    .flatten();
                let plan = Plan {
                    of,
                    deliver_concurrency: concurrency,
                    pacing: pacing.shared_by(concurrency),
                    program: self.store.current_program().await?,
                    fit_below: buyers::threshold(
                        self.settings.job.fit_sample,
                        last.map(|l| l.buyers),
                    ),
                };
                self.save(&key, &plan).await?;
                plan
            }
        };
        Ok(PlanAnswer {
            run: run.clone(),
            segments: (0..plan.of).collect(),
            of: plan.of,
            deliver_concurrency: plan.deliver_concurrency,
        })
    }

    fn segment_key(run: &RunRef, phase: &str, segment: u32, plan: &Plan) -> anyhow::Result<String> {
        if segment >= plan.of {
            bail!("segment {segment} is not one of the run's {}", plan.of);
        }
        run.key(&format!("{phase}/{segment}-of-{}.json", plan.of))
    }

    /// Summarises segment `segment`: its customers' tiers, gifts and expiry brought up
    /// to date, and the digest the fit reads.
    pub async fn summarise(&self, run: &RunRef, segment: u32) -> anyhow::Result<SegmentAnswer> {
        let plan = self.plan_of(run).await?;
        let key = Self::segment_key(run, "digests", segment, &plan)?;
        let digest = match self.load::<Digest>(&key).await? {
            Some(digest) => digest,
            None => {
                let settings = self.settings_of(&plan);
                let started = Instant::now();
                let scanned = scan_segment(&self.store, segment, plan.of).await?;
                let version = plan.program.as_ref().map_or(0, |v| v.version);
                let (digest, _) = phases::summarise(
                    &self.store,
                    &settings,
                    version,
                    plan.fit_below,
                    scanned,
                    started,
                    run.started_at,
                )
                .await?;
                self.save(&key, &digest).await?;
                digest
            }
        };
        Ok(SegmentAnswer {
            segment,
            customers: digest.customers,
            sent: 0,
        })
    }

    /// Fits the models on every segment's digest (all must be there).
    pub async fn fit(&self, run: &RunRef) -> anyhow::Result<FitAnswer> {
        let plan = self.plan_of(run).await?;
        let key = run.key("model.json")?;
        let model = match self.load::<RunModel>(&key).await? {
            Some(model) => model,
            None => {
                let mut all: Option<Digest> = None;
                for segment in 0..plan.of {
                    let key = Self::segment_key(run, "digests", segment, &plan)?;
                    let digest: Digest = self
                        .load(&key)
                        .await?
                        .with_context(|| format!("segment {segment} is not summarised"))?;
                    match &mut all {
                        Some(all) => all.merge(digest),
                        None => all = Some(digest),
                    }
                }
                let digest = all.context("the run has no segments")?;
                let buyers = ShopBuyers {
                    buyers: digest.buyers.seen,
                };
                self.save(SHOP_BUYERS_KEY, &buyers).await?;
                let settings = self.settings_of(&plan);
                let version = plan.program.as_ref().map_or(0, |v| v.version);
                let model = phases::fit(
                    &self.store,
                    &settings,
                    version,
                    digest,
                    self.currency,
                    run.started_at,
                )
                .await;
                // The report's points (one per customer scored) only the report step
                // reads: every deliver step reads the models without them. Saved
                // first, so a stored model always has its points.
                let mut model = model;
                let points = std::mem::take(&mut model.overview.points);
                self.save(&run.key("points.json")?, &points).await?;
                self.save(&key, &model).await?;
                model
            }
        };
        Ok(FitAnswer {
            scored: model.overview.scored,
            model: model.summary.scoring_model,
        })
    }

    /// Scores, decides and delivers for segment `segment` with the run's models;
    /// `send_until` as in [`RunSettings`].
    pub async fn deliver(
        &self,
        run: &RunRef,
        segment: u32,
        send_until: Option<std::time::SystemTime>,
    ) -> anyhow::Result<SegmentAnswer> {
        let plan = self.plan_of(run).await?;
        let key = Self::segment_key(run, "outreach", segment, &plan)?;
        let outreach = match self.load::<Outreach>(&key).await? {
            Some(outreach) => outreach,
            None => {
                let model: RunModel = self
                    .load(&run.key("model.json")?)
                    .await?
                    .context("the run's models are not fitted")?;
                let settings = RunSettings {
                    send_until,
                    ..self.settings_of(&plan)
                };
                let mut scanned = scan_segment(&self.store, segment, plan.of).await?;
                let suppressed = std::mem::take(&mut scanned.suppressed);
                let sender = Paced::new(self.sender.clone(), plan.pacing);
                // A segment that found SES's quota used up stops the later ones too.
                let stopped_key = run.key("sending-stopped")?;
                let stopped = (self.artifacts.get(&stopped_key).await?)
                    .map(|reason| String::from_utf8_lossy(&reason).into_owned());
                let mut outreach = phases::deliver(
                    &self.store,
                    &sender,
                    &settings,
                    &model,
                    scanned.customers,
                    &suppressed,
                    stopped.clone(),
                    self.currency,
                    run.started_at,
                )
                .await?;
                if let Some(reason) = &outreach.summary.sending_stopped
                    && stopped.is_none()
                {
                    let body = reason.clone().into_bytes();
                    self.artifacts.put(&stopped_key, body, "text/plain").await?;
                }
                outreach.summary.items_read += scanned.read.items;
                outreach.summary.read_capacity_units += scanned.read.capacity_units;
                outreach.summary.pacing = settings.send.then_some(plan.pacing);
                self.save(&key, &outreach).await?;
                outreach
            }
        };
        let s = &outreach.summary;
        Ok(SegmentAnswer {
            segment,
            customers: s.actions.values().flat_map(|a| a.values()).sum(),
            sent: s.sent,
        })
    }

    /// The run's summary and report from its model and every segment's outreach (all
    /// must be there), stored as `reports/<run id>/summary.json` and `report.html`.
    pub async fn report(&self, run: &RunRef) -> anyhow::Result<Report> {
        let plan = self.plan_of(run).await?;
        let mut model: RunModel = self
            .load(&run.key("model.json")?)
            .await?
            .context("the run's models are not fitted")?;
        if let Some(points) = self.load(&run.key("points.json")?).await? {
            model.overview.points = points;
        }
        let mut parts = Vec::new();
        for segment in 0..plan.of {
            let key = Self::segment_key(run, "outreach", segment, &plan)?;
            let part: Outreach = self
                .load(&key)
                .await?
                .with_context(|| format!("segment {segment} is not delivered"))?;
            parts.push(part);
        }
        let settings = self.settings_of(&plan);
        let report = phases::report(model, parts, &settings, self.currency, run.started_at);
        let html = crate::report::render_html(&report)?;
        let id = run.id()?;
        self.save(&ReportFile::Summary.key(&id), &report.summary)
            .await?;
        (self.artifacts)
            .put(
                &ReportFile::Html.key(&id),
                html.into_bytes(),
                "text/html; charset=utf-8",
            )
            .await?;
        self.mail_link(&id, &report).await?;
        Ok(report)
    }

    /// Mails the merchant the link to run `run`'s stored report, once per run: a
    /// report step taken again finds the note it left and mails nothing (one that died
    /// between the mail and the note mails again). A mail SES refuses fails the step,
    /// so the state machine retries it and its history shows it.
    async fn mail_link(&self, run: &RunId, report: &Report) -> anyhow::Result<()> {
        let Some(mail) = &self.report_mail else {
            return Ok(());
        };
        let delivery = &self.settings.job.delivery;
        // A run that sends has both (`JobConfig::can_send`); a dry run may lack them.
        let Some(keys) = delivery
            .unsubscribe_keys
            .as_ref()
            .filter(|_| !delivery.public_base_url.is_empty())
        else {
            tracing::warn!(run = %run, "no report link mailed: it needs RAPPORT_PUBLIC_URL and the unsubscribe keys");
            return Ok(());
        };
        let mailed = ReportFile::Mailed.key(run);
        if self.artifacts.get(&mailed).await?.is_some() {
            return Ok(());
        }
        let link = report_link::link(
            &delivery.public_base_url,
            keys,
            run,
            Utc::now(),
            self.settings.job.report_link_days,
        );
        mail.send_notice(&report_notice(run, report, &link))
            .await
            .context("mailing the report's link")?;
        self.save(&mailed, &link.expires_at).await
    }
}

/// The mail that tells the merchant a run is done: what it did, and the link.
fn report_notice(run: &RunId, report: &Report, link: &report_link::ReportLink) -> MerchantNotice {
    let s = &report.summary;
    let mut text = format!(
        "The scheduled run {run} of {shop} finished at {at}.\n\n\
         Customers: {customers}, scored: {scored}\n\
         Messages sent: {sent}, held out for comparison: {held_out}, deferred: {deferred}\n\
         Errors: {errors}\n",
        shop = report.shop_name,
        at = report.generated_at.format("%Y-%m-%d %H:%M UTC"),
        customers = s.customers,
        scored = s.scored,
        sent = s.sent,
        held_out = s.held_out,
        deferred = s.deferred,
        errors = s.errors,
    );
    if let Some(why) = &s.sending_stopped {
        text.push_str(&format!(
            "Sending stopped: {why}. The rest waits for the next run.\n"
        ));
    }
    text.push_str(&format!(
        "\nThe report, with the scores, the model's backtest and the messages' results:\n{}\n\n\
         The link works until {}. GET /v1/admin/reports/{run} with an admin key gives the \
         summary and a new link.\n",
        link.url,
        link.expires_at.format("%Y-%m-%d %H:%M UTC"),
    ));
    MerchantNotice {
        subject: format!("{}: report of the run {run}", report.shop_name),
        text,
    }
}

impl<S, M, A> Segmented<S, M, A>
where
    S: JobStore + ProgramReadStore + ProgramStatsStore + Clone + 'static,
    M: MessageSender + 'static,
    A: ArtifactStore + 'static,
{
    /// Every step of run `run` in this process: the segments summarised in parallel
    /// tasks, then delivered as many at once as the plan says. Dropped, it ends its
    /// tasks with it, as a killed process would.
    pub async fn run_all(
        self: Arc<Self>,
        run: &RunRef,
        segments: Option<u32>,
        pacing: Pacing,
    ) -> anyhow::Result<Report> {
        let plan = self.plan(run, segments, pacing).await?;
        let summarise = |segment| {
            let (this, run) = (self.clone(), run.clone());
            async move { this.summarise(&run, segment).await }
        };
        each(&plan.segments, plan.of, summarise).await?;
        self.fit(run).await?;
        let deliver = |segment| {
            let (this, run) = (self.clone(), run.clone());
            async move { this.deliver(&run, segment, None).await }
        };
        each(&plan.segments, plan.deliver_concurrency, deliver).await?;
        self.report(run).await
    }
}

/// `step` for every one of `segments`, `concurrency` at once, each a task of its own;
/// the first error ends them all. Dropped, it aborts the tasks still running, as a
/// killed process would.
async fn each<F, Fut>(segments: &[u32], concurrency: u32, step: F) -> anyhow::Result<()>
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = anyhow::Result<SegmentAnswer>> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for &segment in segments {
        if tasks.len() >= concurrency.max(1) as usize
            && let Some(done) = tasks.join_next().await
        {
            done.context("a segment's task")??;
        }
        tasks.spawn(step(segment));
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a segment's task")??;
    }
    Ok(())
}
