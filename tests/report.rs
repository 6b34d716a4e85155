//! The run report as a browser sees it: headless Chromium loads the page, and the DOM
//! it builds and a screenshot of it are checked.
//!
//! The page and the screenshot stay in `target/tmp/report-chromium/` for a look.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use rapport_job::report::{self, ControlRow, Report, ScoredPoint};
use rapport_job::run::RunSummary;
use rapport_job::summary::Action;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, ScoreParams, evaluate};
use rapport_shared::domain::outreach::{MessageKind, SuppressReason};

const SECTIONS: [&str; 7] = [
    "pareto", "churn", "clv", "actions", "messages", "backtest", "control",
];

/// A cold start of Chromium in a container takes a few seconds; this is far beyond it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Two years of a 3,000-customer shop drawn from the models' own process, scored and
/// backtested over its last 13 weeks, with a run's worth of decisions.
fn synthetic_report() -> Report {
    let today = day("2025-02-28");
    let shop = Simulation::new(
        BgNbdCoefficients {
            r: 0.6,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
        },
        day("2023-01-01"),
        today,
    )
    .seed(11)
    .transactions(3_000)
    .unwrap();
    let cohort = shop.cohort_at(today);
    let scored = ScoreParams::default()
        .horizon_weeks(52.0)
        .fit(&cohort.summaries, None)
        .unwrap();
    let customers: Vec<ScoredPoint> = cohort
        .members
        .iter()
        .zip(&scored.scores)
        .map(|(member, score)| ScoredPoint {
            churn_risk: score.churn_risk,
            clv: score.clv,
            net_spend: member.activity_between(day("2022-12-31"), today).spend,
        })
        .collect();
    let segment_actions =
        |pairs: &[(Action, usize)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
    let summary = RunSummary {
        customers: 3_000,
        scored: customers.len(),
        sent: 812,
        held_out: 90,
        deferred: 41,
        out_of_time: 0,
        failed: 2,
        already_done: 7,
        errors: 1,
        suppressed: BTreeMap::from([
            (SuppressReason::NoConsent, 240),
            (SuppressReason::FrequencyCap, 118),
            (SuppressReason::ServiceRecovery, 9),
        ]),
        actions: BTreeMap::from([
            (
                "at_risk".to_owned(),
                segment_actions(&[
                    (Action::Send(MessageKind::WinBack), 402),
                    (Action::HeldOut(MessageKind::WinBack), 45),
                    (Action::Deferred(MessageKind::WinBack), 20),
                    (Action::Suppressed(SuppressReason::NoConsent), 120),
                ]),
            ),
            (
                "new".to_owned(),
                segment_actions(&[
                    (Action::Send(MessageKind::PostPurchase), 310),
                    (Action::HeldOut(MessageKind::PostPurchase), 35),
                    (Action::Suppressed(SuppressReason::FrequencyCap), 118),
                ]),
            ),
            (
                "vip".to_owned(),
                segment_actions(&[
                    (Action::Send(MessageKind::VipAppreciation), 100),
                    (Action::HeldOut(MessageKind::VipAppreciation), 10),
                ]),
            ),
            (
                "lost".to_owned(),
                segment_actions(&[(Action::Nothing, 900)]),
            ),
        ]),
        pareto_revenue_share: top_fifth_share(&customers),
        seconds_scan: 0.42,
        seconds_model: 2.35,
        seconds_outreach: 1.8,
        peak_memory_bytes: Some(180 << 20),
        ..RunSummary::default()
    };
    Report {
        generated_at: Utc.with_ymd_and_hms(2025, 2, 28, 6, 0, 0).unwrap(),
        shop_name: "Tea & Kettle <Berlin>".into(),
        currency: "EUR".into(),
        summary,
        backtest: Some(evaluate(&shop, day("2024-11-29"), today).unwrap()),
        backtest_skipped: None,
        customers,
        control: vec![
            ControlRow {
                kind: "win_back".into(),
                window_days: 30,
                sent: 380,
                sent_purchased: 71,
                sent_redeemed: 25,
                held_out: 41,
                held_out_purchased: 5,
                held_out_redeemed: 2,
            },
            ControlRow {
                kind: "welcome".into(),
                window_days: 30,
                sent: 290,
                sent_purchased: 58,
                sent_redeemed: 31,
                held_out: 30,
                held_out_purchased: 6,
                held_out_redeemed: 4,
            },
        ],
    }
}

/// Share of net spend from the top fifth of customers by CLV, as the run measures it.
fn top_fifth_share(customers: &[ScoredPoint]) -> Option<f64> {
    let mut ranked: Vec<(f64, f64)> = customers
        .iter()
        .map(|c| (c.clv, c.net_spend.max(0.0)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total: f64 = ranked.iter().map(|(_, spend)| spend).sum();
    let top = ranked.len().div_ceil(5);
    (total > 0.0).then(|| ranked[..top].iter().map(|(_, spend)| spend).sum::<f64>() / total)
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "Chromium not found at {} (set CHROMIUM to its path). `make test` installs it \
         (infra/require-chromium.sh); or run `apt-get install chromium`.",
        path.display()
    );
    path
}

/// Runs headless Chromium on `page` with `args`, each run in a fresh profile; its stdout.
fn headless(page: &Path, profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting Chromium");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for Chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Chromium did not finish within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap().expect("reading Chromium's output");
    let stderr = err.join().unwrap().unwrap_or_default();
    assert!(status.success(), "Chromium failed ({status}):\n{stderr}");
    stdout
}

/// The `<svg>` elements of `dom` that draw something.
fn drawn_svgs(dom: &str) -> usize {
    dom.split("<svg")
        .skip(1)
        .filter(|rest| {
            let body = rest.split("</svg>").next().unwrap_or("");
            ["<path", "<rect", "<polyline"]
                .iter()
                .any(|shape| body.contains(shape))
        })
        .count()
}

#[test]
fn chromium_renders_every_section_and_chart() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-chromium");
    let _ = std::fs::remove_dir_all(&dir);
    let (html, json) = report::write(&synthetic_report(), &dir).unwrap();
    assert!(json.exists());
    let html = html.canonicalize().unwrap();

    let dom = headless(&html, &dir.join("profile-dom"), &["--dump-dom".into()]);
    for id in SECTIONS {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "section {id} missing from the DOM"
        );
    }
    let svgs = drawn_svgs(&dom);
    assert!(svgs >= 6, "{svgs} drawn charts in the DOM, expected 6");
    // The backtest's candidates side by side and the chosen model's calibration.
    assert!(dom.contains("Holdout spend by forecast decile"));
    assert!(dom.contains("Which model forecasts spend best"));
    assert!(dom.contains("Tea &amp; Kettle &lt;Berlin&gt;"));

    let png = dir.join("report.png");
    headless(
        &html,
        &dir.join("profile-screenshot"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,3000".into(),
        ],
    );
    let bytes = std::fs::metadata(&png)
        .map(|m| m.len())
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(bytes > 10 * 1024, "screenshot is only {bytes} bytes");
    for profile in ["profile-dom", "profile-screenshot"] {
        let _ = std::fs::remove_dir_all(dir.join(profile));
    }
}
