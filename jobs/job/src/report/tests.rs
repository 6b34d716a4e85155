//! The page from synthetic and degenerate reports: every section, chart and escape.

use super::format::{number, quantile};
use super::*;
use crate::summary::{Action, RunSummary};
use chrono::Utc;
use chrono::{NaiveDate, TimeZone};
use rapport_models::evaluate::evaluate;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, ScoreParams};
use rapport_shared::domain::outreach::{MessageKind, SuppressReason};
use std::collections::BTreeMap;

const SECTIONS: [&str; 7] = [
    "pareto", "churn", "clv", "actions", "messages", "backtest", "control",
];

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn empty(shop_name: &str) -> Report {
    Report {
        generated_at: Utc.with_ymd_and_hms(2025, 3, 1, 6, 0, 0).unwrap(),
        shop_name: shop_name.into(),
        currency: "EUR".into(),
        summary: RunSummary::default(),
        backtest: None,
        backtest_skipped: None,
        customers: Vec::new(),
        control: Vec::new(),
    }
}

/// A shop drawn from the models' own process, scored and backtested.
fn synthetic(shop_name: &str) -> Report {
    let shop = Simulation::new(
        BgNbdCoefficients {
            r: 0.6,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
        },
        day("2023-01-01"),
        day("2025-02-28"),
    )
    .seed(7)
    .transactions(1_500)
    .unwrap();
    let today = day("2025-02-28");
    let cohort = shop.cohort_at(today);
    let scored = ScoreParams::default()
        .horizon_weeks(52.0)
        .fit(&cohort.summaries, None)
        .unwrap();
    let customers = cohort
        .members
        .iter()
        .zip(&scored.scores)
        .map(|(member, score)| ScoredPoint {
            churn_risk: score.churn_risk,
            clv: score.clv,
            net_spend: member.activity_between(day("2022-12-31"), today).spend,
        })
        .collect();
    let mut summary = RunSummary {
        customers: 1_500,
        scored: cohort.summaries.len(),
        sent: 420,
        held_out: 47,
        deferred: 12,
        already_done: 3,
        failed: 1,
        pareto_revenue_share: Some(0.61),
        seconds_scan: 0.4,
        seconds_model: 2.1,
        seconds_outreach: 1.3,
        peak_memory_bytes: Some(96 << 20),
        ..RunSummary::default()
    };
    summary.suppressed = BTreeMap::from([
        (SuppressReason::NoConsent, 130),
        (SuppressReason::FrequencyCap, 64),
    ]);
    summary.actions = BTreeMap::from([
        (
            "at_risk".to_owned(),
            BTreeMap::from([
                (Action::Send(MessageKind::WinBack), 210),
                (Action::HeldOut(MessageKind::WinBack), 23),
                (Action::Suppressed(SuppressReason::NoConsent), 40),
            ]),
        ),
        (
            "vip".to_owned(),
            BTreeMap::from([
                (Action::Send(MessageKind::VipAppreciation), 80),
                (Action::Nothing, 150),
            ]),
        ),
    ]);
    Report {
        summary,
        backtest: Some(evaluate(&shop, day("2024-11-29"), today).unwrap()),
        customers,
        control: vec![ControlRow {
            kind: "win_back".into(),
            window_days: 30,
            sent: 200,
            sent_purchased: 38,
            sent_redeemed: 12,
            held_out: 22,
            held_out_purchased: 3,
            held_out_redeemed: 1,
        }],
        ..empty(shop_name)
    }
}

#[test]
fn every_section_and_one_svg_per_chart() {
    let report = synthetic("Café Amélie");
    let html = render_html(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    for id in SECTIONS {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    // Pareto, churn, CLV, messages and the backtest's two calibration plots (by
    // calibration purchases, and the chosen model's spend by forecast decile).
    assert_eq!(html.matches("<svg").count(), 6);
    assert!(html.contains("Holdout spend by forecast decile"));
    let chosen = report.backtest.as_ref().unwrap().clv_metrics.chosen;
    assert!(html.contains(&format!("<strong>{chosen}</strong>")));
    assert!(!html.contains("Chart unavailable"));
    assert!(
        html.contains("61.0 %"),
        "the summary's Pareto share is printed"
    );
    assert!(html.contains("Suppressed: no consent"));
    assert!(
        html.contains("+5.4 pp"),
        "purchase uplift: 19.0 % against 13.6 %"
    );
    assert!(html.contains("Café Amélie"));
}

#[test]
fn strings_from_the_data_are_escaped() {
    let mut report = synthetic("<script>alert(\"x\")</script> & Co");
    report.backtest = None;
    report.backtest_skipped = Some("history < 13 weeks".into());
    report.control[0].kind = "<b>".into();
    let html = render_html(&report).unwrap();
    assert!(!html.contains("<script>"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"));
    assert!(html.contains("history &lt; 13 weeks"));
}

#[test]
fn an_empty_report_renders_with_notes() {
    let html = render_html(&empty("Empty")).unwrap();
    for id in SECTIONS {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert_eq!(html.matches("<svg").count(), 0);
    assert!(html.contains("No data"));
    assert!(html.contains("No earlier messages old enough yet"));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn degenerate_values_do_not_break_the_charts() {
    let mut report = empty("Odd");
    report.customers = vec![
        ScoredPoint {
            churn_risk: f64::NAN,
            clv: 0.0,
            net_spend: -5.0,
        },
        ScoredPoint {
            churn_risk: 1.0,
            clv: 0.0,
            net_spend: 10.0,
        },
    ];
    let html = render_html(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("Chart unavailable"));
}

#[test]
fn write_puts_the_page_and_a_summary_without_customers_in_the_directory() {
    let dir = std::env::temp_dir().join(format!("rapport-report-{}", std::process::id()));
    let report = synthetic("Shop");
    let (html, json) = write(&report, &dir.join("nested")).unwrap();
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("id=\"pareto\"")
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(summary.get("customers").is_none());
    assert_eq!(summary["summary"]["suppressed"]["no_consent"], 130);
    assert!(summary["backtest"]["holdout"]["by_frequency"].is_array());
    assert_eq!(summary["control"][0]["sent"], 200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn numbers_are_grouped() {
    assert_eq!(number(1_234_567.891, 2), "1,234,567.89");
    assert_eq!(number(-0.001, 2), "0.00");
    assert_eq!(number(-1234.0, 0), "−1,234");
    assert_eq!(number(f64::NAN, 1), "–");
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.99), 4.0);
}

#[test]
fn a_chart_that_cannot_be_drawn_leaves_a_note_over_its_caption() {
    let env = environment().unwrap();
    let html = env
        .render_str(
            r#"{% from "macros.html" import figure %}{% call figure(none) %}Caption{% endcall %}"#,
            (),
        )
        .unwrap();
    assert_eq!(
        html,
        "<figure>\n<p class=\"note\">Chart unavailable.</p>\n<figcaption>Caption</figcaption>\n</figure>\n"
    );
}
