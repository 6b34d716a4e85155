//! The report's charts: plotters drawing into SVG strings, one per chart, in one
//! palette that the stylesheet shares so a series and its table row agree.

use plotters::chart::{ChartBuilder, ChartContext, MeshStyle, SeriesLabelPosition};
use plotters::coord::combinators::{BindKeyPoints, WithKeyPoints};
use plotters::coord::ranged1d::{IntoSegmentedCoord, Ranged, SegmentValue};
use plotters::coord::types::RangedCoordi32;
use plotters::coord::{CoordTranslate, Shift};
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::prelude::{DrawingBackend, SVGBackend};
use plotters::series::{AreaSeries, DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, IntoFont, RGBColor, TextStyle, WHITE};
use rapport_models::evaluate::FrequencyBucket;
use rapport_models::metrics::DecileTotals;
use rapport_models::{PARETO_SHARE, metrics};
use serde::Serialize;

use super::format::{count, number, signed};
use crate::summary::ScoredPoint;

const INK: RGBColor = RGBColor(0x1f, 0x29, 0x37);
pub(super) const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x80);
const GRID: RGBColor = RGBColor(0xe5, 0xe7, 0xeb);
pub(super) const PRIMARY: RGBColor = RGBColor(0x25, 0x63, 0xeb);
const ACCENT: RGBColor = RGBColor(0xea, 0x58, 0x0c);
pub(super) const GOOD: RGBColor = RGBColor(0x16, 0xa3, 0x4a);
pub(super) const BAD: RGBColor = RGBColor(0xdc, 0x26, 0x26);
pub(super) const WAIT: RGBColor = RGBColor(0xd9, 0x77, 0x06);
pub(super) const QUIET: RGBColor = RGBColor(0x94, 0xa3, 0xb8);
pub(super) const SUPPRESSED: RGBColor = RGBColor(0x7c, 0x3a, 0xed);

pub(super) fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The colours the stylesheet names, as CSS hex.
#[derive(Debug, Serialize)]
pub(super) struct Palette {
    ink: String,
    muted: String,
    grid: String,
    primary: String,
    accent: String,
    good: String,
    bad: String,
}

impl Palette {
    pub(super) fn new() -> Self {
        Palette {
            ink: hex(INK),
            muted: hex(MUTED),
            grid: hex(GRID),
            primary: hex(PRIMARY),
            accent: hex(ACCENT),
            good: hex(GOOD),
            bad: hex(BAD),
        }
    }
}

const CHART_SIZE: (u32, u32) = (960, 400);
const FONT: &str = "sans-serif";
/// Churn risk from which the histogram and the lead call a customer likely to churn.
pub(super) const HIGH_RISK: f64 = 0.5;
const CHURN_BINS: usize = 20;
const CLV_BINS: usize = 30;
/// The CLV histogram stops here: a few very large forecasts would squash every other bar.
pub(super) const CLV_QUANTILE: f64 = 0.99;
/// Enough points for a smooth curve at the chart's width, however many customers.
const MAX_CURVE_POINTS: usize = 600;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws one chart into an SVG string; `None` if plotters fails, and the page says the
/// chart is unavailable: the report is still worth having without one of its charts.
fn svg_chart(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Option<String> {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match drawn {
        Ok(()) => Some(svg),
        Err(error) => {
            tracing::warn!(%error, "report chart failed");
            None
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

/// Room for the axis labels and their descriptions, below and left of the plot.
const LABEL_AREAS: (u32, u32) = (52, 70);

/// A chart's frame: its title over the plot, and `label_areas` (below, left) for the
/// axis labels.
fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    (below, left): (u32, u32),
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, title_font())
        .margin(16)
        .x_label_area_size(below)
        .y_label_area_size(left);
    builder
}

/// The series' legend in a box at `position`.
fn legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .margin(14)
        .label_font(label_font())
        .background_style(WHITE.mix(0.9))
        .border_style(GRID)
        .draw()?;
    Ok(())
}

/// Customers by CLV, highest first, against their cumulative share of net spend.
pub(super) struct ParetoCurve {
    /// (cumulative % of customers, cumulative % of net spend), from (0, 0).
    points: Vec<(f64, f64)>,
    /// The point at the top [`PARETO_SHARE`] of customers.
    top: (f64, f64),
}

impl ParetoCurve {
    pub(super) fn of(customers: &[ScoredPoint]) -> Option<ParetoCurve> {
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

pub(super) fn pareto_chart(curve: &ParetoCurve) -> Option<String> {
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(root, "Cumulative net spend by CLV rank", LABEL_AREAS)
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
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
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

pub(super) fn churn_chart(risks: &[f64]) -> Option<String> {
    let counts = histogram(risks, 0.0, 1.0, CHURN_BINS);
    let width = 1.0 / CHURN_BINS as f64;
    let top = count_axis(counts.iter().copied().max().unwrap_or(0));
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(root, "Customers by churn risk", LABEL_AREAS)
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

pub(super) fn clv_chart(sorted: &[f64], cap: f64, currency: &str) -> Option<String> {
    let lo = sorted.first().copied().unwrap_or(0.0).min(0.0);
    let hi = if cap > lo { cap } else { lo + 1.0 };
    let shown: Vec<f64> = sorted.iter().copied().filter(|&v| v <= hi).collect();
    let counts = histogram(&shown, lo, hi, CLV_BINS);
    let width = (hi - lo) / CLV_BINS as f64;
    let top = count_axis(counts.iter().copied().max().unwrap_or(0));
    let decimals = if hi - lo < 20.0 { 2 } else { 0 };
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(root, "Customers by forecast CLV", LABEL_AREAS)
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

/// One bar of the messages chart (and one row of its table).
pub(super) struct Bar {
    pub label: String,
    pub count: usize,
    pub color: RGBColor,
}

pub(super) fn messages_chart(rows: &[Bar]) -> Option<String> {
    let k = rows.len() as i32;
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0);
    let right = count_axis(max) * 1.05;
    let height = 110 + 34 * rows.len() as u32;
    // Bars run top to bottom in table order; the y axis counts upwards.
    let row_at = |segment: i32| rows.get((k - 1 - segment) as usize);
    svg_chart((CHART_SIZE.0, height), |root| {
        let mut chart = frame(root, "Messages by outcome", (46, 210))
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

pub(super) fn frequency_label(frequency: u32) -> String {
    if frequency >= FrequencyBucket::LAST {
        format!("{}+", FrequencyBucket::LAST)
    } else {
        frequency.to_string()
    }
}

pub(super) fn frequency_chart(buckets: &[FrequencyBucket]) -> Option<String> {
    let last = FrequencyBucket::LAST as i32;
    let max = buckets
        .iter()
        .flat_map(|b| [b.actual_mean, b.predicted_mean])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let at = |b: &FrequencyBucket, mean: f64| (SegmentValue::CenterOf(b.frequency as i32), mean);
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(
            root,
            "Holdout purchases by calibration purchases",
            LABEL_AREAS,
        )
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
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    })
}

/// Predicted against actual holdout spend per decile of the chosen model's forecast
/// (highest first): where the bars part, the forecast is off for that tenth of the
/// customers. Lines rather than bars, like the frequency chart, so the two read alike.
pub(super) fn decile_chart(deciles: &[DecileTotals], currency: &str) -> Option<String> {
    let max = deciles
        .iter()
        .flat_map(|d| [d.actual, d.predicted])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let at = |d: &DecileTotals, total: f64| (SegmentValue::CenterOf(i32::from(d.decile)), total);
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(root, "Holdout spend by forecast decile", LABEL_AREAS)
            .build_cartesian_2d((1..10).into_segmented(), 0f64..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .x_labels(10)
            .x_desc("Decile of customers by forecast spend (1 = highest)")
            .y_desc(format!("Holdout spend ({currency})"))
            .x_label_formatter(&|v: &SegmentValue<i32>| match v {
                SegmentValue::CenterOf(d) => d.to_string(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| number(*v, 0))
            .draw()?;
        let actual: Vec<_> = deciles.iter().map(|d| at(d, d.actual)).collect();
        let predicted: Vec<_> = deciles.iter().map(|d| at(d, d.predicted)).collect();
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
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// How many value labels an axis spanning `range` whole things takes: one per whole
/// number at most, so small counts are not labelled 0, 0, 1, 1.
fn whole_labels(range: f64) -> usize {
    if range.is_finite() {
        (range.clamp(0.0, 9.0).floor() as usize + 1).max(2)
    } else {
        2
    }
}

/// About the width of a category on a [`category_axis`] of `categories`, in pixels.
fn category_width(categories: usize) -> u32 {
    let plot = CHART_SIZE.0.saturating_sub(32 + LABEL_AREAS.1);
    plot / u32::try_from(categories.max(1)).unwrap_or(u32::MAX)
}

/// Characters of a category label that fit under one of `categories` bars before it
/// runs into the next one's.
fn label_chars(categories: usize) -> usize {
    (category_width(categories) / 8).max(4) as usize
}

/// The room either side of a bar among `categories`: enough to part it from the next
/// one, and to keep a lone bar from filling the chart.
fn bar_sides(categories: usize) -> u32 {
    const WIDEST: u32 = 180;
    (category_width(categories).saturating_sub(WIDEST) / 2).max(18)
}

/// `label`, cut to `chars` characters with an ellipsis if it is longer.
fn fit(label: &str, chars: usize) -> String {
    if label.chars().count() <= chars {
        label.to_owned()
    } else {
        let mut cut: String = label.chars().take(chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Categories on a horizontal axis in half-category steps: the `i`th is drawn over
/// `2i..2i + 2` and labelled at `2i + 1`, its centre. Plotters' segmented axis puts a
/// single category in the wrong place, and a program may have a single tier.
fn category_axis(n: usize) -> WithKeyPoints<RangedCoordi32> {
    let n = i32::try_from(n).map_or(i32::MAX / 2, |n| n.min(i32::MAX / 2));
    (0..2 * n.max(1)).with_key_points((0..n).map(|i| 2 * i + 1).collect())
}

/// Where the `i`th category of a [`category_axis`] starts.
fn category_start(i: usize) -> i32 {
    i32::try_from(i).map_or(i32::MAX, |i| i.saturating_mul(2))
}

/// The category whose label sits at `v` on a [`category_axis`].
fn category_at<T>(categories: &[T], v: i32) -> Option<&T> {
    usize::try_from(v / 2).ok().and_then(|i| categories.get(i))
}

/// Members in each tier, one bar per tier in the order given, each labelled with its
/// count.
pub(super) fn tiers_chart(tiers: &[Bar]) -> Option<String> {
    let max = tiers.iter().map(|t| t.count).max().unwrap_or(0);
    let top = count_axis(max);
    let chars = label_chars(tiers.len());
    let sides = bar_sides(tiers.len());
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(root, "Members by tier", LABEL_AREAS)
            .build_cartesian_2d(category_axis(tiers.len()), 0f64..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .y_labels(whole_labels(top))
            .x_desc("Tier")
            .y_desc("Members")
            .x_label_formatter(&|v| {
                category_at(tiers, *v).map_or_else(String::new, |t| fit(&t.label, chars))
            })
            .y_label_formatter(&|v| count(v.round() as usize))
            .draw()?;
        chart.draw_series(tiers.iter().enumerate().map(|(i, tier)| {
            let left = category_start(i);
            let mut bar = Rectangle::new(
                [(left, 0.0), (left + 2, tier.count as f64)],
                tier.color.filled(),
            );
            bar.set_margin(0, 0, sides, sides);
            bar
        }))?;
        chart.draw_series(tiers.iter().enumerate().map(|(i, tier)| {
            Text::new(
                count(tier.count),
                (category_start(i) + 1, tier.count as f64 + top * 0.01),
                label_font().pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
        Ok(())
    })
}

/// One bar of the points-flow chart: points into balances (positive) or out of them
/// (negative).
pub(super) struct Flow {
    pub label: &'static str,
    pub points: i64,
    pub color: RGBColor,
}

/// Points into and out of balances over the last `window_days`: inflows above the zero
/// line, outflows below it, each bar labelled with its signed total.
pub(super) fn flow_chart(flows: &[Flow], window_days: i64) -> Option<String> {
    let (lo, hi) = flows.iter().fold((0.0f64, 0.0f64), |(lo, hi), flow| {
        let v = flow.points as f64;
        (lo.min(v), hi.max(v))
    });
    let span = if hi > lo { hi - lo } else { 1.0 };
    // Room for the labels: above the tallest inflow, and above the zero line for a
    // bar of nothing; below the deepest outflow.
    let top = hi + span * 0.14;
    let bottom = if lo < 0.0 { lo - span * 0.14 } else { 0.0 };
    let n = flows.len();
    let sides = bar_sides(n);
    svg_chart(CHART_SIZE, |root| {
        let mut chart = frame(
            root,
            &format!("Points in and out over the last {window_days} days"),
            (LABEL_AREAS.0, 96),
        )
        .build_cartesian_2d(category_axis(n), bottom..top)?;
        styled(&mut chart.configure_mesh())
            .disable_x_mesh()
            .y_labels(whole_labels(top - bottom))
            .y_desc("Points")
            .x_label_formatter(&|v| {
                category_at(flows, *v).map_or_else(String::new, |f| f.label.to_owned())
            })
            .y_label_formatter(&|v| number(*v, 0))
            .draw()?;
        chart.draw_series(flows.iter().enumerate().map(|(i, flow)| {
            let left = category_start(i);
            let mut bar = Rectangle::new(
                [(left, 0.0), (left + 2, flow.points as f64)],
                flow.color.filled(),
            );
            bar.set_margin(0, 0, sides, sides);
            bar
        }))?;
        chart.draw_series(LineSeries::new(
            [(0, 0.0), (category_start(n.max(1)), 0.0)],
            MUTED.stroke_width(1),
        ))?;
        chart.draw_series(flows.iter().enumerate().map(|(i, flow)| {
            let v = flow.points as f64;
            let (y, anchor) = if v < 0.0 {
                (v - span * 0.015, VPos::Top)
            } else {
                (v + span * 0.015, VPos::Bottom)
            };
            Text::new(
                signed(flow.points),
                (category_start(i) + 1, y),
                label_font().pos(Pos::new(HPos::Center, anchor)),
            )
        }))?;
        Ok(())
    })
}
