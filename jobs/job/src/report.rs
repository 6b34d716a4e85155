//! The run report: a self-contained HTML page (inline SVG charts) and a JSON summary.
//!
//! The page has no scripts and loads nothing: it is mailed, archived and opened from
//! object storage, where links to other files break and scripts may be blocked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::chart::{ChartBuilder, MeshStyle, SeriesLabelPosition};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{IntoSegmentedCoord, Ranged, SegmentValue};
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::prelude::{DrawingBackend, SVGBackend};
use plotters::series::{AreaSeries, DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, TextStyle, WHITE};

use crate::summary::{Action, RunSummary, reason_key};
pub use crate::summary::{ControlRow, Report, ScoredPoint};
use rapport_models::evaluate::FrequencyBucket;
use rapport_models::score::Segment;
use rapport_models::{PARETO_SHARE, metrics};

/// Writes `report.html` and `summary.json` into `dir`, creating it if need be; returns
/// their paths in that order.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let html = dir.join("report.html");
    std::fs::write(&html, render_html(report))?;
    let json = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&json, text)?;
    Ok((html, json))
}

/// The report as one HTML5 page with inline CSS and SVG.
pub fn render_html(report: &Report) -> String {
    let title = format!(
        "{} · customer report {}",
        report.shop_name,
        report.generated_at.format("%Y-%m-%d")
    );
    let mut page = String::with_capacity(256 * 1024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(page, "<title>{}</title>", escape(&title));
    let _ = writeln!(page, "<style>\n{}</style>\n</head>\n<body>", stylesheet());
    page.push_str(&header(report));
    page.push_str("<main class=\"wrap\">\n");
    for section in [
        pareto_section(report),
        churn_section(report),
        clv_section(report),
        actions_section(report),
        messages_section(report),
        backtest_section(report),
        control_section(report),
    ] {
        page.push_str(&section);
    }
    page.push_str("</main>\n");
    let _ = writeln!(
        page,
        "<footer class=\"wrap\">Rapport · {} · generated {}</footer>\n</body>\n</html>",
        escape(&report.shop_name),
        report.generated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    page
}

// The charts and the stylesheet share one palette, so a series and its table row agree.

const INK: RGBColor = RGBColor(0x1f, 0x29, 0x37);
const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x80);
const GRID: RGBColor = RGBColor(0xe5, 0xe7, 0xeb);
const PRIMARY: RGBColor = RGBColor(0x25, 0x63, 0xeb);
const ACCENT: RGBColor = RGBColor(0xea, 0x58, 0x0c);
const GOOD: RGBColor = RGBColor(0x16, 0xa3, 0x4a);
const BAD: RGBColor = RGBColor(0xdc, 0x26, 0x26);
const WAIT: RGBColor = RGBColor(0xd9, 0x77, 0x06);
const QUIET: RGBColor = RGBColor(0x94, 0xa3, 0xb8);
const SUPPRESSED: RGBColor = RGBColor(0x7c, 0x3a, 0xed);

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn stylesheet() -> String {
    format!(
        r#":root {{ --ink: {ink}; --muted: {muted}; --line: {grid}; --primary: {primary}; --accent: {accent}; --good: {good}; --bad: {bad}; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; color: var(--ink); background: #f3f4f6; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }}
.wrap {{ max-width: 1060px; margin: 0 auto; padding: 0 24px; }}
header.top {{ background: #111827; color: #f9fafb; padding: 28px 0 24px; }}
header.top .eyebrow {{ margin: 0; color: #93c5fd; font-size: 12px; letter-spacing: .08em; text-transform: uppercase; font-weight: 600; }}
header.top h1 {{ margin: 4px 0 2px; font-size: 30px; line-height: 1.2; }}
header.top .meta {{ margin: 0; color: #9ca3af; }}
.kpis {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 20px 0 14px; }}
.kpi {{ background: rgba(255,255,255,.06); border: 1px solid rgba(255,255,255,.12); border-radius: 10px; padding: 12px 14px; }}
.kpi .value {{ display: block; font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }}
.kpi .label {{ display: block; color: #9ca3af; font-size: 12px; letter-spacing: .04em; text-transform: uppercase; }}
.timings {{ margin: 0; color: #9ca3af; font-size: 13px; font-variant-numeric: tabular-nums; }}
nav.toc {{ display: flex; flex-wrap: wrap; gap: 6px 18px; padding-top: 16px; font-size: 14px; }}
nav.toc a {{ color: var(--primary); text-decoration: none; }}
section.card {{ background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 22px 26px; margin: 18px 0; }}
section.card h2 {{ margin: 0 0 4px; font-size: 20px; }}
.lead {{ margin: 0 0 14px; color: var(--muted); }}
.lead strong {{ color: var(--ink); }}
figure {{ margin: 0; }}
figure svg {{ display: block; width: 100%; height: auto; }}
figcaption {{ margin-top: 6px; color: var(--muted); font-size: 13px; }}
.scroll {{ overflow-x: auto; }}
table {{ width: 100%; margin-top: 14px; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }}
th, td {{ padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }}
th:first-child, td:first-child {{ text-align: left; }}
thead th {{ color: var(--muted); font-size: 12px; font-weight: 600; letter-spacing: .03em; text-transform: uppercase; vertical-align: bottom; }}
thead th small {{ display: block; font-weight: 400; text-transform: none; letter-spacing: 0; }}
table.matrix th, table.matrix td {{ padding: 6px 8px; }}
table.matrix thead th {{ white-space: normal; }}
table.matrix th.group {{ text-align: center; border-bottom: 2px solid var(--line); }}
table.matrix th.kind {{ min-width: 64px; font-weight: 400; text-transform: none; letter-spacing: 0; font-size: 13px; }}
tfoot td {{ font-weight: 600; border-bottom: 0; }}
td.zero {{ color: #c4c8cf; }}
td.pos {{ color: var(--good); font-weight: 600; }}
td.neg {{ color: var(--bad); font-weight: 600; }}
.swatch {{ display: inline-block; width: 10px; height: 10px; margin-right: 8px; border-radius: 2px; }}
.note {{ margin: 8px 0 0; padding: 14px 16px; color: var(--muted); background: #f9fafb; border: 1px dashed #d1d5db; border-radius: 8px; }}
.warn {{ margin: 14px 0 0; padding: 10px 14px; color: #9a3412; background: #fff7ed; border: 1px solid #fed7aa; border-radius: 8px; }}
footer {{ padding: 8px 24px 32px; color: var(--muted); font-size: 13px; }}
"#,
        ink = hex(INK),
        muted = hex(MUTED),
        grid = hex(GRID),
        primary = hex(PRIMARY),
        accent = hex(ACCENT),
        good = hex(GOOD),
        bad = hex(BAD),
    )
}

fn header(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::from("<header class=\"top\">\n<div class=\"wrap\">\n");
    out.push_str("<p class=\"eyebrow\">Customer report</p>\n");
    let _ = writeln!(out, "<h1>{}</h1>", escape(&report.shop_name));
    let _ = writeln!(
        out,
        "<p class=\"meta\">Generated {} · amounts in {}</p>",
        report.generated_at.format("%Y-%m-%d %H:%M UTC"),
        escape(&report.currency)
    );
    let share = s
        .pareto_revenue_share
        .map_or_else(|| "–".to_owned(), percent);
    let kpis = [
        ("Customers", count(s.customers)),
        ("Scored", count(s.scored)),
        ("Messages sent", count(s.sent)),
        ("Held out", count(s.held_out)),
        ("Spend from top 20 %", share),
    ];
    out.push_str("<div class=\"kpis\">\n");
    for (label, value) in kpis {
        let _ = writeln!(
            out,
            "<div class=\"kpi\"><span class=\"value\">{}</span><span class=\"label\">{}</span></div>",
            escape(&value),
            escape(label)
        );
    }
    out.push_str("</div>\n");
    let mut timings = format!(
        "Scan {} · models {} · outreach {}",
        seconds(s.seconds_scan),
        seconds(s.seconds_model),
        seconds(s.seconds_outreach)
    );
    if let Some(bytes) = s.peak_memory_bytes {
        let _ = write!(
            timings,
            " · peak memory {:.0} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let _ = writeln!(out, "<p class=\"timings\">{}</p>", escape(&timings));
    if let Some(reason) = &s.scoring_skipped {
        let _ = writeln!(
            out,
            "<p class=\"warn\">Scoring was skipped: {}. Messages were decided without scores.</p>",
            escape(reason)
        );
    }
    out.push_str("</div>\n</header>\n<nav class=\"wrap toc\">\n");
    for (id, name) in [
        ("pareto", "Revenue concentration"),
        ("churn", "Churn risk"),
        ("clv", "Lifetime value"),
        ("actions", "Decisions"),
        ("messages", "Messages"),
        ("backtest", "Backtest"),
        ("control", "Control group"),
    ] {
        let _ = writeln!(out, "<a href=\"#{id}\">{name}</a>");
    }
    out.push_str("</nav>\n");
    out
}

/// Opens a section card with its id, heading and lead paragraph (already HTML).
fn open_section(id: &str, heading: &str, lead_html: &str) -> String {
    format!(
        "<section class=\"card\" id=\"{id}\">\n<h2>{}</h2>\n<p class=\"lead\">{lead_html}</p>\n",
        escape(heading)
    )
}

fn figure(svg: String, caption_html: &str) -> String {
    format!("<figure>\n{svg}<figcaption>{caption_html}</figcaption>\n</figure>\n")
}

fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

fn pareto_section(report: &Report) -> String {
    let lead = match report.summary.pareto_revenue_share {
        Some(share) => format!(
            "The top 20 % of customers by CLV brought <strong>{}</strong> of net spend to date.",
            percent(share)
        ),
        None => "No share of net spend to show: no scored customer has spent yet.".to_owned(),
    };
    let mut out = open_section("pareto", "Revenue concentration", &lead);
    match ParetoCurve::of(&report.customers) {
        Some(curve) => out.push_str(&figure(
            pareto_chart(&curve),
            "Customers ranked by forecast CLV, highest first, against their cumulative share \
             of net spend to date (refunds netted, negative balances counted as zero). The \
             dashed diagonal is a shop where everyone spends alike.",
        )),
        None => out.push_str(&note("No data: no scored customer with net spend.")),
    }
    out.push_str("</section>\n");
    out
}

fn churn_section(report: &Report) -> String {
    let risks: Vec<f64> = report
        .customers
        .iter()
        .map(|c| c.churn_risk)
        .filter(|r| r.is_finite())
        .collect();
    let high = risks.iter().filter(|&&r| r >= HIGH_RISK).count();
    let lead = if risks.is_empty() {
        "How likely each scored customer is to make no purchase in the churn window.".to_owned()
    } else {
        format!(
            "<strong>{}</strong> of {} scored customers ({}) have a churn risk of 50 % or more; \
             the mean risk is {}.",
            count(high),
            count(risks.len()),
            percent(high as f64 / risks.len() as f64),
            percent(risks.iter().sum::<f64>() / risks.len() as f64)
        )
    };
    let mut out = open_section("churn", "Churn risk", &lead);
    if risks.is_empty() {
        out.push_str(&note("No data: no customer was scored."));
    } else {
        out.push_str(&figure(
            churn_chart(&risks),
            "Probability of no purchase in the churn window, in 20 bins of 5 points; bins at \
             50 % and above in orange.",
        ));
    }
    out.push_str("</section>\n");
    out
}

fn clv_section(report: &Report) -> String {
    let mut values: Vec<f64> = report
        .customers
        .iter()
        .map(|c| c.clv)
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    let currency = &report.currency;
    let lead = if values.is_empty() {
        "Forecast spend of each scored customer over the horizon.".to_owned()
    } else {
        let total: f64 = values.iter().sum();
        format!(
            "Forecast spend over the horizon: <strong>{}</strong> in total, median {} per customer.",
            escape(&money(total, currency)),
            escape(&money(values[values.len() / 2], currency))
        )
    };
    let mut out = open_section("clv", "Customer lifetime value", &lead);
    if values.is_empty() {
        out.push_str(&note("No data: no customer was scored."));
    } else {
        let cap = quantile(&values, CLV_QUANTILE);
        let above = values.len() - values.partition_point(|&v| v <= cap);
        let caption = format!(
            "Customers by forecast CLV in {}, bins up to the 99th percentile ({}); {} customer{} \
             above it {} not drawn.",
            escape(currency),
            escape(&money(cap, currency)),
            count(above),
            if above == 1 { "" } else { "s" },
            if above == 1 { "is" } else { "are" },
        );
        out.push_str(&figure(clv_chart(&values, cap, currency), &caption));
    }
    out.push_str("</section>\n");
    out
}

fn actions_section(report: &Report) -> String {
    let actions = &report.summary.actions;
    let mut out = open_section(
        "actions",
        "Decisions by segment",
        "What the rules decided for each customer, by marketing segment.",
    );
    if actions.is_empty() {
        out.push_str(&note("No decisions: the run saw no customers."));
        out.push_str("</section>\n");
        return out;
    }
    let mut columns: Vec<Action> = actions
        .values()
        .flat_map(|row| row.keys().copied())
        .collect();
    columns.sort_unstable_by_key(|action| (action.rank(), *action));
    columns.dedup();
    let mut segments: Vec<(&String, &BTreeMap<Action, usize>)> = actions.iter().collect();
    segments.sort_by_key(|(segment, _)| {
        let known = Segment::ALL.iter().position(|s| s.as_str() == *segment);
        (known.unwrap_or(Segment::ALL.len()), *segment)
    });

    // Two header rows: the decision over the message kinds it applies to.
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for action in &columns {
        let (verb, kind) = (action.verb(), action.detail().unwrap_or(""));
        match groups.last_mut() {
            Some((last, kinds)) if *last == verb => kinds.push(kind),
            _ => groups.push((verb, vec![kind])),
        }
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr><th rowspan=\"2\">Segment</th>",
    );
    let mut kinds_row = String::new();
    for (verb, kinds) in &groups {
        if kinds.iter().all(|k| k.is_empty()) {
            let _ = write!(out, "<th rowspan=\"2\">{}</th>", escape(&humanize(verb)));
            continue;
        }
        let _ = write!(
            out,
            "<th class=\"group\" colspan=\"{}\">{}</th>",
            kinds.len(),
            escape(&humanize(verb))
        );
        for kind in kinds {
            let _ = write!(
                kinds_row,
                "<th class=\"kind\">{}</th>",
                escape(&humanize(kind))
            );
        }
    }
    let _ = write!(
        out,
        "<th rowspan=\"2\">Total</th></tr>\n<tr>{kinds_row}</tr></thead>\n<tbody>\n"
    );
    let mut totals = vec![0usize; columns.len()];
    for (segment, row) in segments {
        let _ = write!(out, "<tr><td>{}</td>", escape(&humanize(segment)));
        for (action, total) in columns.iter().zip(&mut totals) {
            let n = row.get(action).copied().unwrap_or(0);
            *total += n;
            out.push_str(&count_cell(n));
        }
        let _ = writeln!(out, "<td>{}</td></tr>", count(row.values().sum()));
    }
    out.push_str("</tbody>\n<tfoot><tr><td>All segments</td>");
    for total in &totals {
        out.push_str(&count_cell(*total));
    }
    let _ = writeln!(
        out,
        "<td>{}</td></tr></tfoot>\n</table></div>",
        count(totals.iter().sum())
    );
    out.push_str("</section>\n");
    out
}

/// One bar of the messages chart and one row of its table.
struct Outcome {
    label: String,
    count: usize,
    color: RGBColor,
}

fn outcomes(summary: &RunSummary) -> Vec<Outcome> {
    let fixed = [
        ("Sent", summary.sent, PRIMARY),
        ("Held out (control group)", summary.held_out, QUIET),
        ("Deferred (quiet hours)", summary.deferred, WAIT),
        ("Out of time (next run)", summary.out_of_time, WAIT),
        ("Already done", summary.already_done, MUTED),
        ("Failed", summary.failed, BAD),
        ("Errors", summary.errors, BAD),
    ];
    let mut rows: Vec<Outcome> = fixed
        .into_iter()
        .map(|(label, count, color)| Outcome {
            label: label.to_owned(),
            count,
            color,
        })
        .collect();
    rows.extend(summary.suppressed.iter().map(|(reason, &count)| Outcome {
        label: format!("Suppressed: {}", humanize(reason_key(*reason))),
        count,
        color: SUPPRESSED,
    }));
    rows
}

fn messages_section(report: &Report) -> String {
    let rows = outcomes(&report.summary);
    let total: usize = rows.iter().map(|r| r.count).sum();
    let suppressed: usize = report.summary.suppressed.values().sum();
    let lead = format!(
        "<strong>{}</strong> sent, {} held out as the control group, {} suppressed by the rules.",
        count(report.summary.sent),
        count(report.summary.held_out),
        count(suppressed)
    );
    let mut out = open_section("messages", "Messages", &lead);
    if total == 0 {
        out.push_str(&note("No data: no message was due in this run."));
    } else {
        out.push_str(&figure(
            messages_chart(&rows),
            "Outcome of every message due in this run. Held-out messages are recorded but not \
             sent; deferred ones go out with a later run.",
        ));
    }
    out.push_str("<table>\n<thead><tr><th>Outcome</th><th>Messages</th><th>Share</th></tr></thead>\n<tbody>\n");
    for row in &rows {
        let share = if total == 0 {
            "–".to_owned()
        } else {
            percent(row.count as f64 / total as f64)
        };
        let _ = writeln!(
            out,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>{}<td>{}</td></tr>",
            hex(row.color),
            escape(&row.label),
            count_cell(row.count),
            share
        );
    }
    let _ = writeln!(
        out,
        "</tbody>\n<tfoot><tr><td>All</td><td>{}</td><td></td></tr></tfoot>\n</table>",
        count(total)
    );
    out.push_str("</section>\n");
    out
}

fn backtest_section(report: &Report) -> String {
    let Some(e) = &report.backtest else {
        let mut out = open_section(
            "backtest",
            "Backtest",
            "The models fitted on history up to one churn window ago, against what happened since.",
        );
        let why = report
            .backtest_skipped
            .as_deref()
            .unwrap_or("no backtest was run");
        out.push_str(&note(&format!("No backtest: {why}.")));
        out.push_str("</section>\n");
        return out;
    };
    let h = &e.holdout;
    let b = &h.bgnbd_only;
    let currency = &report.currency;
    let lead = format!(
        "Fitted on history up to {}, forecast {:.1} weeks to {} for {} customers, compared with \
         what they did. The top 20 % by forecast CLV brought <strong>{}</strong> of the holdout's spend.",
        e.calibration_end,
        e.holdout_weeks,
        e.holdout_end,
        count(e.customers),
        percent(e.pareto.revenue_share)
    );
    let mut out = open_section("backtest", "Backtest", &lead);
    out.push_str(
        "<table>\n<thead><tr><th>Measure</th><th>Actual</th><th>Forecast<small>with churn \
         classifier</small></th><th>Baseline<small>BG/NBD + Gamma-Gamma only</small></th></tr></thead>\n<tbody>\n",
    );
    let rows = [
        (
            "Repeat purchases",
            count(h.actual_repeat_purchases as usize),
            number(h.predicted_repeat_purchases, 0),
            number(b.predicted_repeat_purchases, 0),
        ),
        (
            "Spend",
            money(h.actual_spend, currency),
            money(h.predicted_spend, currency),
            money(b.predicted_spend, currency),
        ),
        (
            "Purchases MAE per customer",
            "–".to_owned(),
            number(h.purchases_mae, 3),
            number(b.purchases_mae, 3),
        ),
        (
            "Churn AUC",
            "–".to_owned(),
            h.churn_auc.map_or_else(|| "–".to_owned(), |a| number(a, 3)),
            b.churn_auc.map_or_else(|| "–".to_owned(), |a| number(a, 3)),
        ),
        (
            "CLV MAE per customer",
            format!(
                "{} forecasting zero",
                money(h.zero_forecast_clv_mae, currency)
            ),
            money(h.clv_mae, currency),
            money(b.clv_mae, currency),
        ),
    ];
    for (measure, actual, forecast, baseline) in rows {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(measure),
            escape(&actual),
            escape(&forecast),
            escape(&baseline)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    if let Some(auc) = h.one_minus_p_alive_auc {
        let _ = writeln!(
            out,
            "<p class=\"lead\" style=\"margin-top:8px\">For reference, 1 − P(alive) ranks churn with an AUC of {}.</p>",
            number(auc, 3)
        );
    }
    if h.by_frequency.is_empty() {
        out.push_str(&note("No data for the calibration-against-holdout chart."));
    } else {
        out.push_str(&figure(
            frequency_chart(&h.by_frequency),
            "Mean repeat purchases in the holdout by repeat purchases before it; the last \
             group pools 7 and more. Where the lines part, the forecast drifts for that group.",
        ));
        out.push_str(
            "<table>\n<thead><tr><th>Repeat purchases before</th><th>Customers</th><th>Actual mean</th><th>Forecast mean</th></tr></thead>\n<tbody>\n",
        );
        for bucket in &h.by_frequency {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                frequency_label(bucket.frequency),
                count(bucket.customers),
                number(bucket.actual_mean, 2),
                number(bucket.predicted_mean, 2)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
    out
}

fn control_section(report: &Report) -> String {
    let mut out = open_section(
        "control",
        "Control group",
        "Customers who got a message against those held out of it: who bought or redeemed \
         points within the window after it. Uplift is the difference in percentage points.",
    );
    if report.control.is_empty() {
        out.push_str(&note(
            "No earlier messages old enough yet: outcomes show once a message's window has closed.",
        ));
        out.push_str("</section>\n");
        return out;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr>\
         <th rowspan=\"2\">Message</th><th rowspan=\"2\">Window</th>\
         <th rowspan=\"2\">Sent</th><th rowspan=\"2\">Held out</th>\
         <th class=\"group\" colspan=\"3\">Bought</th>\
         <th class=\"group\" colspan=\"3\">Redeemed points</th></tr>\n<tr>\
         <th class=\"kind\">sent</th><th class=\"kind\">held out</th><th class=\"kind\">uplift</th>\
         <th class=\"kind\">sent</th><th class=\"kind\">held out</th><th class=\"kind\">uplift</th>\
         </tr></thead>\n<tbody>\n",
    );
    for row in &report.control {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} days</td><td>{}</td><td>{}</td>",
            escape(&humanize(&row.kind)),
            row.window_days,
            count(row.sent),
            count(row.held_out)
        );
        for (sent, held_out) in [
            (row.sent_purchased, row.held_out_purchased),
            (row.sent_redeemed, row.held_out_redeemed),
        ] {
            let sent_rate = rate(sent, row.sent);
            let held_rate = rate(held_out, row.held_out);
            let _ = write!(
                out,
                "<td>{}</td><td>{}</td>{}",
                sent_rate.map_or_else(|| "–".to_owned(), percent),
                held_rate.map_or_else(|| "–".to_owned(), percent),
                uplift_cell(sent_rate, held_rate)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n</section>\n");
    out
}

fn rate(part: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| part as f64 / of as f64)
}

fn uplift_cell(sent: Option<f64>, held_out: Option<f64>) -> String {
    match (sent, held_out) {
        (Some(s), Some(h)) => {
            let pp = (s - h) * 100.0;
            let class = if pp > 0.0 {
                "pos"
            } else if pp < 0.0 {
                "neg"
            } else {
                "zero"
            };
            format!("<td class=\"{class}\">{pp:+.1} pp</td>")
        }
        _ => "<td class=\"zero\">–</td>".to_owned(),
    }
}

const CHART_SIZE: (u32, u32) = (960, 400);
const FONT: &str = "sans-serif";
/// Churn risk from which the histogram and the lead call a customer likely to churn.
const HIGH_RISK: f64 = 0.5;
const CHURN_BINS: usize = 20;
const CLV_BINS: usize = 30;
/// The CLV histogram stops here: a few very large forecasts would squash every other bar.
const CLV_QUANTILE: f64 = 0.99;
/// Enough points for a smooth curve at the chart's width, however many customers.
const MAX_CURVE_POINTS: usize = 600;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws one chart into an SVG string, or a note if plotters fails: the report is still
/// worth having without one of its charts.
fn svg_chart(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => svg,
        Err(error) => {
            tracing::warn!(%error, "report chart failed");
            note("Chart unavailable.")
        }
    }
}

fn title_font<'a>() -> TextStyle<'a> {
    (FONT, 18).into_font().color(&INK)
}

fn label_font<'a>() -> TextStyle<'a> {
    (FONT, 13).into_font().color(&INK)
}

/// The mesh every chart shares: grid lines at the labels only, muted axes. Charts keep
/// the grid lines across their value axis and drop the others.
fn styled<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .axis_style(MUTED)
        .label_style(label_font())
        .axis_desc_style((FONT, 14).into_font().color(&MUTED))
}

/// Customers by CLV, highest first, against their cumulative share of net spend.
struct ParetoCurve {
    /// (cumulative % of customers, cumulative % of net spend), from (0, 0).
    points: Vec<(f64, f64)>,
    /// The point at the top [`PARETO_SHARE`] of customers.
    top: (f64, f64),
}

impl ParetoCurve {
    fn of(customers: &[ScoredPoint]) -> Option<ParetoCurve> {
        let (clv, spend): (Vec<f64>, Vec<f64>) = customers
            .iter()
            .filter(|c| c.clv.is_finite() && c.net_spend.is_finite())
            .map(|c| (c.clv, c.net_spend.max(0.0)))
            .unzip();
        let total: f64 = spend.iter().sum();
        if clv.is_empty() || total <= 0.0 {
            return None;
        }
        let n = clv.len();
        let top_n = metrics::top_count(n, PARETO_SHARE).max(1);
        let step = n.div_ceil(MAX_CURVE_POINTS);
        let mut points = Vec::with_capacity(n / step + 2);
        points.push((0.0, 0.0));
        let mut top = (0.0, 0.0);
        let mut cumulative = 0.0;
        for (i, customer) in metrics::rank_descending(&clv).into_iter().enumerate() {
            cumulative += spend[customer];
            let point = (
                (i + 1) as f64 / n as f64 * 100.0,
                cumulative / total * 100.0,
            );
            if i + 1 == top_n {
                top = point;
            }
            if (i + 1) % step == 0 || i + 1 == n {
                points.push(point);
            }
        }
        Some(ParetoCurve { points, top })
    }
}

fn pareto_chart(curve: &ParetoCurve) -> String {
    svg_chart(CHART_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Cumulative net spend by CLV rank", title_font())
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..100f64, 0f64..100f64)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_desc("Customers, highest CLV first (cumulative %)")
            .y_desc("Net spend to date (cumulative %)")
            .x_label_formatter(&|v| format!("{v:.0} %"))
            .y_label_formatter(&|v| format!("{v:.0} %"))
            .draw()?;
        chart.draw_series(AreaSeries::new(
            curve.points.iter().copied(),
            0.0,
            PRIMARY.mix(0.12),
        ))?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (100.0, 100.0)],
                6,
                5,
                MUTED.stroke_width(1),
            ))?
            .label("Everyone spends alike")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 22, y)], MUTED.stroke_width(1)));
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                PRIMARY.stroke_width(3),
            ))?
            .label("Customers ranked by CLV")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 22, y)], PRIMARY.stroke_width(3)));
        let (x, y) = curve.top;
        chart.draw_series(DashedLineSeries::new(
            [(x, 0.0), (x, y), (0.0, y)],
            4,
            4,
            ACCENT.stroke_width(1),
        ))?;
        chart.draw_series([Circle::new((x, y), 5, ACCENT.filled())])?;
        chart.draw_series([Text::new(
            format!(
                "Top {:.0} % of customers: {:.1} % of net spend",
                PARETO_SHARE * 100.0,
                y
            ),
            (x + 1.5, y - 3.0),
            (FONT, 14)
                .into_font()
                .color(&ACCENT)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        )])?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(14)
            .label_font(label_font())
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
        Ok(())
    })
}

/// Counts of `values` in `bins` equal bins over `lo..hi`; values outside are clamped.
fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    let width = (hi - lo) / bins as f64;
    for v in values {
        let bin = ((v - lo) / width).floor().clamp(0.0, (bins - 1) as f64) as usize;
        counts[bin] += 1;
    }
    counts
}

/// Headroom above the tallest bar, for its label and the grid line above it.
fn count_axis(max: usize) -> f64 {
    (max as f64 * 1.12).max(1.0)
}

fn churn_chart(risks: &[f64]) -> String {
    let counts = histogram(risks, 0.0, 1.0, CHURN_BINS);
    let width = 1.0 / CHURN_BINS as f64;
    let top = count_axis(counts.iter().copied().max().unwrap_or(0));
    svg_chart(CHART_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Customers by churn risk", title_font())
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, 0f64..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(11)
            .x_desc("Churn risk: probability of no purchase in the churn window")
            .y_desc("Customers")
            .x_label_formatter(&|v| format!("{:.0} %", v * 100.0))
            .y_label_formatter(&|v| count(v.round() as usize))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
            let lo = i as f64 * width;
            let color = if lo >= HIGH_RISK { ACCENT } else { PRIMARY };
            let mut bar = Rectangle::new([(lo, 0.0), (lo + width, n as f64)], color.filled());
            bar.set_margin(0, 0, 2, 2);
            bar
        }))?;
        Ok(())
    })
}

fn clv_chart(sorted: &[f64], cap: f64, currency: &str) -> String {
    let lo = sorted.first().copied().unwrap_or(0.0).min(0.0);
    let hi = if cap > lo { cap } else { lo + 1.0 };
    let shown: Vec<f64> = sorted.iter().copied().filter(|&v| v <= hi).collect();
    let counts = histogram(&shown, lo, hi, CLV_BINS);
    let width = (hi - lo) / CLV_BINS as f64;
    let top = count_axis(counts.iter().copied().max().unwrap_or(0));
    let decimals = if hi - lo < 20.0 { 2 } else { 0 };
    svg_chart(CHART_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Customers by forecast CLV", title_font())
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, 0f64..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(10)
            .x_desc(format!("CLV over the horizon ({currency})"))
            .y_desc("Customers")
            .x_label_formatter(&|v| number(*v, decimals))
            .y_label_formatter(&|v| count(v.round() as usize))
            .draw()?;
        chart.draw_series(counts.iter().enumerate().map(|(i, &n)| {
            let left = lo + i as f64 * width;
            let mut bar = Rectangle::new([(left, 0.0), (left + width, n as f64)], PRIMARY.filled());
            bar.set_margin(0, 0, 1, 1);
            bar
        }))?;
        Ok(())
    })
}

fn messages_chart(rows: &[Outcome]) -> String {
    let k = rows.len() as i32;
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0);
    let right = count_axis(max) * 1.05;
    let height = 110 + 34 * rows.len() as u32;
    // Bars run top to bottom in table order; the y axis counts upwards.
    let row_at = |segment: i32| rows.get((k - 1 - segment) as usize);
    svg_chart((CHART_SIZE.0, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Messages by outcome", title_font())
            .margin(16)
            .x_label_area_size(46)
            .y_label_area_size(210)
            .build_cartesian_2d(0f64..right, (0..k - 1).into_segmented())?;
        styled(&mut chart.configure_mesh())
            .disable_y_mesh()
            .y_labels(rows.len())
            .x_desc("Messages")
            .x_label_formatter(&|v| count(v.round() as usize))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    row_at(*i).map(|r| r.label.clone()).unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series((0..k).filter_map(|segment| {
            let row = row_at(segment)?;
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(segment)),
                    (row.count as f64, SegmentValue::Exact(segment + 1)),
                ],
                row.color.filled(),
            );
            bar.set_margin(6, 6, 0, 0);
            Some(bar)
        }))?;
        chart.draw_series((0..k).filter_map(|segment| {
            let row = row_at(segment)?;
            Some(Text::new(
                count(row.count),
                (
                    row.count as f64 + right * 0.01,
                    SegmentValue::CenterOf(segment),
                ),
                label_font().pos(Pos::new(HPos::Left, VPos::Center)),
            ))
        }))?;
        Ok(())
    })
}

fn frequency_label(frequency: u32) -> String {
    if frequency >= FrequencyBucket::LAST {
        format!("{}+", FrequencyBucket::LAST)
    } else {
        frequency.to_string()
    }
}

fn frequency_chart(buckets: &[FrequencyBucket]) -> String {
    let last = FrequencyBucket::LAST as i32;
    let max = buckets
        .iter()
        .flat_map(|b| [b.actual_mean, b.predicted_mean])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let at = |b: &FrequencyBucket, mean: f64| (SegmentValue::CenterOf(b.frequency as i32), mean);
    svg_chart(CHART_SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Holdout purchases by calibration purchases", title_font())
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(70)
            .build_cartesian_2d((0..last).into_segmented(), 0f64..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(FrequencyBucket::LAST as usize + 1)
            .x_desc("Repeat purchases in the calibration period")
            .y_desc("Mean repeat purchases in the holdout")
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(f) => frequency_label(*f as u32),
                _ => String::new(),
            })
            .y_label_formatter(&|v| number(*v, 1))
            .draw()?;
        let actual: Vec<_> = buckets.iter().map(|b| at(b, b.actual_mean)).collect();
        let predicted: Vec<_> = buckets.iter().map(|b| at(b, b.predicted_mean)).collect();
        for (name, color, points) in [("Actual", INK, actual), ("Forecast", ACCENT, predicted)] {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x - 4, y), (x + 18, y)], color.stroke_width(3))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|point| Circle::new(point, 5, color.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .margin(14)
            .label_font(label_font())
            .background_style(WHITE.mix(0.9))
            .border_style(GRID)
            .draw()?;
        Ok(())
    })
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `at_risk` → `at risk`, `win_back` → `win back`.
fn humanize(key: &str) -> String {
    key.replace('_', " ")
}

/// `v` with `decimals` decimals and thousands separated by commas; a dash if not finite.
fn number(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.*}", decimals, v.abs());
    let (int, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    let mut out = String::with_capacity(digits.len() + int.len() / 3 + 1);
    if v < 0.0 && digits.bytes().any(|b| matches!(b, b'1'..=b'9')) {
        out.push('−');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

fn count(n: usize) -> String {
    number(n as f64, 0)
}

fn count_cell(n: usize) -> String {
    if n == 0 {
        "<td class=\"zero\">0</td>".to_owned()
    } else {
        format!("<td>{}</td>", count(n))
    }
}

fn money(v: f64, currency: &str) -> String {
    format!("{} {currency}", number(v, 2))
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "–".to_owned()
    }
}

fn seconds(s: f64) -> String {
    format!("{s:.2} s")
}

/// The `q` quantile of sorted, non-empty `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let html = render_html(&synthetic("Café Amélie"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        for id in SECTIONS {
            assert!(
                html.contains(&format!("id=\"{id}\"")),
                "section {id} missing"
            );
        }
        // Pareto, churn, CLV, messages and the backtest's calibration plot.
        assert_eq!(html.matches("<svg").count(), 5);
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
        let html = render_html(&report);
        assert!(!html.contains("<script>"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"));
        assert!(html.contains("history &lt; 13 weeks"));
    }

    #[test]
    fn an_empty_report_renders_with_notes() {
        let html = render_html(&empty("Empty"));
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
        let html = render_html(&report);
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
}
