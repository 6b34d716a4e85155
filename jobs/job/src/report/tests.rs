//! The page from synthetic and degenerate reports: every section, chart and escape.

use super::charts::{self, Bar, Flow};
use super::format::{number, quantile, signed};
use super::*;
use crate::summary::{Action, RunSummary};
use chrono::Utc;
use chrono::{NaiveDate, TimeZone};
use plotters::style::RGBColor;
use rapport_models::evaluate::evaluate;
use rapport_models::simulate::Simulation;
use rapport_models::{BgNbdCoefficients, ScoreParams};
use rapport_shared::domain::Currency;
use rapport_shared::domain::outreach::{MessageKind, SuppressReason};
use rapport_shared::domain::stats::ProgramStats;
use std::collections::BTreeMap;

const SECTIONS: [&str; 8] = [
    "pareto", "churn", "clv", "actions", "messages", "backtest", "control", "program",
];

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A program's figures: members by tier (in ladder order), and points earned, redeemed
/// and expired.
fn program_stats(tiers: &[(&str, u64)], earned: i64, redeemed: i64, expired: i64) -> ProgramStats {
    let members_by_tier: BTreeMap<String, u64> =
        tiers.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect();
    ProgramStats {
        computed_at: Utc.with_ymd_and_hms(2025, 3, 1, 6, 0, 0).unwrap(),
        program_version: 3,
        currency: Currency::parse("currency", "EUR").unwrap(),
        members: members_by_tier.values().sum(),
        tiers: tiers.iter().map(|(t, _)| (*t).to_owned()).collect(),
        members_by_tier,
        points_outstanding: 48_250,
        liability_minor: 48_250,
        points_pending: 1_200,
        points_earned_30d: earned,
        points_redeemed_30d: redeemed,
        points_expired_30d: expired,
        redeemers_30d: 31,
        redemption_rate: Some(0.12),
        referrals: BTreeMap::new(),
        referral_conversion_rate: None,
    }
}

/// The SVG charts of `html`, each from `<svg` to `</svg>`.
fn svgs(html: &str) -> Vec<&str> {
    html.match_indices("<svg")
        .filter_map(|(start, _)| {
            let end = html[start..].find("</svg>")?;
            Some(&html[start..start + end + "</svg>".len()])
        })
        .collect()
}

/// Whether `svg` writes `text` as one of its labels.
fn has_text(svg: &str, text: &str) -> bool {
    svg.contains(&text_element(text))
}

/// A label as plotters writes it into the SVG.
fn text_element(text: &str) -> String {
    format!(">\n{text}\n</text>")
}

/// The chart of `html` whose title is `title`.
fn chart_titled<'a>(html: &'a str, title: &str) -> &'a str {
    svgs(html)
        .into_iter()
        .find(|svg| has_text(svg, title))
        .unwrap_or_else(|| panic!("no chart titled {title}"))
}

/// The filled rectangles of `svg` in `color`: its bars.
fn bars(svg: &str, color: RGBColor) -> usize {
    let fill = format!("fill=\"{}\"", charts::hex(color).to_uppercase());
    svg.split("<rect")
        .skip(1)
        .filter(|r| r.contains(&fill))
        .count()
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
    summary.program_stats = Some(program_stats(
        &[("bronze", 1_180), ("silver", 240), ("gold", 80)],
        9_400,
        3_100,
        500,
    ));
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
    // Pareto, churn, CLV, messages, the backtest's two calibration plots (by
    // calibration purchases, and the chosen model's spend by forecast decile), and the
    // program's points flow and members by tier.
    assert_eq!(html.matches("<svg").count(), 8);
    assert!(html.contains("Holdout spend by forecast decile"));
    let clv = &report.backtest.as_ref().unwrap().clv_metrics;
    let chosen = clv.chosen;
    assert!(html.contains(&format!("<strong>{chosen}</strong>")));
    // The chosen forecast's lead over each other, with its standard error.
    assert!(html.contains("<th>Chosen leads by</th>"));
    let lead = clv.chosen_lead["last_period"];
    assert!(
        html.contains(&format!("<td>{:+.3} ± {:.3}</td>", lead.gini, lead.gini_se)),
        "{lead:?}"
    );
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
fn a_report_from_the_fits_sample_says_so_and_scales_its_counts() {
    let whole = synthetic("Sampled");
    let page = render_html(&whole).unwrap();
    assert!(!page.contains("the sample the models were fitted on"));
    let points = whole.customers.len();
    let high = (whole.customers.iter())
        .filter(|c| c.churn_risk >= charts::HIGH_RISK)
        .count();
    assert!(high > 10, "{high} of {points}");
    // The same points as a sample of a shop four times the size.
    let mut sampled = whole.clone();
    sampled.summary.fit_sample = Some(crate::summary::FitSample {
        buyers: points,
        of: 4 * points,
    });
    let html = render_html(&sampled).unwrap();
    let note = format!(
        "the sample the models were fitted on, {} of {} buyers",
        number(points as f64, 0),
        number(4.0 * points as f64, 0)
    );
    assert_eq!(html.matches(&note).count(), 3, "pareto, churn and CLV");
    let lead = |n: usize, of: usize| {
        format!(
            "<strong>{}</strong> of {} scored customers",
            number(n as f64, 0),
            number(of as f64, 0)
        )
    };
    assert!(page.contains(&lead(high, points)));
    assert!(html.contains(&lead(4 * high, 4 * points)), "{html}");
    // Shares and medians are the sample's, the total four times the sample's.
    let total: f64 = whole.customers.iter().map(|c| c.clv).sum();
    for (html, total) in [(&page, total), (&html, 4.0 * total)] {
        let printed = super::format::money(total, &whole.currency);
        assert!(
            html.contains(&format!("<strong>{printed}</strong> in total")),
            "{total}"
        );
    }
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
    assert!(html.contains("figures were not computed in this run."));
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
    assert_eq!(signed(1_200), "+1,200");
    assert_eq!(signed(-300), "−300");
    assert_eq!(signed(0), "0");
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

#[test]
fn the_tier_chart_has_one_bar_per_tier_with_its_name_and_count() {
    let tiers = [("bronze", 1_180), ("silver", 240), ("gold", 80)].map(|(label, count)| Bar {
        label: label.to_owned(),
        count,
        color: charts::PRIMARY,
    });
    let svg = charts::tiers_chart(&tiers).unwrap();
    assert_eq!(bars(&svg, charts::PRIMARY), 3);
    for label in ["bronze", "silver", "gold", "1,180", "240", "80"] {
        assert!(has_text(&svg, label), "{label} missing");
    }
    assert!(!svg.contains("NaN"));
}

#[test]
fn the_program_section_draws_the_tiers_up_the_ladder_and_the_points_flow() {
    let mut report = empty("Shop");
    let mut stats = program_stats(
        &[("gold", 80), ("bronze", 1_180), ("silver", 240), ("vip", 3)],
        9_400,
        3_100,
        500,
    );
    // The ladder as the program sets it; `vip` was taken off it, its members not yet moved.
    stats.tiers = vec!["bronze".into(), "silver".into(), "gold".into()];
    report.summary.program_stats = Some(stats);
    let html = render_html(&report).unwrap();
    let tiers = chart_titled(&html, "Members by tier");
    assert_eq!(bars(tiers, charts::PRIMARY), 4);
    let at = |label: &str| tiers.find(&text_element(label)).unwrap();
    assert!(at("bronze") < at("silver") && at("silver") < at("gold") && at("gold") < at("vip"));
    for count in ["1,180", "240", "80", "3"] {
        assert!(has_text(tiers, count), "{count} missing");
    }
    // The table lists the tiers in the chart's order.
    let row = |tier: &str| html.find(&format!("<tr><td>{tier}</td>")).unwrap();
    assert!(row("bronze") < row("silver") && row("silver") < row("gold"));

    let flow = chart_titled(&html, "Points in and out over the last 30 days");
    assert_eq!(bars(flow, charts::PRIMARY), 1);
    assert_eq!(bars(flow, charts::GOOD), 1);
    assert_eq!(bars(flow, charts::QUIET), 1);
    for label in ["Earned", "Redeemed", "Expired", "+9,400", "−3,100", "−500"] {
        assert!(has_text(flow, label), "{label} missing");
    }
    assert!(html.contains("+5,800 net. 48,250 points are outstanding, worth 482.50 EUR."));
    assert!(!html.contains("NaN"));
}

#[test]
fn a_program_without_members_or_points_moved_renders_notes_without_nan() {
    let mut report = empty("New shop");
    report.summary.program_stats = Some(ProgramStats {
        points_outstanding: 0,
        liability_minor: 0,
        redemption_rate: None,
        ..program_stats(&[], 0, 0, 0)
    });
    let html = render_html(&report).unwrap();
    assert!(html.contains("id=\"program\""));
    assert_eq!(html.matches("<svg").count(), 0);
    assert!(html.contains("No members yet."));
    assert!(html.contains("No points moved in the last 30 days"));
    assert!(!html.contains("NaN"));
    assert!(!html.contains("Chart unavailable"));
}

#[test]
fn degenerate_program_charts_draw_without_nan() {
    let single = charts::tiers_chart(&[Bar {
        label: "member".to_owned(),
        count: 1,
        color: charts::PRIMARY,
    }])
    .unwrap();
    assert_eq!(bars(&single, charts::PRIMARY), 1);
    assert!(has_text(&single, "member") && has_text(&single, "1"));
    let zero = charts::tiers_chart(&[Bar {
        label: "member".to_owned(),
        count: 0,
        color: charts::PRIMARY,
    }])
    .unwrap();
    let none = charts::tiers_chart(&[]).unwrap();
    let flows = |earned: i64, redeemed: i64, expired: i64| {
        [
            ("Earned", earned, charts::PRIMARY),
            ("Redeemed", -redeemed, charts::GOOD),
            ("Expired", -expired, charts::QUIET),
        ]
        .map(|(label, points, color)| Flow {
            label,
            points,
            color,
        })
    };
    let still = charts::flow_chart(&flows(0, 0, 0), 30).unwrap();
    let out_only = charts::flow_chart(&flows(0, 250, 0), 30).unwrap();
    assert!(has_text(&out_only, "−250") && has_text(&out_only, "0"));
    let huge = charts::flow_chart(&flows(i64::MAX, i64::MAX, 0), 30).unwrap();
    for svg in [&single, &zero, &none, &still, &out_only, &huge] {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
    // A single tier's bar lies inside the plot, not on the chart's left edge.
    let x: i32 = single
        .split("<rect")
        .find(|r| r.contains(&charts::hex(charts::PRIMARY).to_uppercase()))
        .and_then(|r| r.split("x=\"").nth(1)?.split('"').next()?.parse().ok())
        .unwrap();
    assert!(x > 80, "bar at x = {x}");
}

#[test]
fn long_tier_names_are_cut_to_fit_their_bar() {
    let tiers: Vec<Bar> = (0..10)
        .map(|i| Bar {
            label: format!("{}{i}", "x".repeat(38)),
            count: 10 + i,
            color: charts::PRIMARY,
        })
        .collect();
    let svg = charts::tiers_chart(&tiers).unwrap();
    assert_eq!(bars(&svg, charts::PRIMARY), 10);
    assert!(!svg.contains(&"x".repeat(38)));
    assert!(svg.contains("…\n</text>"));
}
