//! Benchmark: simulate a shop from the BG/NBD and Gamma-Gamma generative processes,
//! time every step of fitting and scoring in process, check the fits recover the
//! generating parameters, then time the whole `rapport-score score` process on the
//! summary file, and once `score --transactions` on the same customers' purchases (the
//! job's model phase: backtest, classifier and fit on its sample, everyone scored); wall
//! time and peak memory through `/usr/bin/time -v` when installed.
//!
//! `cargo bench -p rapport-models --bench score -- --customers 1000000`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use rapport_models::io::{self, CustomerIds};
use rapport_models::simulate::Simulation;
use rapport_models::{
    BgNbd, BgNbdCoefficients, ChurnModel, CountModelKind, FittedBgNbd, FittedGammaGamma,
    GammaGamma, GammaGammaCoefficients, Hybrid, ParetoNbd, RecentRate, RfmSummary, ScoreParams,
};

const TRUTH: BgNbdCoefficients = BgNbdCoefficients {
    r: 0.24,
    alpha: 4.4,
    a: 0.79,
    b: 2.43,
};
const SPEND: GammaGammaCoefficients = GammaGammaCoefficients {
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
};

fn main() {
    let customers = customers_argument().unwrap_or(1_000_000);
    let (start, end) = (date(2023, 1, 1), date(2024, 12, 31));
    println!(
        "## {customers} simulated customers, first purchases {start} to {end}, scored at {end}\n"
    );

    let clock = Instant::now();
    let shop = Simulation::new(TRUTH, start, end)
        .spend(SPEND)
        .seed(2024)
        .transactions(customers)
        .expect("simulation");
    let cohort = shop.cohort_at(end);
    let summaries = cohort.summaries.clone();
    let ids: CustomerIds = cohort.members.iter().map(|c| c.id()).collect();
    drop(cohort);
    println!(
        "simulated in {:.2} s (not part of the timings)\n",
        clock.elapsed().as_secs_f64()
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).expect("bench directory");
    let summary_path = dir.join(format!("summary_{customers}.csv"));
    write_summary(&summary_path, &ids, &summaries);

    println!("| step (in process) | seconds |\n|---|---|");
    let data = std::fs::read(&summary_path).expect("summary file");
    let parsed = timed("parse summary CSV", || {
        io::read_summaries(&data).expect("summary parses")
    });
    drop(data);
    let bgnbd = timed("fit BG/NBD", || {
        BgNbd::fit(&parsed.summaries).expect("BG/NBD fits")
    });
    let gamma_gamma = timed("fit Gamma-Gamma", || {
        GammaGamma::fit(&parsed.summaries).expect("Gamma-Gamma fits")
    });
    let scored = timed("fit both + score everyone (ScoreParams::fit)", || {
        ScoreParams::default()
            .fit(&parsed.summaries, None)
            .expect("scoring")
    });
    timed("write scores CSV", || {
        let file = std::fs::File::create(dir.join("scores.csv")).expect("output file");
        io::write_scores(std::io::BufWriter::new(file), &parsed.ids, &scored.scores)
            .expect("scores write");
    });
    // The job's default, `bgnbd_churn`: the churn classifier trained on the shop's
    // time split (a 13-week window, the job's default churn window) gives each
    // customer's risk and the forecast's P(no purchase in the window).
    let churn = timed("train the churn classifier (ChurnModel::fit)", || {
        ChurnModel::params()
            .max_window_weeks(13.0)
            .fit(&shop, end)
            .expect("the classifier trains")
    });
    let classified = timed(
        "fit both + score everyone with the classifier (the job's default)",
        || {
            ScoreParams::default()
                .fit(&parsed.summaries, Some(churn))
                .expect("scoring with the classifier")
        },
    );
    assert_eq!(classified.scores.len(), scored.scores.len());
    drop(classified);
    // When a shop's backtest chooses the hybrid: its correction is trained on the
    // shop's time split (a 13-week window, the job's default churn window), and it
    // scores from each customer's history.
    let correction = timed("train the hybrid's correction (Hybrid::fit)", || {
        Hybrid::params()
            .max_window_weeks(13.0)
            .fit(&shop, end)
            .expect("the hybrid trains")
    });
    let cohort = shop.cohort_at(end);
    let hybrid = timed(
        "fit both + score everyone with the hybrid (fit_cohort)",
        || {
            ScoreParams::default()
                .count_model(CountModelKind::Hybrid)
                .fit_cohort(&cohort, None, Some(correction.into()))
                .expect("hybrid scoring")
        },
    );
    assert_eq!(hybrid.scores.len(), scored.scores.len());
    drop(hybrid);
    // When it chooses the recent rate: its memory is chosen on the same split, and it
    // scores from each customer's history.
    let memory = timed("choose the recent rate's memory (RecentRate::fit)", || {
        RecentRate::params()
            .max_window_weeks(13.0)
            .fit(&shop, end)
            .expect("the memory is chosen")
    });
    let recent = timed(
        "fit both + score everyone with the recent rate (fit_cohort)",
        || {
            ScoreParams::default()
                .count_model(CountModelKind::RecentRate)
                .fit_cohort(&cohort, None, Some(memory.into()))
                .expect("recent-rate scoring")
        },
    );
    assert_eq!(recent.scores.len(), scored.scores.len());
    drop((recent, cohort));
    let transactions_path = dir.join(format!("transactions_{customers}.csv"));
    write_transactions(&transactions_path, &shop);
    drop(shop);
    // Not part of scoring: the backtest fits it to compare its forecast (clv_metrics).
    let pareto_nbd = timed("fit Pareto/NBD (backtest comparison only)", || {
        ParetoNbd::fit(&parsed.summaries).expect("Pareto/NBD fits")
    });
    println!(
        "\nPareto/NBD: {} L-BFGS iterations, r {:.4}, alpha {:.4}, s {:.4}, beta {:.4} (data drawn from BG/NBD)",
        pareto_nbd.iterations,
        pareto_nbd.parameters.r,
        pareto_nbd.parameters.alpha,
        pareto_nbd.parameters.s,
        pareto_nbd.parameters.beta
    );

    println!("\n### Recovery from day-resolution histories (the summary file above)\n");
    recovery_table(&bgnbd, &gamma_gamma);

    // The same customers in continuous time: what the model itself describes.
    let exact = Simulation::new(TRUTH, start, end)
        .spend(SPEND)
        .seed(2024)
        .exact_summaries(customers)
        .expect("simulation");
    println!("\n### Recovery from the same customers in continuous time (no day buckets)\n");
    let exact_bgnbd = timed("fit BG/NBD (continuous time)", || {
        BgNbd::fit(&exact).expect("BG/NBD fits")
    });
    let exact_spend = timed("fit Gamma-Gamma (continuous time)", || {
        GammaGamma::fit(&exact).expect("Gamma-Gamma fits")
    });
    println!();
    recovery_table(&exact_bgnbd, &exact_spend);
    let repeats = |summaries: &[RfmSummary]| summaries.iter().map(|s| s.frequency).sum::<f64>();
    let (exact_repeats, day_repeats) = (repeats(&exact), repeats(&parsed.summaries));
    println!(
        "\nDay buckets kept {day_repeats:.0} of {exact_repeats:.0} repeat purchases ({:.2} % merged into a \
         purchase on the same day), the bias the first table shows.",
        100.0 * (1.0 - day_repeats / exact_repeats)
    );

    let out = dir.join("scores_cli.csv");
    let (summary, out) = (
        summary_path.to_str().expect("utf-8 path"),
        out.to_str().expect("utf-8 path"),
    );
    whole_process(&["score", "--summary", summary, "--out", out], 3);
    // The job's whole model phase from an order export: the backtest, the classifier
    // and the chosen model fitted on the job's sample, every customer scored.
    let transactions = transactions_path.to_str().expect("utf-8 path");
    whole_process(
        &[
            "score",
            "--transactions",
            transactions,
            "--format",
            "csv",
            "--out",
            out,
        ],
        1,
    );
}

/// Every purchase day of `shop` as `evaluate`'s and `score --transactions`' CSV.
fn write_transactions(path: &Path, shop: &rapport_models::Transactions) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("transactions file");
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "customer_id,timestamp,amount").expect("write");
    for customer in shop.customers() {
        for day in customer.purchase_days() {
            let date = day.date().expect("a calendar day");
            writeln!(out, "{},{date},{:.2}", customer.id(), day.amount).expect("write");
        }
    }
    out.flush().expect("flush");
}

fn recovery_table(bgnbd: &FittedBgNbd, gamma_gamma: &FittedGammaGamma) {
    println!(
        "| parameter | truth | estimate | standard error | |estimate − truth| / SE |\n|---|---|---|---|---|"
    );
    let se = bgnbd
        .standard_errors
        .expect("BG/NBD information is invertible");
    let p = bgnbd.parameters;
    let spend_se = gamma_gamma
        .standard_errors
        .expect("Gamma-Gamma information is invertible");
    let g = gamma_gamma.parameters;
    for (name, truth, estimate, error) in [
        ("r", TRUTH.r, p.r, se.r),
        ("alpha", TRUTH.alpha, p.alpha, se.alpha),
        ("a", TRUTH.a, p.a, se.a),
        ("b", TRUTH.b, p.b, se.b),
        ("p", SPEND.p, g.p, spend_se.p),
        ("q", SPEND.q, g.q, spend_se.q),
        ("gamma", SPEND.gamma, g.gamma, spend_se.gamma),
    ] {
        println!(
            "| {name} | {truth} | {estimate:.5} | {error:.5} | {:.2} |",
            (estimate - truth).abs() / error
        );
    }
    println!(
        "\nBG/NBD: {} L-BFGS iterations, log-likelihood {:.2}; Gamma-Gamma: {} iterations on {} repeat customers",
        bgnbd.iterations, bgnbd.log_likelihood, gamma_gamma.iterations, gamma_gamma.customers
    );
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

/// `--customers N`; cargo's own arguments (`--bench`) are ignored.
fn customers_argument() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let position = args.iter().position(|a| a == "--customers")?;
    let value = args.get(position + 1)?;
    Some(
        value
            .replace('_', "")
            .parse()
            .expect("--customers takes a number"),
    )
}

fn timed<T>(label: &str, work: impl FnOnce() -> T) -> T {
    let clock = Instant::now();
    let result = work();
    println!("| {label} | {:.3} |", clock.elapsed().as_secs_f64());
    result
}

fn write_summary(path: &Path, ids: &CustomerIds, summaries: &[RfmSummary]) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("summary file");
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "customer_id,frequency,recency,T,monetary_value").expect("write");
    for (id, s) in ids.iter().zip(summaries) {
        writeln!(
            out,
            "{id},{},{:.6},{:.6},{:.2}",
            s.frequency, s.recency, s.age, s.monetary
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

/// Times `rapport-score` with `args` as a user would run it, `runs` times.
fn whole_process(args: &[&str], runs: usize) {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_rapport-score"));
    let time = Path::new("/usr/bin/time");
    println!("\n`{} {}`\n", binary.display(), args.join(" "));
    for run in 1..=runs {
        let clock = Instant::now();
        let output = if time.exists() {
            Command::new(time)
                .arg("-v")
                .arg(&binary)
                .args(args)
                .output()
        } else {
            Command::new(&binary).args(args).output()
        }
        .expect("rapport-score runs");
        let wall = clock.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "rapport-score failed: {stderr}");
        let peak = stderr
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("Maximum resident set size (kbytes): ")
            })
            .and_then(|kb| kb.trim().parse::<f64>().ok())
            .map_or_else(
                || "n/a (install `time`)".to_owned(),
                |kb| format!("{:.0} MB", kb / 1024.0),
            );
        println!("run {run}: wall {wall:.3} s, peak memory {peak}");
    }
}
