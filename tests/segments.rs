//! The run by segments — the steps the state machine takes (plan, summarise each
//! segment, fit, deliver to each segment, report) — against DynamoDB Local and the SES
//! emulator: it scores, decides and sends what the run in one process does on the same
//! shop; a step taken twice changes nothing; a run killed at random points across its
//! steps and started again under the same id finishes what is missing, sending every
//! due message exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rapport_integration::{TestApi, emulator_sender, job_settings, load_test_turn};
use rapport_job::run::segments::{RunRef, Segmented};
use rapport_job::run::steps::Step;
use rapport_job::run::{run, scan_all};
use rapport_local::ses::EmulatorSender;
use rapport_shared::mail::SendError;
use rapport_shared::mail::pace::{Pacing, QuotaSource, SendQuota};
use rapport_shared::store::{DynamoStore, MemoryArtifacts};
use serde_json::json;

use crate::job::{DailyQuota, Lcg, kill_after, seed, sent, usd};

type Steps = Segmented<DynamoStore, EmulatorSender, MemoryArtifacts>;

fn steps(api: &TestApi, artifacts: MemoryArtifacts) -> Arc<Steps> {
    Arc::new(Segmented {
        store: api.store.clone(),
        sender: emulator_sender(api),
        artifacts,
        settings: job_settings(api),
        currency: usd(),
        report_mail: None,
    })
}

fn run_ref(id: &str, now: DateTime<Utc>) -> RunRef {
    RunRef {
        run_id: id.to_owned(),
        started_at: now,
    }
}

/// An account that may send 25 a second and 50,000 a day.
struct Account;

#[async_trait::async_trait]
impl QuotaSource for Account {
    async fn send_quota(&self) -> Result<SendQuota, SendError> {
        Ok(SendQuota {
            max_send_rate: 25.0,
            max_24_hour_send: 50_000.0,
            sent_last_24_hours: 0.0,
            sending_enabled: true,
        })
    }
}

/// Every customer's scores as the store holds them: CLV, segment, churn risk, P(alive),
/// next order, and when they were scored.
async fn scores(api: &TestApi) -> BTreeMap<String, String> {
    let scanned = scan_all(&api.store, 1).await.unwrap();
    scanned
        .customers
        .into_iter()
        .filter_map(|c| {
            let s = c.job?.scores?;
            Some((
                c.profile.customer_id.to_string(),
                format!(
                    "{} {} {} {} {:?} {}",
                    s.clv_minor, s.segment, s.churn_risk, s.p_alive, s.next_order_on, s.scored_at
                ),
            ))
        })
        .collect()
}

/// A store seeded with the same shop as every other (see `seed`), and the tag of its
/// customers' addresses.
async fn twin(now: DateTime<Utc>) -> (TestApi, String) {
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    seed(&api, &tag, now).await;
    (api, tag)
}

/// The run in one process on `api`'s store, mailing through its SES emulator.
async fn in_one_process(
    api: &TestApi,
    settings: &rapport_job::run::RunSettings,
    now: DateTime<Utc>,
) -> rapport_job::summary::Report {
    run(&api.store, emulator_sender(api), settings, usd(), now)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_run_by_segments_scores_and_sends_what_the_run_in_one_process_does() {
    let now = Utc::now();
    let [(one, tag_one), (split, tag_split)] = [twin(now).await, twin(now).await];

    let whole = in_one_process(&one, &job_settings(&one), now).await;
    let artifacts = MemoryArtifacts::default();
    let parts = steps(&split, artifacts.clone())
        .run_all(&run_ref("by-four", now), Some(4), Pacing::UNPACED)
        .await
        .unwrap();

    let (w, p) = (&whole.summary, &parts.summary);
    assert!(w.sent > 20, "{w:?}");
    assert_eq!(
        (p.customers, p.scored, p.sent, p.held_out, p.deferred),
        (w.customers, w.scored, w.sent, w.held_out, w.deferred)
    );
    assert_eq!(p.suppressed, w.suppressed);
    assert_eq!(p.actions, w.actions);
    assert_eq!(p.scoring_model, w.scoring_model);
    assert_eq!(p.scoring_model_reason, w.scoring_model_reason);
    assert_eq!(p.pareto_revenue_share, w.pareto_revenue_share);
    assert_eq!(p.program_stats, w.program_stats);
    assert_eq!(parts.control, whole.control);
    assert_eq!(parts.customers, {
        let mut points = whole.customers.clone();
        points.sort_by(|a, b| a.clv.total_cmp(&b.clv));
        let mut mine = parts.customers.clone();
        mine.sort_by(|a, b| a.clv.total_cmp(&b.clv));
        assert_eq!(mine, points);
        parts.customers.clone()
    });
    let chosen = |r: &rapport_job::summary::Report| {
        r.backtest
            .as_ref()
            .map(|b| (b.clv_metrics.chosen, b.customers))
    };
    assert_eq!(chosen(&parts), chosen(&whole));
    // The same scores for every customer, and the same mail to each.
    let (s_one, s_split) = (scores(&one).await, scores(&split).await);
    assert_eq!(s_split.len(), 240);
    assert_eq!(s_split, s_one);
    assert_eq!(sent(&split, &tag_split).await, sent(&one, &tag_one).await);
    // What each step left, and the report.
    let keys = artifacts.keys();
    for key in [
        "runs/by-four/plan.json",
        "runs/by-four/digests/3-of-4.json",
        "runs/by-four/model.json",
        "runs/by-four/outreach/0-of-4.json",
        "reports/by-four/summary.json",
        "reports/by-four/report.html",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} in {keys:?}");
    }
}

#[tokio::test]
async fn a_shop_beyond_the_fit_sample_is_fitted_on_the_same_sample_however_split_and_every_customer_is_scored()
 {
    let now = Utc::now();
    let [(one, tag_one), (split, tag_split)] = [twin(now).await, twin(now).await];
    // A sample of half the 240 buyers.
    let sampled = |api: &TestApi| {
        let mut settings = job_settings(api);
        settings.job.fit_sample = 120;
        settings
    };
    let whole = in_one_process(&one, &sampled(&one), now).await;
    let artifacts = MemoryArtifacts::default();
    let mut steps = steps(&split, artifacts.clone());
    Arc::get_mut(&mut steps).unwrap().settings = sampled(&split);
    let parts = (steps.clone())
        .run_all(&run_ref("sampled-by-five", now), Some(5), Pacing::UNPACED)
        .await
        .unwrap();

    let (w, p) = (&whole.summary, &parts.summary);
    let drawn = rapport_job::summary::FitSample {
        buyers: 120,
        of: 240,
    };
    assert_eq!((w.fit_sample, p.fit_sample), (Some(drawn), Some(drawn)));
    // Every customer is scored and decided for, not only the sample.
    assert_eq!((w.scored, p.scored), (240, 240), "{:?}", w.scoring_skipped);
    let (s_one, s_split) = (scores(&one).await, scores(&split).await);
    assert_eq!(s_split.len(), 240);
    assert_eq!(s_split, s_one);
    assert_eq!(p.actions, w.actions);
    assert_eq!(p.pareto_revenue_share, w.pareto_revenue_share);
    assert_eq!(sent(&split, &tag_split).await, sent(&one, &tag_one).await);
    // The fit, its backtest and the report's points are the sample's.
    assert_eq!(parts.customers.len(), 120);
    assert_eq!(whole.customers.len(), 120);
    let backtested = |r: &rapport_job::summary::Report| r.backtest.as_ref().map(|b| b.customers);
    assert_eq!(backtested(&parts), backtested(&whole));
    assert!(backtested(&whole).is_some_and(|n| n <= 120));
    // The model is not the one every buyer gives: the sample is what it was fitted on.
    let everyone = in_one_process(&one, &job_settings(&one), now).await;
    assert_eq!(everyone.summary.fit_sample, None);
    assert_eq!(everyone.customers.len(), 240);

    // The fit left the shop's buyer count, so the next run's plan sets a hash below
    // which its segments keep buyers (1.5 × 120 of 240): they store fewer, and the
    // sample, the models and the scores are the same.
    let json = |bytes: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
    let record = json(artifacts_get(&artifacts, "runs/shop-buyers.json").await);
    assert_eq!(record["buyers"], 240);
    let kept = |run: &'static str| {
        let artifacts = artifacts.clone();
        async move {
            let mut kept = 0;
            for segment in 0..5 {
                let key = format!("runs/{run}/digests/{segment}-of-5.json");
                let digest = json(artifacts_get(&artifacts, &key).await);
                kept += digest["buyers"]["buyers"].as_array().unwrap().len();
            }
            kept
        }
    };
    let again = steps
        .run_all(&run_ref("sampled-again", now), Some(5), Pacing::UNPACED)
        .await
        .unwrap();
    let plan = json(artifacts_get(&artifacts, "runs/sampled-again/plan.json").await);
    assert!(plan["fit_below"].is_u64(), "{plan}");
    assert!(
        json(artifacts_get(&artifacts, "runs/sampled-by-five/plan.json").await)
            .get("fit_below")
            .is_none()
    );
    let (first, next) = (kept("sampled-by-five").await, kept("sampled-again").await);
    assert_eq!(first, 240);
    assert!((120..240).contains(&next), "{next} kept");
    assert_eq!(again.summary.fit_sample, Some(drawn));
    assert_eq!(again.customers, parts.customers);
    assert_eq!(scores(&split).await, s_split);
}

#[tokio::test]
async fn each_step_taken_twice_changes_nothing_and_a_run_started_again_finishes_what_is_missing() {
    let now = Utc::now();
    let api = TestApi::start().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    seed(&api, &tag, now).await;
    let artifacts = MemoryArtifacts::default();
    let steps = steps(&api, artifacts.clone());
    let run = run_ref("twice", now);
    let take = |step: Value| {
        let steps = steps.clone();
        async move {
            let step = Step::of_event(&step).unwrap().unwrap();
            steps.take(step, &Account, None).await
        }
    };
    use serde_json::Value;
    let r = json!({"run_id": "twice", "started_at": now});

    // 25/s at a 0.9 share keeps three delivering segments busy at 10/s each.
    let plan = take(json!({"phase": "plan", "run": r, "input": {"segments": 4}}))
        .await
        .unwrap();
    assert_eq!(plan["segments"], json!([0, 1, 2, 3]));
    assert_eq!(plan["deliver_concurrency"], 3);
    // Planned again (a retry) with other input: the run keeps its plan.
    let again = take(json!({"phase": "plan", "run": r, "input": {"segments": 9}}))
        .await
        .unwrap();
    assert_eq!(again, plan);
    for segment in 0..4 {
        let first = take(json!({"phase": "summarise", "run": r, "segment": segment, "of": 4}))
            .await
            .unwrap();
        let second = take(json!({"phase": "summarise", "run": r, "segment": segment, "of": 4}))
            .await
            .unwrap();
        assert_eq!(first, second);
    }
    // A step that names another segment count than the plan is refused.
    let wrong = take(json!({"phase": "fit", "run": r, "of": 3})).await;
    assert!(
        wrong
            .unwrap_err()
            .to_string()
            .contains("planned in 4 segments, not 3")
    );
    let fit = take(json!({"phase": "fit", "run": r, "of": 4}))
        .await
        .unwrap();
    assert_eq!(fit["scored"], 240);
    assert_eq!(
        take(json!({"phase": "fit", "run": r, "of": 4}))
            .await
            .unwrap(),
        fit
    );
    // Two segments delivered, one twice; then the run "stops".
    let d0 = take(json!({"phase": "deliver", "run": r, "segment": 0, "of": 4}))
        .await
        .unwrap();
    let sent_after_one = sent(&api, &tag).await.len();
    assert_eq!(sent_after_one, d0["sent"].as_u64().unwrap() as usize);
    let d0_again = take(json!({"phase": "deliver", "run": r, "segment": 0, "of": 4}))
        .await
        .unwrap();
    assert_eq!(d0_again, d0);
    assert_eq!(sent(&api, &tag).await.len(), sent_after_one);
    take(json!({"phase": "deliver", "run": r, "segment": 1, "of": 4}))
        .await
        .unwrap();
    // The report waits for every segment.
    let early = take(json!({"phase": "report", "run": r, "of": 4})).await;
    assert!(
        early
            .unwrap_err()
            .to_string()
            .contains("segment 2 is not delivered")
    );

    // Started again under the same id: only segments 2 and 3 are delivered now.
    let report = steps
        .clone()
        .run_all(&run, Some(4), Pacing::UNPACED)
        .await
        .unwrap();
    let mails = sent(&api, &tag).await;
    assert_eq!(mails.len(), report.summary.sent);
    let recipients: std::collections::BTreeSet<_> = mails.iter().map(|m| &m.0).collect();
    assert_eq!(recipients.len(), mails.len(), "at most one message each");
    assert_eq!(report.summary.already_done, 0, "{:?}", report.summary);
    // The report step's answer is the summary, stored with the report.
    let summary = take(json!({"phase": "report", "run": r, "of": 4}))
        .await
        .unwrap();
    assert_eq!(summary["sent"], report.summary.sent);
    let stored: Value =
        serde_json::from_slice(&artifacts_get(&artifacts, "reports/twice/summary.json").await)
            .unwrap();
    assert_eq!(stored, summary);
    let html = artifacts_get(&artifacts, "reports/twice/report.html").await;
    assert!(String::from_utf8(html).unwrap().contains("<html"));
    // The deliver steps read the models without the report's points, one per customer
    // scored, which only the report step reads.
    let model: Value =
        serde_json::from_slice(&artifacts_get(&artifacts, "runs/twice/model.json").await).unwrap();
    assert_eq!(model["overview"]["points"], json!([]));
    let points: Vec<Value> =
        serde_json::from_slice(&artifacts_get(&artifacts, "runs/twice/points.json").await).unwrap();
    assert_eq!(points.len(), report.summary.scored);
    assert_eq!(report.customers.len(), report.summary.scored);
    // A run id that could name other objects is refused.
    let bad = take(json!({"phase": "plan", "run": {"run_id": "../x", "started_at": now}}));
    assert!(bad.await.unwrap_err().to_string().contains("run_id: "));
}

async fn artifacts_get(artifacts: &MemoryArtifacts, key: &str) -> Vec<u8> {
    use rapport_shared::store::ArtifactStore;
    artifacts.get(key).await.unwrap().unwrap()
}

/// How many kills the test makes.
const KILLS: usize = 6;

#[tokio::test]
async fn a_run_by_segments_killed_at_random_points_across_its_steps_sends_each_due_message_exactly_once()
 {
    let _load_test = load_test_turn().await;
    let now = Utc::now();
    let (reference, crashed) = (TestApi::start().await, TestApi::start().await);
    let (tag_ref, tag) = (
        uuid::Uuid::new_v4().simple().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    seed(&reference, &tag_ref, now).await;
    seed(&crashed, &tag, now).await;

    let started = std::time::Instant::now();
    let straight = steps(&reference, MemoryArtifacts::default())
        .run_all(&run_ref("straight", now), Some(4), Pacing::UNPACED)
        .await
        .unwrap()
        .summary;
    let full_run = started.elapsed();
    assert!(straight.sent > 20, "{straight:?}");

    // The same run, killed at random points in any of its steps, then started again
    // under its id, each time with what the killed attempts stored.
    let artifacts = MemoryArtifacts::default();
    let run = run_ref("killed", now);
    let seed_value = now.timestamp_subsec_nanos() as u64;
    let mut rng = Lcg(seed_value);
    let mut killed = 0;
    for kill in 0..KILLS {
        let (steps, run) = (steps(&crashed, artifacts.clone()), run.clone());
        let job = tokio::spawn(async move { steps.run_all(&run, Some(4), Pacing::UNPACED).await });
        // Kept results carry over, so later attempts reach later steps: the first ones
        // die summarising or fitting, the later ones delivering.
        let window = (kill + 1) as f64 / KILLS as f64 * 0.5;
        let at = full_run.mul_f64(window * rng.below(1000) as f64 / 1000.0);
        let was_running = kill_after(job, at).await;
        killed += usize::from(was_running);
        let stored = artifacts.keys().len();
        eprintln!(
            "kill {kill} (seed {seed_value}) after {at:?}: killed while running: {was_running}, {stored} stored"
        );
    }
    assert!(
        killed >= KILLS / 2,
        "seed {seed_value}: only {killed} killed"
    );
    let finished = steps(&crashed, artifacts.clone())
        .run_all(&run, Some(4), Pacing::UNPACED)
        .await
        .unwrap()
        .summary;
    assert_eq!(finished.errors + finished.failed, 0, "{finished:?}");
    // Every customer scored once for this run: by its models, at its moment.
    let scored = scores(&crashed).await;
    assert_eq!(scored.len(), 240);
    assert!(scored.values().all(|s| s.ends_with(&now.to_string())));
    // Claims a killed delivery left `sending` are settled by the next run, after
    // their lease; then the shop has had exactly the straight run's mail.
    let later = now + Duration::minutes(31);
    let next = steps(&crashed, MemoryArtifacts::default())
        .run_all(&run_ref("next", later), Some(4), Pacing::UNPACED)
        .await
        .unwrap()
        .summary;
    assert_eq!(next.errors + next.failed, 0, "{next:?}");
    let expected = sent(&reference, &tag_ref).await;
    assert_eq!(expected.len(), straight.sent);
    assert_eq!(
        sent(&crashed, &tag).await,
        expected,
        "seed {seed_value}: the killed run must end with exactly the straight run's mail"
    );
}

#[tokio::test]
async fn a_used_up_daily_quota_found_by_one_segment_stops_the_segments_after_it() {
    let now = Utc::now();
    let api = TestApi::start().await;
    seed(&api, &uuid::Uuid::new_v4().simple().to_string(), now).await;
    let quota = DailyQuota::new(5);
    // One send at a time, so the segment that meets the refusal makes one refused call.
    let mut settings = job_settings(&api);
    settings.job.send_concurrency = 1;
    let steps = Arc::new(Segmented {
        store: api.store.clone(),
        sender: quota.clone(),
        artifacts: MemoryArtifacts::default(),
        settings,
        currency: usd(),
        report_mail: None,
    });
    // 5 a second keeps one segment busy: the four deliver one after another.
    let pace = Pacing {
        rate: Some(5.0),
        ..Pacing::UNPACED
    };
    let run = run_ref("quota", now);
    let plan = steps.plan(&run, Some(4), pace).await.unwrap();
    assert_eq!(plan.deliver_concurrency, 1);
    let summary = steps.run_all(&run, Some(4), pace).await.unwrap().summary;
    assert_eq!(summary.sent, 5, "{summary:?}");
    assert!(summary.stopped > 0, "{summary:?}");
    assert!(summary.sending_stopped.is_some(), "{summary:?}");
    // The segment that met the refusal asked SES once more; those after it, never.
    assert_eq!(quota.calls(), 6);
}
