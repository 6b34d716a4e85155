//! The scheduled job end to end against DynamoDB Local and the SES emulator: customers
//! with two years of history are scored, scores land in the profiles, the right
//! messages go out once — a re-run sends nothing new — and promotions reach only
//! customers who consented; a used-up SES quota stops the run's sending and says so.

use chrono::{Duration, Utc};
use futures::stream::{self, StreamExt};
use rapport_integration::{
    TestApi, config, emulator_sender, job_settings, load_test_turn, purchase,
};
use rapport_job::run::run;
use rapport_models::evaluate::ClvComparison;
use rapport_shared::domain::Currency;
use rapport_shared::domain::{LineItemInput, PurchaseInput, ReferralRules};
use rapport_shared::mail::{MessageSender, OutgoingMail, SendError};
use rapport_shared::service::record_purchase;
use rapport_shared::store::ScoreStore;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A small deterministic generator, so the data is the same on every run.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 240 customers with 1-12 orders each over two years; two thirds consented. The same
/// ids and history for every `tag`; the tag only goes into the addresses.
pub(crate) async fn seed(api: &TestApi, tag: &str, now: chrono::DateTime<Utc>) {
    let rules = config("unused", &[]).rules;
    let mut rng = Lcg(42);
    let mut events = Vec::new();
    for c in 0..240u64 {
        let orders = 1 + rng.below(if c % 4 == 0 { 12 } else { 3 });
        let start = 30 + rng.below(700) as i64;
        for o in 0..orders {
            let days_ago = (start - (o as i64) * (10 + rng.below(60) as i64)).max(1);
            let amount = 500 + rng.below(9_000) as i64;
            events.push(PurchaseInput {
                event_id: Some(format!("e-{c}-{o}")),
                kind: Some("purchase".into()),
                customer_id: Some(format!("c-{c}")),
                order_id: Some(format!("o-{c}-{o}")),
                occurred_at: Some((now - Duration::days(days_ago)).to_rfc3339()),
                currency: Some("USD".into()),
                total_minor: Some(amount),
                items: Some(vec![LineItemInput {
                    sku: Some("TEA".into()),
                    quantity: Some(1),
                    unit_price_minor: Some(amount),
                    name: None,
                }]),
                email: Some(format!("c{c}-{tag}@example.com")),
                marketing_consent: Some(c % 3 != 0),
                ..Default::default()
            });
        }
    }
    let store = &api.store;
    let results: Vec<_> = stream::iter(events.into_iter().map(|e| e.validate().unwrap()))
        .map(|e| {
            let rules = &rules;
            async move { record_purchase(store, rules, &ReferralRules::default(), &e, now).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
}

pub(crate) fn usd() -> Currency {
    Currency::parse("currency", "USD").unwrap()
}

/// (customer, subject) of every mail sent to this tag's addresses.
pub(crate) async fn sent(api: &TestApi, tag: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = api
        .mail_tagged(tag)
        .await
        .into_iter()
        .map(|m| {
            let to = m.to_addresses().concat();
            let customer = to.split('-').next().unwrap_or_default().to_owned();
            (customer, m.subject)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_job_scores_everyone_and_sends_each_message_once() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    seed(&api, &tag, now).await;
    let store = &api.store;
    let sender = emulator_sender(&api);
    let settings = job_settings(&api);
    let first = run(store, Arc::clone(&sender), &settings, usd(), now)
        .await
        .unwrap()
        .summary;
    assert_eq!(first.customers, 240);
    assert_eq!(first.scored, 240, "{:?}", first.scoring_skipped);
    assert!(first.sent > 0, "{first:?}");
    assert!(first.pareto_revenue_share.unwrap() > 0.2);
    // Settling tiers, gifts and expiry is timed apart from the scan and the outreach.
    assert!(first.seconds_settle > 0.0, "{first:?}");
    assert_eq!(first.fit_sample, None, "240 buyers are within the sample");

    let mails = api.mail_tagged(&tag).await;
    assert_eq!(mails.len(), first.sent);
    // Every customer got at most one message.
    let recipients: BTreeSet<String> = mails.iter().flat_map(|m| m.to_addresses()).collect();
    assert_eq!(recipients.len(), mails.len());

    // Scores are visible in the profile.
    let p = api.get("/v1/customers/c-4").await;
    let scores = &p.body["scores"];
    assert!(
        scores["clv_minor"].is_i64() && scores["segment"].is_string(),
        "{p:?}"
    );

    // A second run the same day sends nothing new, and writes no state: every stored
    // one already says what it found.
    assert_eq!(first.states_unchanged, 0, "first states are all written");
    let second = run(
        store,
        sender.clone(),
        &settings,
        usd(),
        now + Duration::minutes(5),
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(second.sent, 0, "{second:?}");
    assert_eq!(api.mail_tagged(&tag).await.len(), first.sent);
    assert_eq!(second.states_unchanged, 240, "{second:?}");
    // A day on, every customer's scores are written again.
    let later = now + Duration::hours(25);
    let third = run(store, sender, &settings, usd(), later)
        .await
        .unwrap()
        .summary;
    assert_eq!(third.states_unchanged, 0, "{third:?}");
    let p = api.get("/v1/customers/c-4").await;
    let scored_at: chrono::DateTime<Utc> = p.body["scores"]["scored_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (scored_at - later).num_milliseconds().abs() < 1000,
        "{scored_at}"
    );
}

/// The backtest over the last churn window picks the count model: with enough history
/// the run scores with its `chosen` candidate, says so in the summary and with every
/// score, and the report shows the candidates side by side and the chosen model's
/// calibration by decile.
#[tokio::test]
async fn the_job_scores_with_the_model_its_backtest_chose_and_reports_why() {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    seed(&api, &tag, now).await;
    let settings = job_settings(&api);
    let report = run(&api.store, emulator_sender(&api), &settings, usd(), now)
        .await
        .unwrap();
    let summary = &report.summary;
    let backtest = report
        .backtest
        .as_ref()
        .expect("the shop has two years of history");
    // The shop is large enough for the choice to count (see the job's model phase).
    assert!(
        backtest.customers >= 100 && backtest.holdout.actual_repeat_purchases >= 20,
        "{} customers, {} holdout purchases",
        backtest.customers,
        backtest.holdout.actual_repeat_purchases
    );
    // The backtest's choice, one of the models a shop can be scored with; the default
    // unless that choice leads it clearly.
    let with_counts = rapport_models::CountModelKind::ALL.map(|kind| kind.as_str());
    let best = backtest.clv_metrics.chosen;
    assert!(with_counts.contains(&best), "{best}");
    let gini = |name: &str| backtest.clv_metrics.entries[name].normalized_gini.unwrap();
    let lead = gini(best) - gini("bgnbd_churn");
    let lead_se = (backtest.clv_metrics.chosen_lead.get("bgnbd_churn")).map_or(0.0, |l| {
        assert!((l.gini - lead).abs() < 1e-9, "{l:?} against {lead}");
        l.gini_se
    });
    let clear = lead >= rapport_job::run::CHOICE_MARGIN
        && lead >= rapport_models::shop::LEAD_STANDARD_ERRORS * lead_se;
    let chosen = if clear { best } else { "bgnbd_churn" };
    assert_eq!(
        summary.scoring_model.as_deref(),
        Some(chosen),
        "{summary:?}"
    );
    let reason = summary.scoring_model_reason.as_deref().unwrap_or_default();
    if chosen == best {
        assert!(reason.starts_with("chosen by the backtest"), "{reason}");
    } else {
        assert!(reason.contains(&format!("{best} ranked")), "{reason}");
    }
    // No candidate with counts as accurate as the best count model ranks better.
    let floor = (backtest.clv_metrics.entries.iter())
        .filter(|(name, _)| ClvComparison::COUNT_MODELS.contains(name))
        .map(|(_, m)| m.rmse)
        .fold(f64::INFINITY, f64::min);
    for (name, m) in &backtest.clv_metrics.entries {
        if with_counts.contains(name) && m.rmse <= floor {
            assert!(m.normalized_gini.unwrap() <= gini(best), "{name}");
        }
    }
    assert_eq!(backtest.chosen_deciles.len(), 10);

    let profile = api.get("/v1/customers/c-4").await;
    let version = profile.body["scores"]["model_version"]
        .as_str()
        .unwrap_or_default();
    assert!(version.ends_with(&format!(" {chosen}")), "{profile:?}");
    // The next order is expected after the run, and an order within the horizon is a
    // probability.
    let next = profile.body["scores"]["next_order_on"]
        .as_str()
        .unwrap_or_default();
    assert!(next > now.date_naive().to_string().as_str(), "{profile:?}");
    let p = profile.body["scores"]["p_order_in_horizon"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&p), "{p}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["summary"]["scoring_model"], chosen);
    assert!(json["backtest"]["chosen_deciles"].is_array());
    let html = rapport_job::report::render_html(&report).unwrap();
    assert!(
        html.contains("Holdout spend by forecast decile"),
        "no decile chart"
    );
    assert!(html.contains("Which model forecasts spend best"));
    for name in ["bgnbd_churn", "mbgnbd", "last_period", "zero_forecast"] {
        assert!(html.contains(&format!("<td>{name}")), "no {name} row");
    }
}

/// Kills of the job at random points before the run that resumes it.
const KILLS: usize = 20;

#[tokio::test]
async fn a_run_killed_at_random_points_then_resumed_sends_each_due_message_exactly_once() {
    let _load_test = load_test_turn().await;
    let now = Utc::now();
    // The same shop twice: one run straight through, one killed and resumed.
    let reference = TestApi::start().await;
    let crashed = TestApi::start().await;
    let (tag_ref, tag) = (
        uuid::Uuid::new_v4().simple().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    seed(&reference, &tag_ref, now).await;
    seed(&crashed, &tag, now).await;

    let started = std::time::Instant::now();
    let straight = run(
        &reference.store,
        emulator_sender(&reference),
        &job_settings(&reference),
        usd(),
        now,
    )
    .await
    .unwrap()
    .summary;
    let full_run = started.elapsed();
    assert!(straight.sent > 20, "{straight:?}");

    let seed_value = now.timestamp_subsec_nanos() as u64;
    let mut rng = Lcg(seed_value);
    let mut killed = 0;
    for kill in 0..KILLS {
        let store = crashed.store.clone();
        let sender = emulator_sender(&crashed);
        let settings = job_settings(&crashed);
        let job = tokio::spawn(async move { run(&store, sender, &settings, usd(), now).await });
        // Later runs have less left to do, so the window shrinks with each kill; most
        // runs are then cut while they still have mail to send.
        let window = 0.6 * 0.88f64.powi(kill as i32);
        let at = full_run.mul_f64(window * rng.below(1000) as f64 / 1000.0);
        let was_running = kill_after(job, at).await;
        killed += usize::from(was_running);
        eprintln!(
            "kill {kill} (seed {seed_value}) after {at:?}: killed while running: {was_running}"
        );
    }
    eprintln!("{killed} of {KILLS} runs killed before they finished");
    assert!(
        killed >= KILLS / 2,
        "seed {seed_value}: only {killed} of {KILLS} runs were killed before they finished"
    );
    // Claims the killed runs left `sending` are in doubt once their lease is over; the
    // delivery log tells which reached the provider.
    let later = now + Duration::minutes(31);
    let resumed = run(
        &crashed.store,
        emulator_sender(&crashed),
        &job_settings(&crashed),
        usd(),
        later,
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(resumed.errors + resumed.failed, 0, "{resumed:?}");

    let expected = sent(&reference, &tag_ref).await;
    let got = sent(&crashed, &tag).await;
    assert_eq!(expected.len(), straight.sent);
    assert_eq!(
        got, expected,
        "seed {seed_value}: the resumed shop must get exactly the mail of the straight run"
    );
    // And nothing is left in doubt.
    let again = run(
        &crashed.store,
        emulator_sender(&crashed),
        &job_settings(&crashed),
        usd(),
        later + Duration::minutes(31),
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(again.sent, 0, "{again:?}");
    assert_eq!(sent(&crashed, &tag).await, expected);
}

/// Lets `job` run for `at`, then kills it: whether it was still running.
pub(crate) async fn kill_after<T>(
    job: tokio::task::JoinHandle<T>,
    at: std::time::Duration,
) -> bool {
    tokio::time::sleep(at).await;
    job.abort();
    job.await.is_err()
}

/// A sender that takes `quota` messages, then answers as SES does once the account's
/// daily quota is used up.
pub(crate) struct DailyQuota {
    quota: usize,
    calls: std::sync::atomic::AtomicUsize,
}

impl DailyQuota {
    pub(crate) fn new(quota: usize) -> Arc<Self> {
        Arc::new(Self {
            quota,
            calls: Default::default(),
        })
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl MessageSender for DailyQuota {
    async fn send(&self, _: &OutgoingMail) -> Result<String, SendError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.quota {
            Ok(format!("fake-{n}"))
        } else {
            Err(SendError::from_ses(
                Some("Throttling"),
                Some("Daily message quota exceeded."),
            ))
        }
    }
}

/// A shop where six customers reach silver at once, so a tier-change notice is due for
/// each; the addresses carry the returned tag.
async fn six_notices_due() -> (TestApi, String) {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    for c in 0..6 {
        let mut order = purchase(&format!("p-{c}"), &format!("c-{c}"), "o-1", 60_000);
        order["email"] = format!("c{c}-{tag}@example.com").into();
        assert_eq!(api.post("/v1/events/purchase", &order).await.status, 200);
    }
    (api, tag)
}

#[tokio::test]
async fn a_used_up_daily_quota_stops_sending_for_the_run_and_the_summary_says_so() {
    let (api, _) = six_notices_due().await;
    let mut settings = job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    // One customer after another, so the count of sends is exact.
    settings.job.send_concurrency = 1;
    let now = Utc::now();
    let sender = DailyQuota::new(2);
    let report = run(&api.store, Arc::clone(&sender), &settings, usd(), now)
        .await
        .unwrap();
    let s = &report.summary;
    assert_eq!(
        (s.sent, s.stopped, s.failed, s.errors),
        (2, 4, 0, 0),
        "{s:?}"
    );
    assert_eq!(sender.calls(), 3, "no retry, and no send after the refusal");
    let reason = s.sending_stopped.as_deref().unwrap_or_default();
    assert!(reason.contains("Daily message quota exceeded"), "{s:?}");
    let html = rapport_job::report::render_html(&report).unwrap();
    assert!(
        html.contains("SES stopped taking mail during this run"),
        "{html}"
    );
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["stopped"], 4);
    assert!(json["sending_stopped"].is_string());

    // With a new day's quota the next run sends what was left, once.
    let next = run(
        &api.store,
        DailyQuota::new(100),
        &settings,
        usd(),
        now + Duration::hours(1),
    )
    .await
    .unwrap()
    .summary;
    assert_eq!((next.sent, next.stopped), (4, 0), "{next:?}");
    assert_eq!(next.sending_stopped, None);
}

/// A shop open ten days, nobody back yet: too young for the churn classifier's time
/// split and for a BG/NBD fit, it is still scored and the summary says what stood in.
#[tokio::test]
async fn a_young_shop_is_scored_and_told_what_stood_in_for_the_models() {
    let api = TestApi::start().await;
    let now = Utc::now();
    let mut rng = Lcg(7);
    for c in 0..40u64 {
        let days_ago = 6 + rng.below(5) as i64;
        let amount = 500 + rng.below(5_000) as i64;
        let mut body = purchase(
            &format!("y-{c}"),
            &format!("y-{c}"),
            &format!("yo-{c}"),
            amount,
        );
        body["occurred_at"] = (now - Duration::days(days_ago)).to_rfc3339().into();
        let reply = api.post("/v1/events/purchase", &body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let summary = run(
        &api.store,
        emulator_sender(&api),
        &job_settings(&api),
        usd(),
        now,
    )
    .await
    .unwrap()
    .summary;
    assert_eq!(summary.scoring_skipped, None);
    assert_eq!(summary.scored, 40);
    assert!(
        summary
            .scoring_fallbacks
            .iter()
            .any(|f| f.starts_with("churn classifier not trained")),
        "{:?}",
        summary.scoring_fallbacks
    );
    assert!(
        summary
            .scoring_fallbacks
            .iter()
            .any(|f| f.starts_with("BG/NBD: ")),
        "{:?}",
        summary.scoring_fallbacks
    );
    // Too young for a backtest to choose by: the default model, and the summary says so.
    assert_eq!(summary.scoring_model.as_deref(), Some("bgnbd_churn"));
    let reason = summary.scoring_model_reason.as_deref().unwrap_or_default();
    assert!(reason.starts_with("default: "), "{reason}");
    let profile = api.get("/v1/customers/y-3").await;
    let risk = profile.body["scores"]["churn_risk"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&risk), "{risk}");
}

/// A sender that passes the first `passing` messages to the emulator, then never
/// answers: a run stuck there is as good as killed.
struct Stalling {
    inner: Arc<rapport_local::ses::EmulatorSender>,
    passing: usize,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl MessageSender for Stalling {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, SendError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.passing {
            self.inner.send(mail).await
        } else {
            std::future::pending().await
        }
    }
}

/// Every customer's job state: (customer, whether it holds scores, the messages its
/// history says were sent — held-out ones aside).
async fn job_states(api: &TestApi) -> Vec<(String, bool, usize)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = api.store.scan_customers(0, 1, cursor).await.unwrap();
        out.extend(page.customers.into_iter().filter_map(|c| {
            let job = c.job?;
            let sent = job.messages.iter().filter(|m| !m.held_out).count();
            Some((
                c.profile.customer_id.to_string(),
                job.scores.is_some(),
                sent,
            ))
        }));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_run_killed_mid_outreach_has_written_back_every_batch_it_finished() {
    let _load_test = load_test_turn().await;
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let now = Utc::now();
    seed(&api, &tag, now).await;
    let mut settings = job_settings(&api);
    // One customer after another, in batches of 8: the write-back is exact.
    settings.job.send_concurrency = 1;
    settings.job.write_batch = 8;
    let passing = 20;
    let sender = Arc::new(Stalling {
        inner: emulator_sender(&api),
        passing,
        calls: Default::default(),
    });
    let job = {
        let (store, sender, settings) = (api.store.clone(), Arc::clone(&sender), settings.clone());
        tokio::spawn(async move { run(&store, sender, &settings, usd(), now).await })
    };
    let waited = std::time::Instant::now();
    while sender.calls.load(std::sync::atomic::Ordering::SeqCst) <= passing {
        assert!(!job.is_finished(), "the run ended before it stalled");
        assert!(waited.elapsed().as_secs() < 300, "the run never stalled");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    job.abort();
    assert!(job.await.is_err(), "the run was killed");
    assert_eq!(sent(&api, &tag).await.len(), passing);

    // Whole batches were written, each with its scores and what it sent; only the
    // batch in progress (at most 7 customers before the stuck one) is not.
    let states = job_states(&api).await;
    assert!(
        !states.is_empty() && states.len() % 8 == 0,
        "{}",
        states.len()
    );
    assert!(states.iter().all(|(_, scored, _)| *scored));
    let recorded: usize = states.iter().map(|(_, _, sent)| sent).sum();
    assert!(
        (passing - 7..=passing).contains(&recorded),
        "{recorded} of {passing} sends in the written history"
    );

    // Once the stuck claim is in doubt, the next run finishes the work: every customer
    // scored once, and every message sent in the history of the customer who got it.
    let later = now + Duration::minutes(31);
    let resumed = run(&api.store, emulator_sender(&api), &settings, usd(), later)
        .await
        .unwrap()
        .summary;
    assert_eq!(resumed.errors + resumed.failed, 0, "{resumed:?}");
    let mails = sent(&api, &tag).await;
    let recipients: BTreeSet<&String> = mails.iter().map(|(c, _)| c).collect();
    assert_eq!(recipients.len(), mails.len(), "one message per customer");
    let states = job_states(&api).await;
    assert_eq!(states.len(), 240);
    assert!(states.iter().all(|(_, scored, sent)| *scored && *sent <= 1));
    let recorded: usize = states.iter().map(|(_, _, sent)| sent).sum();
    assert_eq!(recorded, mails.len());
}

/// A run paced to an account with three messages left of its daily quota sends three,
/// then stops as if SES had refused the fourth — without asking it.
#[tokio::test]
async fn a_run_paced_to_the_quota_left_sends_that_many_and_stops() {
    use rapport_shared::mail::pace::{Paced, Pacing, SendQuota};
    let (api, tag) = six_notices_due().await;
    let mut settings = job_settings(&api);
    settings.job.rules.holdout_pct = 0;
    let quota = SendQuota {
        max_send_rate: 50.0,
        max_24_hour_send: 200.0,
        sent_last_24_hours: 197.0,
        sending_enabled: true,
    };
    let pacing = Pacing::from_quota(quota, 1.0, None, 1);
    let sender = Arc::new(Paced::new(emulator_sender(&api), pacing));
    let s = run(&api.store, sender, &settings, usd(), Utc::now())
        .await
        .unwrap()
        .summary;
    assert_eq!((s.sent, s.stopped, s.errors), (3, 3, 0), "{s:?}");
    assert_eq!(sent(&api, &tag).await.len(), 3);
    let why = s.sending_stopped.unwrap_or_default();
    assert!(why.contains("daily quota"), "{why}");
}
