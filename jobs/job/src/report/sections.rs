//! What each section of the page shows, worked out from the report: the figures its
//! lead quotes, its table rows and its chart. The templates only lay these out.

use std::collections::BTreeMap;

use minijinja::Value;
use rapport_models::evaluate::{ClvComparison, Evaluation};
use rapport_models::score::Segment;
use rapport_shared::domain::stats::{ProgramStats, STATS_WINDOW_DAYS};
use serde::Serialize;

use super::charts::{self, Bar, Flow, ParetoCurve};
use super::format::{count, humanize, money, number, quantile, signed};
use crate::summary::{Action, ControlRow, Report, RunSummary, ScoredPoint, reason_key};

/// A chart where the section has the data for one.
///
/// Its SVG goes into the page unescaped, on purpose: it is markup to draw, which
/// escaping would print as text instead. It can be trusted: plotters writes every element
/// itself and escapes the text it draws, and that text is the report's own labels,
/// numbers, the ISO currency code and the program's tier names (letters, digits, `-` and
/// `_`), never a string a customer wrote.
#[derive(Debug, Serialize)]
pub(super) struct Figure {
    /// `None` if the chart could not be drawn; the page says so in its place.
    svg: Option<Value>,
}

impl Figure {
    fn of(svg: Option<String>) -> Self {
        Figure {
            svg: svg.map(Value::from_safe_string),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Pareto {
    share: Option<f64>,
    figure: Option<Figure>,
}

pub(super) fn pareto(report: &Report) -> Pareto {
    Pareto {
        share: report.summary.pareto_revenue_share,
        figure: ParetoCurve::of(&report.customers)
            .map(|curve| Figure::of(charts::pareto_chart(&curve))),
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Churn {
    scored: usize,
    high: usize,
    high_share: f64,
    mean: f64,
    figure: Option<Figure>,
}

/// The churn section from `customers`, the points of a sample when each stands for
/// `scale` customers (1 when they are every buyer): its counts are scaled to the shop.
pub(super) fn churn(customers: &[ScoredPoint], scale: f64) -> Churn {
    let risks: Vec<f64> = customers
        .iter()
        .map(|c| c.churn_risk)
        .filter(|r| r.is_finite())
        .collect();
    let high = risks.iter().filter(|&&r| r >= charts::HIGH_RISK).count();
    Churn {
        scored: scaled(risks.len(), scale),
        high: scaled(high, scale),
        high_share: high as f64 / risks.len() as f64,
        mean: risks.iter().sum::<f64>() / risks.len() as f64,
        figure: (!risks.is_empty()).then(|| Figure::of(charts::churn_chart(&risks))),
    }
}

/// `n` of a sample's points, in customers of the shop.
fn scaled(n: usize, scale: f64) -> usize {
    (n as f64 * scale).round() as usize
}

#[derive(Debug, Serialize)]
pub(super) struct Clv {
    total: f64,
    median: f64,
    /// Where the histogram stops, and how many customers are beyond it.
    cap: f64,
    above: usize,
    figure: Option<Figure>,
}

/// The CLV section, scaled as [`churn`]'s.
pub(super) fn clv(customers: &[ScoredPoint], currency: &str, scale: f64) -> Clv {
    let mut values: Vec<f64> = customers
        .iter()
        .map(|c| c.clv)
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    let Some(&median) = values.get(values.len() / 2) else {
        return Clv {
            total: 0.0,
            median: 0.0,
            cap: 0.0,
            above: 0,
            figure: None,
        };
    };
    let cap = quantile(&values, charts::CLV_QUANTILE);
    Clv {
        total: values.iter().sum::<f64>() * scale,
        median,
        cap,
        above: scaled(values.len() - values.partition_point(|&v| v <= cap), scale),
        figure: Some(Figure::of(charts::clv_chart(&values, cap, currency))),
    }
}

/// The decisions table: segments down, decisions across under their verbs.
#[derive(Debug, Serialize)]
pub(super) struct Actions {
    /// The verbs in column order, each over the message kinds or reasons it applies to
    /// (none for `nothing`, whose column spans both header rows).
    groups: Vec<ActionGroup>,
    rows: Vec<ActionRow>,
    totals: Vec<usize>,
    total: usize,
}

#[derive(Debug, Serialize)]
struct ActionGroup {
    verb: &'static str,
    details: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct ActionRow {
    segment: String,
    counts: Vec<usize>,
    total: usize,
}

pub(super) fn actions(actions: &BTreeMap<String, BTreeMap<Action, usize>>) -> Actions {
    let mut columns: Vec<Action> = actions
        .values()
        .flat_map(|row| row.keys().copied())
        .collect();
    columns.sort_unstable_by_key(|action| (action.rank(), *action));
    columns.dedup();
    let mut groups: Vec<ActionGroup> = Vec::new();
    for action in &columns {
        let details = action.detail().into_iter();
        match groups.last_mut() {
            Some(group) if group.verb == action.verb() => group.details.extend(details),
            _ => groups.push(ActionGroup {
                verb: action.verb(),
                details: details.collect(),
            }),
        }
    }
    let mut segments: Vec<(&String, &BTreeMap<Action, usize>)> = actions.iter().collect();
    segments.sort_by_key(|(segment, _)| {
        let known = Segment::ALL.iter().position(|s| s.as_str() == *segment);
        (known.unwrap_or(Segment::ALL.len()), *segment)
    });
    let rows: Vec<ActionRow> = segments
        .into_iter()
        .map(|(segment, row)| ActionRow {
            segment: segment.clone(),
            counts: columns
                .iter()
                .map(|action| row.get(action).copied().unwrap_or(0))
                .collect(),
            total: row.values().sum(),
        })
        .collect();
    let totals: Vec<usize> = (0..columns.len())
        .map(|column| rows.iter().map(|row| row.counts[column]).sum())
        .collect();
    Actions {
        groups,
        total: totals.iter().sum(),
        totals,
        rows,
    }
}

/// Every outcome of this run's messages, as a bar and a table row.
#[derive(Debug, Serialize)]
pub(super) struct Messages {
    suppressed: usize,
    total: usize,
    rows: Vec<MessageRow>,
    figure: Option<Figure>,
}

#[derive(Debug, Serialize)]
struct MessageRow {
    label: String,
    count: usize,
    /// `None` when no message was due at all.
    share: Option<f64>,
    color: String,
}

fn outcome_bars(summary: &RunSummary) -> Vec<Bar> {
    let fixed = [
        ("Sent", summary.sent, charts::PRIMARY),
        ("Held out (control group)", summary.held_out, charts::QUIET),
        ("Deferred (quiet hours)", summary.deferred, charts::WAIT),
        ("Out of time (next run)", summary.out_of_time, charts::WAIT),
        (
            "Sending stopped by SES (next run)",
            summary.stopped,
            charts::WAIT,
        ),
        ("Already done", summary.already_done, charts::MUTED),
        ("Failed", summary.failed, charts::BAD),
        ("Errors", summary.errors, charts::BAD),
        ("Erased during the run", summary.erased, charts::MUTED),
    ];
    let mut bars: Vec<Bar> = fixed
        .into_iter()
        .map(|(label, count, color)| Bar {
            label: label.to_owned(),
            count,
            color,
        })
        .collect();
    bars.extend(summary.suppressed.iter().map(|(reason, &count)| Bar {
        label: format!("Suppressed: {}", humanize(reason_key(*reason))),
        count,
        color: charts::SUPPRESSED,
    }));
    bars
}

pub(super) fn messages(summary: &RunSummary) -> Messages {
    let bars = outcome_bars(summary);
    let total: usize = bars.iter().map(|bar| bar.count).sum();
    Messages {
        suppressed: summary.suppressed.values().sum(),
        total,
        figure: (total > 0).then(|| Figure::of(charts::messages_chart(&bars))),
        rows: bars
            .into_iter()
            .map(|bar| MessageRow {
                share: (total > 0).then(|| bar.count as f64 / total as f64),
                color: charts::hex(bar.color),
                label: bar.label,
                count: bar.count,
            })
            .collect(),
    }
}

/// The backtest's measures, forecast against what happened.
#[derive(Debug, Serialize)]
pub(super) struct Backtest {
    calibration_end: String,
    holdout_end: String,
    holdout_weeks: f64,
    customers: usize,
    revenue_share: f64,
    /// Measure, actual, forecast and baseline, as printed.
    measures: Vec<[String; 4]>,
    one_minus_p_alive_auc: Option<f64>,
    by_frequency: Vec<FrequencyRow>,
    figure: Option<Figure>,
    /// Every candidate's and baseline's `clv_metrics`, candidates first.
    candidates: Vec<CandidateRow>,
    chosen: &'static str,
    /// The chosen candidate's calibration by decile.
    deciles: Vec<DecileRow>,
    decile_figure: Option<Figure>,
}

#[derive(Debug, Serialize)]
struct CandidateRow {
    name: &'static str,
    baseline: bool,
    chosen: bool,
    /// RMSE, MAE, total %, normalised Gini, Spearman, top 10 %, top 20 %, decile MAPE,
    /// and the chosen forecast's lead over this one in normalised Gini with its
    /// standard error, as printed.
    cells: [String; 9],
}

#[derive(Debug, Serialize)]
struct DecileRow {
    decile: u8,
    predicted: String,
    actual: String,
}

#[derive(Debug, Serialize)]
struct FrequencyRow {
    label: String,
    customers: usize,
    actual_mean: f64,
    predicted_mean: f64,
}

/// The candidates' CLV measures side by side, as the table prints them.
fn candidate_rows(e: &Evaluation, currency: &str) -> Vec<CandidateRow> {
    let optional =
        |v: Option<f64>, decimals: usize| v.map_or_else(|| "–".to_owned(), |v| number(v, decimals));
    let share =
        |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{:.1} %", v * 100.0));
    ClvComparison::CANDIDATES
        .iter()
        .map(|name| (*name, false))
        .chain(ClvComparison::BASELINES.iter().map(|name| (*name, true)))
        .filter_map(|(name, baseline)| {
            let m = e.clv_metrics.entries.get(name)?;
            Some(CandidateRow {
                name,
                baseline,
                chosen: name == e.clv_metrics.chosen,
                cells: [
                    money(m.rmse, currency),
                    money(m.mae, currency),
                    m.total_error_pct
                        .map_or_else(|| "–".to_owned(), |v| format!("{v:+.1} %")),
                    optional(m.normalized_gini, 3),
                    optional(m.spearman, 3),
                    share(m.top_decile_capture),
                    share(m.top20_capture),
                    optional(m.decile_mape, 3),
                    e.clv_metrics.chosen_lead.get(name).map_or_else(
                        || "–".to_owned(),
                        |l| format!("{:+.3} ± {:.3}", l.gini, l.gini_se),
                    ),
                ],
            })
        })
        .collect()
}

pub(super) fn backtest(e: &Evaluation, currency: &str) -> Backtest {
    let h = &e.holdout;
    let b = &h.bgnbd_only;
    let dash = || "–".to_owned();
    let auc = |auc: Option<f64>| auc.map_or_else(dash, |a| number(a, 3));
    let measures = vec![
        [
            "Repeat purchases".to_owned(),
            count(h.actual_repeat_purchases as usize),
            number(h.predicted_repeat_purchases, 0),
            number(b.predicted_repeat_purchases, 0),
        ],
        [
            "Spend".to_owned(),
            money(h.actual_spend, currency),
            money(h.predicted_spend, currency),
            money(b.predicted_spend, currency),
        ],
        [
            "Purchases MAE per customer".to_owned(),
            dash(),
            number(h.purchases_mae, 3),
            number(b.purchases_mae, 3),
        ],
        [
            "Churn AUC".to_owned(),
            dash(),
            auc(h.churn_auc),
            auc(b.churn_auc),
        ],
        [
            "CLV MAE per customer".to_owned(),
            format!(
                "{} forecasting zero",
                money(h.zero_forecast_clv_mae, currency)
            ),
            money(h.clv_mae, currency),
            money(b.clv_mae, currency),
        ],
    ];
    Backtest {
        calibration_end: e.calibration_end.to_string(),
        holdout_end: e.holdout_end.to_string(),
        holdout_weeks: e.holdout_weeks,
        customers: e.customers,
        revenue_share: e.pareto.revenue_share,
        measures,
        one_minus_p_alive_auc: h.one_minus_p_alive_auc,
        by_frequency: h
            .by_frequency
            .iter()
            .map(|bucket| FrequencyRow {
                label: charts::frequency_label(bucket.frequency),
                customers: bucket.customers,
                actual_mean: bucket.actual_mean,
                predicted_mean: bucket.predicted_mean,
            })
            .collect(),
        figure: (!h.by_frequency.is_empty())
            .then(|| Figure::of(charts::frequency_chart(&h.by_frequency))),
        candidates: candidate_rows(e, currency),
        chosen: e.clv_metrics.chosen,
        deciles: e
            .chosen_deciles
            .iter()
            .map(|d| DecileRow {
                decile: d.decile,
                predicted: money(d.predicted, currency),
                actual: money(d.actual, currency),
            })
            .collect(),
        decile_figure: (!e.chosen_deciles.is_empty())
            .then(|| Figure::of(charts::decile_chart(&e.chosen_deciles, currency))),
    }
}

/// One message kind's outcomes, sent against held out.
#[derive(Debug, Serialize)]
pub(super) struct Control {
    kind: String,
    window_days: i64,
    sent: usize,
    held_out: usize,
    /// Bought, then redeemed points.
    outcomes: [Uplift; 2],
}

#[derive(Debug, Serialize)]
struct Uplift {
    sent: Option<f64>,
    held_out: Option<f64>,
    /// `pos`, `neg` or `zero`, and the difference in percentage points.
    class: &'static str,
    text: String,
}

fn rate(part: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| part as f64 / of as f64)
}

fn uplift(sent: usize, sent_of: usize, held_out: usize, held_out_of: usize) -> Uplift {
    let (sent, held_out) = (rate(sent, sent_of), rate(held_out, held_out_of));
    let (class, text) = match (sent, held_out) {
        (Some(s), Some(h)) => {
            let pp = (s - h) * 100.0;
            let class = if pp > 0.0 {
                "pos"
            } else if pp < 0.0 {
                "neg"
            } else {
                "zero"
            };
            (class, format!("{pp:+.1} pp"))
        }
        _ => ("zero", "–".to_owned()),
    };
    Uplift {
        sent,
        held_out,
        class,
        text,
    }
}

pub(super) fn control(rows: &[ControlRow]) -> Vec<Control> {
    rows.iter()
        .map(|row| Control {
            kind: row.kind.clone(),
            window_days: row.window_days,
            sent: row.sent,
            held_out: row.held_out,
            outcomes: [
                uplift(
                    row.sent_purchased,
                    row.sent,
                    row.held_out_purchased,
                    row.held_out,
                ),
                uplift(
                    row.sent_redeemed,
                    row.sent,
                    row.held_out_redeemed,
                    row.held_out,
                ),
            ],
        })
        .collect()
}

/// The program's figures drawn: members by tier, and the window's points in and out.
#[derive(Debug, Serialize)]
pub(super) struct Program {
    window_days: i64,
    /// Every tier with members, lowest rung first as far as the names tell.
    tiers: Vec<TierRow>,
    /// `None` without members.
    tiers_figure: Option<Figure>,
    /// Points credited less points redeemed and expired in the window, as printed.
    net: String,
    /// `None` if no points moved in the window.
    flow_figure: Option<Figure>,
}

#[derive(Debug, Serialize)]
struct TierRow {
    name: String,
    members: u64,
}

pub(super) fn program(stats: &ProgramStats) -> Program {
    // In ladder order; a tier no longer on the ladder (members not yet moved) follows,
    // alphabetically from the map, as the sort is stable.
    let rung = |tier: &str| {
        stats
            .tiers
            .iter()
            .position(|name| name == tier)
            .unwrap_or(stats.tiers.len())
    };
    let mut tiers: Vec<TierRow> = stats
        .members_by_tier
        .iter()
        .map(|(name, &members)| TierRow {
            name: name.clone(),
            members,
        })
        .collect();
    tiers.sort_by_key(|tier| rung(&tier.name));
    let bars: Vec<Bar> = tiers
        .iter()
        .map(|tier| Bar {
            label: tier.name.clone(),
            count: usize::try_from(tier.members).unwrap_or(usize::MAX),
            color: charts::PRIMARY,
        })
        .collect();
    let flows = [
        Flow {
            label: "Earned",
            points: stats.points_earned_30d,
            color: charts::PRIMARY,
        },
        Flow {
            label: "Redeemed",
            points: stats.points_redeemed_30d.saturating_neg(),
            color: charts::GOOD,
        },
        Flow {
            label: "Expired",
            points: stats.points_expired_30d.saturating_neg(),
            color: charts::QUIET,
        },
    ];
    let moved = flows.iter().any(|flow| flow.points != 0);
    Program {
        window_days: STATS_WINDOW_DAYS,
        tiers_figure: tiers
            .iter()
            .any(|tier| tier.members > 0)
            .then(|| Figure::of(charts::tiers_chart(&bars))),
        net: signed(
            flows
                .iter()
                .fold(0i64, |net, flow| net.saturating_add(flow.points)),
        ),
        flow_figure: moved.then(|| Figure::of(charts::flow_chart(&flows, STATS_WINDOW_DAYS))),
        tiers,
    }
}
