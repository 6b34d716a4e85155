//! The run report: a self-contained HTML page (inline SVG charts) and a JSON summary.
//!
//! The page has no scripts and loads nothing: it is mailed, archived and opened from
//! object storage, where links to other files break and scripts may be blocked. It is
//! laid out by the minijinja templates in `templates/report/`, compiled into the binary;
//! `sections` works out what each section shows and `charts` draws the charts.

mod charts;
mod format;
mod sections;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, Output, State, escape_formatter};
use serde::Serialize;

use crate::summary::RunSummary;
pub use crate::summary::{ControlRow, Report, ScoredPoint};

/// Each template by name, compiled in: the page must render wherever the binary runs.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../templates/report/", $name)))),*]
    };
}

const TEMPLATES: [(&str, &str); 11] = templates![
    "layout.html",
    "macros.html",
    "report.css",
    "pareto.html",
    "churn.html",
    "clv.html",
    "actions.html",
    "messages.html",
    "backtest.html",
    "control.html",
    "program.html",
];

/// Writes `report.html` and `summary.json` into `dir`, creating it if need be; returns
/// their paths in that order.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let html = dir.join("report.html");
    std::fs::write(&html, render_html(report).map_err(std::io::Error::other)?)?;
    let json = dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&json, text)?;
    Ok((html, json))
}

/// The report as one HTML5 page with inline CSS and SVG.
pub fn render_html(report: &Report) -> Result<String, Error> {
    environment()?
        .get_template("layout.html")?
        .render(Value::from(Serde(Page::of(report))))
}

/// Everything the templates read.
#[derive(Debug, Serialize)]
struct Page<'a> {
    shop_name: &'a str,
    currency: &'a str,
    /// When the run was, to the day, minute and second, as the page prints it.
    generated: [String; 3],
    summary: &'a RunSummary,
    peak_memory_mib: Option<f64>,
    /// The Pareto share as the page prints it ("20" for the top 20 %).
    top_percent: String,
    palette: charts::Palette,
    pareto: sections::Pareto,
    churn: sections::Churn,
    clv: sections::Clv,
    actions: sections::Actions,
    messages: sections::Messages,
    backtest: Option<sections::Backtest>,
    backtest_skipped: Option<&'a str>,
    control: Vec<sections::Control>,
    /// `None` if the run did not compute the program's figures.
    program: Option<sections::Program>,
    /// What the points outstanding are worth, in major units.
    liability: Option<f64>,
    /// The sample of buyers the models and the charts were drawn from, if any.
    fit_sample: Option<crate::summary::FitSample>,
}

impl<'a> Page<'a> {
    fn of(report: &'a Report) -> Self {
        let summary = &report.summary;
        // The charts' points are the fit's sample when it drew one: each stands for
        // `scale` customers in the counts and totals printed.
        let scale = summary.fit_sample.map_or(1.0, |s| s.scale());
        Page {
            shop_name: &report.shop_name,
            currency: &report.currency,
            generated: ["%Y-%m-%d", "%Y-%m-%d %H:%M UTC", "%Y-%m-%d %H:%M:%S UTC"]
                .map(|pattern| report.generated_at.format(pattern).to_string()),
            summary,
            peak_memory_mib: summary
                .peak_memory_bytes
                .map(|bytes| bytes as f64 / (1024.0 * 1024.0)),
            top_percent: format!("{:.0}", rapport_models::PARETO_SHARE * 100.0),
            palette: charts::Palette::new(),
            pareto: sections::pareto(report),
            churn: sections::churn(&report.customers, scale),
            clv: sections::clv(&report.customers, &report.currency, scale),
            actions: sections::actions(&summary.actions),
            messages: sections::messages(summary),
            backtest: report
                .backtest
                .as_ref()
                .map(|e| sections::backtest(e, &report.currency)),
            backtest_skipped: report.backtest_skipped.as_deref(),
            control: sections::control(&report.control),
            program: summary.program_stats.as_ref().map(sections::program),
            liability: summary
                .program_stats
                .as_ref()
                .map(|s| s.liability_minor as f64 / s.currency.minor_per_major() as f64),
            fit_sample: summary.fit_sample,
        }
    }
}

/// The templates, with the page's escaping and number formats.
fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    // Block tags on lines of their own leave nothing behind, and each template keeps
    // its last newline: the page reads as written.
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.set_formatter(html_formatter);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("number", |v: f64, decimals: Option<usize>| {
        format::number(v, decimals.unwrap_or(0))
    });
    env.add_filter("money", |v: f64, currency: &str| format::money(v, currency));
    env.add_filter("percent", |share: Option<f64>| {
        share.map_or_else(|| "–".to_owned(), format::percent)
    });
    env.add_filter("fixed", |v: f64, decimals: usize| format!("{v:.decimals$}"));
    env.add_filter("humanize", |key: &str| format::humanize(key));
    Ok(env)
}

/// Escapes what the templates print into HTML with [`format::escape_html`] rather than
/// minijinja's own, which also escapes `/` and writes `'` another way: the page reads,
/// and diffs, as it always has. Safe values (the charts' SVG, macro output) and the
/// stylesheet go through minijinja's formatter unchanged.
fn html_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
        format::escape_html(&value.to_string(), out).map_err(Error::from)
    } else {
        escape_formatter(out, state, value)
    }
}
