//! `rapport-score`: backtest the churn and CLV models on exported transactions, score
//! them as the scheduled job scores a shop, or score a summary file.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rapport_models::evaluate::Evaluation;
use rapport_models::io::{self, CustomerIds, TransactionFormat};
use rapport_models::next_order::shop_median_gap_weeks;
use rapport_models::shop;
use rapport_models::{
    CustomerScore, NextOrder, NextOrderMethod, PARETO_SHARE, ScoreParams, ScoringModel, Segment,
    ShopParams, evaluate, metrics,
};

#[derive(Parser)]
#[command(
    name = "rapport-score",
    version,
    about = "Churn and CLV scoring (BG/NBD, Gamma-Gamma, logistic churn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit on the calibration period and compare the forecasts with the holdout.
    Evaluate {
        /// Transactions file.
        #[arg(long)]
        transactions: PathBuf,
        /// `cdnow`: the CDNOW files as lifetimes ships them; `csv`: customer_id,timestamp,amount.
        #[arg(long, value_enum)]
        format: Format,
        /// Last day of the calibration period (YYYY-MM-DD, inclusive).
        #[arg(long)]
        calibration_end: NaiveDate,
        /// Last day of the holdout period (YYYY-MM-DD, inclusive).
        #[arg(long)]
        holdout_end: NaiveDate,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Score every customer of a summary file (lifetimes' format), or of a transactions
    /// file as the scheduled job does, and write a CSV.
    Score {
        /// CSV with customer_id,frequency,recency,T,monetary_value (weeks), any order.
        #[arg(long, required_unless_present = "transactions", conflicts_with_all = ["transactions", "format", "as_of"])]
        summary: Option<PathBuf>,
        /// Transactions file, scored as the scheduled job scores a shop: the candidates
        /// backtested over the churn window that just ended, the model the backtest
        /// chooses, the churn classifier trained on the shop's time split, and each
        /// customer's next order (two more columns).
        #[arg(long, requires = "format")]
        transactions: Option<PathBuf>,
        /// Layout of --transactions: `cdnow` or `csv` (customer_id,timestamp,amount).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Day the transactions are scored as of (YYYY-MM-DD; default: the last purchase day in the file).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Output CSV: customer_id,p_alive,expected_purchases,churn_risk,clv,segment
        /// (with --transactions also next_order_on,p_order_in_horizon).
        #[arg(long)]
        out: PathBuf,
        /// Weeks ahead for expected purchases and CLV.
        #[arg(long, default_value_t = 52.0)]
        horizon_weeks: f64,
        /// Monthly discount rate for CLV.
        #[arg(long, default_value_t = 0.0)]
        discount_rate: f64,
        /// Window of the churn risk (summaries: default half the oldest customer's age, at
        /// most the horizon; transactions: default 13, as the job's, also the backtest's holdout).
        #[arg(long)]
        churn_window_weeks: Option<f64>,
        /// Score with a model saved by --save-model instead of fitting.
        #[arg(long, conflicts_with_all = ["horizon_weeks", "discount_rate", "churn_window_weeks"])]
        model: Option<PathBuf>,
        /// With --transactions: fit on at most this many customers, drawn as the job
        /// draws its fit sample, and score every customer with that fit (default
        /// 200000, the job's RAPPORT_FIT_SAMPLE).
        #[arg(long, requires = "transactions", conflicts_with = "model", value_parser = clap::value_parser!(u64).range(1..))]
        fit_sample: Option<u64>,
        /// Save the fitted model as JSON.
        #[arg(long)]
        save_model: Option<PathBuf>,
    },
    /// The scheduled job over the live table: `rapport-job run` does it (this crate links
    /// no AWS SDK), found beside this binary or on the PATH; the arguments go along.
    #[command(disable_help_flag = true)]
    Run(RunArgs),
}

/// Everything after `run`, handed to `rapport-job run` as it is.
#[derive(clap::Args)]
struct RunArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<std::ffi::OsString>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Cdnow,
    Csv,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run_job(&args),
        Command::Evaluate {
            transactions,
            format,
            calibration_end,
            holdout_end,
            json,
        } => run_evaluate(
            &transactions,
            format.into(),
            calibration_end,
            holdout_end,
            json,
        ),
        Command::Score {
            summary,
            transactions,
            format,
            as_of,
            out,
            horizon_weeks,
            discount_rate,
            churn_window_weeks,
            model,
            fit_sample,
            save_model,
        } => {
            let saving = Saving {
                out: &out,
                stored: model.as_deref(),
                save_model: save_model.as_deref(),
            };
            match (summary, transactions, format) {
                (_, Some(path), Some(format)) => {
                    let params = ShopParams {
                        horizon_weeks,
                        churn_window_weeks: churn_window_weeks
                            .unwrap_or(ShopParams::default().churn_window_weeks),
                        monthly_discount_rate: discount_rate,
                    };
                    let fit_sample = fit_sample.map_or(shop::DEFAULT_FIT_SAMPLE, |n| {
                        usize::try_from(n).unwrap_or(usize::MAX)
                    });
                    let shop = Shop {
                        path: &path,
                        format: format.into(),
                        as_of,
                        fit_sample,
                    };
                    run_score_transactions(&shop, params, &saving)
                }
                (Some(path), _, _) => {
                    let mut settings = ScoreParams::default()
                        .horizon_weeks(horizon_weeks)
                        .monthly_discount_rate(discount_rate);
                    if let Some(window) = churn_window_weeks {
                        settings = settings.churn_window_weeks(window);
                    }
                    run_score(&path, settings, &saving)
                }
                // clap requires one of the files, and a format with transactions.
                _ => bail!("give --summary, or --transactions with --format"),
            }
        }
    }
}

impl From<Format> for TransactionFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::Cdnow => TransactionFormat::Cdnow,
            Format::Csv => TransactionFormat::Csv,
        }
    }
}

/// Becomes `rapport-job run <args>`, as `cargo foo` runs `cargo-foo`: the job lives in
/// its own binary so that the models link no AWS SDK.
fn run_job(args: &RunArgs) -> Result<()> {
    const JOB: &str = "rapport-job";
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(JOB)))
        .filter(|path| path.is_file());
    let program = beside.map_or_else(|| std::ffi::OsString::from(JOB), |p| p.into_os_string());
    let mut command = std::process::Command::new(&program);
    command.arg("run").args(&args.args);
    let not_found = || {
        format!(
            "`rapport-score run` is `{JOB} run`, which was found neither beside this binary \
             nor on the PATH (cargo build -p rapport-job)"
        )
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // exec only returns on failure; on success this process is the job.
        let error = command.exec();
        Err(error).with_context(not_found)
    }
    #[cfg(not(unix))]
    {
        let status = command.status().with_context(not_found)?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// Phase-by-phase progress on stderr, shown only to a person at a terminal.
struct Progress(ProgressBar);

impl Progress {
    fn new(phases: u64) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(phases),
            if std::io::stderr().is_terminal() {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{bar:20}] {pos}/{len} {msg} ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    fn phase(&self, message: &'static str) {
        self.0.set_message(message);
    }

    fn done(&self) {
        self.0.inc(1);
    }

    fn finish(self) {
        self.0.finish_and_clear();
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn run_evaluate(
    path: &Path,
    format: TransactionFormat,
    calibration_end: NaiveDate,
    holdout_end: NaiveDate,
    json: bool,
) -> Result<()> {
    let progress = Progress::new(2);
    progress.phase("reading transactions");
    let transactions = io::read_transactions(&read(path)?, format)
        .with_context(|| format!("{}", path.display()))?;
    progress.done();
    progress.phase("fitting and backtesting");
    let evaluation = evaluate(&transactions, calibration_end, holdout_end)?;
    progress.done();
    progress.finish();
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&evaluation)?)
    } else {
        render_evaluation(&evaluation)
    };
    emit(&text)
}

/// Writes `text` to stdout; a reader that went away (`| head`) just ends the output.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

fn render_evaluation(e: &Evaluation) -> String {
    let mut lines: Vec<String> = Vec::new();
    let auc = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"));
    let h = &e.holdout;
    lines.push(format!(
        "customers {} | calibration to {} | holdout to {} ({:.1} weeks)",
        e.customers, e.calibration_end, e.holdout_end, e.holdout_weeks
    ));
    lines.push(String::new());
    lines.push(format!(
        "BG/NBD        r {:.5}  alpha {:.5}  a {:.5}  b {:.5}  log-likelihood {:.2}",
        e.bgnbd.r, e.bgnbd.alpha, e.bgnbd.a, e.bgnbd.b, e.bgnbd.log_likelihood
    ));
    lines.push(format!(
        "Gamma-Gamma   p {:.4}  q {:.4}  gamma {:.4}  on {} repeat customers",
        e.gamma_gamma.p, e.gamma_gamma.q, e.gamma_gamma.gamma, e.gamma_gamma.customers
    ));
    if let Some(churn) = &e.churn {
        lines.push(format!(
            "churn model   window {:.1} weeks, trained at {} on {} customers ({:.1} % churned)",
            churn.window_weeks,
            churn.training_cutoff,
            churn.training_customers,
            100.0 * churn.training_churn_rate
        ));
    }
    if let Some(recent) = &e.recent_rate {
        lines.push(format!(
            "recent rate   memory {:.0} weeks, chosen at {} on {} customers ({:.1}-week window)",
            recent.memory_weeks,
            recent.training_cutoff,
            recent.training_customers,
            recent.window_weeks
        ));
    }
    for fallback in &e.fallbacks {
        lines.push(format!("fallback      {fallback}"));
    }
    lines.push(String::new());
    let b = &h.bgnbd_only;
    lines.push(format!(
        "{:<30} {:>14} {:>14} {:>14}",
        "holdout", "with churn", "BG/NBD only", "actual"
    ));
    lines.push(format!(
        "{:<30} {:>14.1} {:>14.1} {:>14}",
        "repeat purchases",
        h.predicted_repeat_purchases,
        b.predicted_repeat_purchases,
        h.actual_repeat_purchases
    ));
    lines.push(format!(
        "{:<30} {:>14.2} {:>14.2} {:>14.2}",
        "spend", h.predicted_spend, b.predicted_spend, h.actual_spend
    ));
    lines.push(format!(
        "{:<30} {:>14.4} {:>14.4}",
        "purchases MAE per customer", h.purchases_mae, b.purchases_mae
    ));
    lines.push(format!(
        "{:<30} {:>14.2} {:>14.2}",
        "CLV MAE per customer", h.clv_mae, b.clv_mae
    ));
    lines.push(format!(
        "{:<30} {:>14} {:>14}",
        "churn AUC",
        auc(h.churn_auc),
        auc(b.churn_auc)
    ));
    lines.push(format!(
        "{:<30} {:>14}",
        "churn AUC of 1 - P(alive)",
        auc(h.one_minus_p_alive_auc)
    ));
    lines.push(format!(
        "{:<30} {:>14.2}",
        "CLV MAE of a zero forecast", h.zero_forecast_clv_mae
    ));
    lines.push(format!(
        "top {:.1} % by CLV ({} customers) bring {:.1} % of holdout revenue",
        100.0 * e.pareto.top_share_customers,
        e.pareto.top_customers,
        100.0 * e.pareto.revenue_share
    ));
    lines.push(String::new());
    let value = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
    };
    lines.push(format!(
        "{:<16} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "holdout spend",
        "RMSE",
        "MAE",
        "total %",
        "gini",
        "spearman",
        "top 10%",
        "top 20%",
        "dec MAPE"
    ));
    for (name, m) in &e.clv_metrics.entries {
        lines.push(format!(
            "{:<16} {:>9.2} {:>9.2} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
            name,
            m.rmse,
            m.mae,
            value(m.total_error_pct, 1),
            value(m.normalized_gini, 3),
            value(m.spearman, 3),
            value(m.top_decile_capture, 3),
            value(m.top20_capture, 3),
            value(m.decile_mape, 3)
        ));
    }
    lines.push(format!("chosen: {}", e.clv_metrics.chosen));
    for (name, lead) in &e.clv_metrics.chosen_lead {
        lines.push(format!(
            "  lead over {name:<14} gini {:+.4} ± {:.4}  top 20% {:+.4} ± {:.4}",
            lead.gini, lead.gini_se, lead.top20, lead.top20_se
        ));
    }
    lines.push(String::new());
    let n = &e.next_order;
    lines.push(format!(
        "next order: {} customers bought in the holdout ({} with one purchase day; shop's \
         median gap {} days); errors in days against their first holdout purchase",
        n.customers,
        n.one_time_buyers,
        value(n.shop_gap_days, 1)
    ));
    lines.push(format!(
        "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "next order", "MAE", "median", "mean", "spearman", "repeat", "one-time"
    ));
    for (name, m) in &n.entries {
        lines.push(format!(
            "{:<18} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            name,
            value(m.mae_days, 1),
            value(m.median_absolute_error_days, 1),
            value(m.mean_error_days, 1),
            value(m.spearman, 3),
            value(m.repeat_buyers_mae_days, 1),
            value(m.one_time_buyers_mae_days, 1)
        ));
    }
    lines.push(format!("chosen: {}", n.chosen));
    let segments: Vec<String> = e
        .segments
        .iter()
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    lines.push(format!("segments: {}", segments.join(", ")));
    lines.push(format!("modelling time {:.3} s", e.seconds));
    lines.push(String::new());
    lines.join("\n")
}

/// Where the scores go, and the model scored with or saved.
struct Saving<'a> {
    out: &'a Path,
    stored: Option<&'a Path>,
    save_model: Option<&'a Path>,
}

/// The key `score --transactions --save-model` adds to the saved model: the next-order
/// method the shop's backtest chose, which scoring with `--model` forecasts by.
const NEXT_ORDER_KEY: &str = "next_order_method";

impl Saving<'_> {
    /// The saved model to score with, when one was given, and the next-order method saved
    /// with it, if any.
    fn stored_model(&self) -> Result<Option<(ScoringModel, Option<NextOrderMethod>)>> {
        let Some(path) = self.stored else {
            return Ok(None);
        };
        let not_a_model = || format!("{} is not a saved scoring model", path.display());
        let mut saved: serde_json::Value =
            serde_json::from_slice(&read(path)?).with_context(not_a_model)?;
        let method = (saved.as_object_mut())
            .and_then(|fields| fields.remove(NEXT_ORDER_KEY))
            .map(serde_json::from_value)
            .transpose()
            .with_context(not_a_model)?;
        let model = serde_json::from_value(saved).with_context(not_a_model)?;
        Ok(Some((model, method)))
    }

    fn create_out(&self) -> Result<BufWriter<File>> {
        let file = File::create(self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        Ok(BufWriter::with_capacity(1 << 20, file))
    }

    fn written(&self, result: std::io::Result<()>) -> Result<()> {
        result.with_context(|| format!("cannot write {}", self.out.display()))
    }

    /// Saves `model`, with the next-order method its backtest chose when there is one.
    fn save(&self, model: &ScoringModel, method: Option<NextOrderMethod>) -> Result<()> {
        if let Some(path) = self.save_model {
            let mut saved = serde_json::to_value(model)?;
            if let (Some(fields), Some(method)) = (saved.as_object_mut(), method) {
                fields.insert(NEXT_ORDER_KEY.to_owned(), serde_json::to_value(method)?);
            }
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            serde_json::to_writer_pretty(BufWriter::new(file), &saved)?;
        }
        Ok(())
    }
}

fn run_score(summary: &Path, settings: ScoreParams, saving: &Saving<'_>) -> Result<()> {
    let started = Instant::now();
    let progress = Progress::new(3);
    progress.phase("reading summaries");
    let table =
        io::read_summaries(&read(summary)?).with_context(|| format!("{}", summary.display()))?;
    progress.done();
    progress.phase("fitting and scoring");
    let (model, scores) = match saving.stored_model()? {
        Some((model, _)) => {
            let kind = model.count.kind();
            if kind.needs_histories() {
                bail!(
                    "{} is a {kind} model, which scores each customer from their purchase \
                     history; a summary file does not hold it (score --transactions does)",
                    saving.stored.unwrap_or(summary).display()
                );
            }
            let scores = model.score(&table.summaries)?;
            (model, scores)
        }
        None => {
            let scored = settings.fit(&table.summaries, None)?;
            (scored.model, scored.scores)
        }
    };
    progress.done();
    progress.phase("writing scores");
    saving.written(io::write_scores(saving.create_out()?, &table.ids, &scores))?;
    saving.save(&model, None)?;
    progress.done();
    progress.finish();
    let fallbacks = estimation_fallbacks(&model);
    report_scores(&model, &scores, started, &fallbacks);
    Ok(())
}

/// An order export to score as a shop, and how.
struct Shop<'a> {
    path: &'a Path,
    format: TransactionFormat,
    as_of: Option<NaiveDate>,
    /// The most customers fitted on.
    fit_sample: usize,
}

/// Scores a transactions file as the scheduled job scores a shop (see
/// `rapport_models::shop`), or with a saved model; each customer's next order too.
fn run_score_transactions(shop: &Shop<'_>, params: ShopParams, saving: &Saving<'_>) -> Result<()> {
    let Shop {
        path,
        format,
        as_of,
        fit_sample,
    } = *shop;
    let started = Instant::now();
    let progress = Progress::new(3);
    progress.phase("reading transactions");
    let transactions = io::read_transactions(&read(path)?, format)
        .with_context(|| format!("{}", path.display()))?;
    let Some(today) = as_of.or_else(|| transactions.last_purchase()) else {
        bail!("{} holds no purchase", path.display());
    };
    let cohort = transactions.cohort_at(today);
    if cohort.members.is_empty() {
        bail!("nobody in {} had bought by {today}", path.display());
    }
    progress.done();
    progress.phase("backtesting, fitting and scoring");
    let (model, scores, next_orders, mut notes) = match saving.stored_model()? {
        Some((model, method)) => {
            let scores = model.score_cohort(&cohort)?;
            // The method the saved shop's backtest chose; a model saved from summaries
            // kept none, and forecasts by its own.
            let next_orders = model
                .next_order_forecaster(method.unwrap_or_default(), shop_median_gap_weeks(&cohort));
            let note = format!(
                "model: {} as saved in {}, next orders by {}",
                model.count.kind(),
                saving.stored.unwrap_or(path).display(),
                next_orders.method.as_str()
            );
            let mut notes = vec![note];
            notes.extend(estimation_fallbacks(&model));
            (model, scores, next_orders, notes)
        }
        None => {
            // Fitted on the job's sample of a large shop, every customer scored with it.
            let sample = (transactions.len() > fit_sample).then(|| transactions.sample(fit_sample));
            let fitted_on = sample.as_ref().unwrap_or(&transactions);
            let backtest = params.backtest(fitted_on, today);
            let fit = params.fit(fitted_on, &backtest, today)?;
            let mut notes = vec![format!("model: {}, {}", fit.kind, fit.why)];
            notes.extend(fit.fallbacks.iter().map(|f| format!("fallback: {f}")));
            let scores = match &sample {
                Some(sample) => {
                    notes.push(format!(
                        "fitted on a sample of {} of the {} customers (--fit-sample {fit_sample})",
                        sample.len(),
                        transactions.len()
                    ));
                    fit.scored.model.score_cohort(&cohort)?
                }
                None => fit.scored.scores,
            };
            (fit.scored.model, scores, fit.next_orders, notes)
        }
    };
    let next: Vec<Option<NextOrder>> = (cohort.members.iter().zip(&cohort.summaries))
        .map(|(member, s)| next_orders.forecast(s, &member.gaps_at(today)).ok())
        .collect();
    let ids: CustomerIds = cohort.members.iter().map(|m| m.id()).collect();
    progress.done();
    progress.phase("writing scores");
    saving.written(io::write_scores_with_next_orders(
        saving.create_out()?,
        &ids,
        &scores,
        &next,
        today,
    ))?;
    saving.save(&model, Some(next_orders.method))?;
    progress.done();
    progress.finish();
    notes.insert(0, format!("as of {today}"));
    report_scores(&model, &scores, started, &notes);
    Ok(())
}

/// What the fits of `model` did not estimate from the data, one line each.
fn estimation_fallbacks(model: &ScoringModel) -> Vec<String> {
    [
        ("bg/nbd", model.bgnbd.estimation.fallback_reason()),
        (
            "gamma-gamma",
            model.gamma_gamma.estimation.fallback_reason(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, reason)| reason.map(|reason| format!("{name} fallback: {reason}")))
    .collect()
}

/// The fit's parameters, the Pareto share and the segments' sizes on stderr, then
/// `notes`, one a line.
fn report_scores(
    model: &ScoringModel,
    scores: &[CustomerScore],
    started: Instant,
    notes: &[String],
) {
    let p = model.bgnbd.parameters;
    let g = model.gamma_gamma.parameters;
    let clv: Vec<f64> = scores.iter().map(|s| s.clv).collect();
    let pareto = metrics::pareto(&clv, &clv, PARETO_SHARE);
    let counts: Vec<String> = Segment::ALL
        .iter()
        .map(|segment| {
            format!(
                "{segment} {}",
                scores.iter().filter(|s| s.segment == *segment).count()
            )
        })
        .collect();
    let summary = format!(
        "scored {} customers in {:.3} s | BG/NBD r {:.4} alpha {:.4} a {:.4} b {:.4} | Gamma-Gamma p {:.4} q {:.4} gamma {:.4}",
        scores.len(),
        started.elapsed().as_secs_f64(),
        p.r,
        p.alpha,
        p.a,
        p.b,
        g.p,
        g.q,
        g.gamma
    );
    let shares = format!(
        "top {:.0} % by CLV hold {:.1} % of expected revenue | {}",
        100.0 * pareto.top_share_customers,
        100.0 * pareto.revenue_share,
        counts.join(", ")
    );
    let notes: String = notes.iter().map(|note| format!("\n{note}")).collect();
    // Diagnostics only: with stderr gone there is nowhere left to report a failure.
    let _ = writeln!(std::io::stderr(), "{summary}\n{shares}{notes}");
}
