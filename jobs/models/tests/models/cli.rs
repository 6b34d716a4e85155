//! The `rapport-score` binary end to end: JSON backtest, scoring a summary file, saved
//! models, and clear errors on malformed input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::NaiveDate;
use rapport_models::io::{TransactionFormat, read_transactions};

use crate::support;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rapport-score-cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write(name: &str, contents: &[u8]) -> PathBuf {
    let path = scratch(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport-score"))
        .args(args)
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `score --transactions FILE --format cdnow --out OUT`, then `extra`.
fn score_cdnow_args<'a>(file: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "score",
        "--transactions",
        path(file),
        "--format",
        "cdnow",
        "--out",
        path(out),
    ];
    args.extend(extra);
    args
}

/// Runs and expects failure with `message` on stderr, and no panic.
fn assert_fails_with(args: &[&str], message: &str) {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(
        stderr.contains(message),
        "stderr lacks {message:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn evaluate_args(file: &Path, format: &str) -> Vec<String> {
    [
        "evaluate",
        "--transactions",
        path(file),
        "--format",
        format,
        "--calibration-end",
        "1997-09-30",
        "--holdout-end",
        "1998-06-30",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn evaluate_prints_the_backtest_as_json() {
    let sample = write(
        "CDNOW_sample.txt",
        &support::lifetimes_dataset("CDNOW_sample.txt"),
    );
    let mut args = evaluate_args(&sample, "cdnow");
    args.push("--json".into());
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["customers"], 2357);
    for key in ["r", "alpha", "a", "b", "log_likelihood"] {
        assert!(json["bgnbd"][key].is_f64(), "bgnbd.{key}");
    }
    for key in ["p", "q", "gamma"] {
        assert!(json["gamma_gamma"][key].is_f64(), "gamma_gamma.{key}");
    }
    assert_eq!(json["gamma_gamma"]["customers"], 946);
    let holdout = &json["holdout"];
    assert_eq!(holdout["actual_repeat_purchases"], 1882);
    for key in [
        "predicted_repeat_purchases",
        "purchases_mae",
        "churn_auc",
        "clv_mae",
        "actual_spend",
        "predicted_spend",
    ] {
        assert!(holdout[key].is_f64(), "holdout.{key}");
    }
    assert!(
        json["pareto"]["top_share_customers"].is_f64() && json["pareto"]["revenue_share"].is_f64()
    );
    assert!(json["seconds"].as_f64().unwrap() > 0.0);
    let clv = &json["clv_metrics"];
    for name in [
        "bgnbd",
        "bgnbd_churn",
        "pareto_nbd",
        "mbgnbd",
        "value_model",
        "hybrid",
        "recent_rate",
        "zero_forecast",
        "last_period",
    ] {
        for key in [
            "rmse",
            "mae",
            "total_error_pct",
            "top_decile_capture",
            "top20_capture",
        ] {
            assert!(clv[name][key].is_f64(), "clv_metrics.{name}.{key}");
        }
    }
    // The chosen forecast's lead over the others, with its standard error.
    for key in ["gini", "gini_se", "top20", "top20_se"] {
        assert!(
            clv["chosen_lead"]["last_period"][key].is_f64(),
            "clv_metrics.chosen_lead.last_period.{key}"
        );
    }
    // The zero forecast misses the whole total and ranks nobody.
    assert_eq!(clv["zero_forecast"]["total_error_pct"], -100.0);
    assert!(clv["zero_forecast"]["spearman"].is_null());
    for name in [
        "bgnbd",
        "bgnbd_churn",
        "pareto_nbd",
        "mbgnbd",
        "value_model",
        "hybrid",
        "recent_rate",
        "last_period",
    ] {
        let gini = clv[name]["normalized_gini"].as_f64().unwrap();
        assert!(gini > 0.0 && gini <= 1.0, "{name}: {gini}");
    }
    assert!(
        rapport_models::evaluate::ClvComparison::CANDIDATES
            .contains(&clv["chosen"].as_str().unwrap())
    );
    let next_order = &json["next_order"];
    assert_eq!(next_order["customers"], 684);
    assert_eq!(next_order["one_time_buyers"], 193);
    assert!(next_order["shop_gap_days"].is_f64());
    for name in [
        "model",
        "own_gaps",
        "last_gap",
        "mean_gap",
        "model_unbounded",
        "hindsight_median",
    ] {
        for key in [
            "mae_days",
            "median_absolute_error_days",
            "mean_error_days",
            "repeat_buyers_mae_days",
            "one_time_buyers_mae_days",
        ] {
            assert!(next_order[name][key].is_f64(), "next_order.{name}.{key}");
        }
    }
    assert!(next_order["hindsight_median"]["spearman"].is_null());
    assert!(["model", "own_gaps"].contains(&next_order["chosen"].as_str().unwrap()));
    let value = &json["value_model"];
    assert_eq!(value["training_cutoff"], "1997-05-17");
    for key in [
        "window_weeks",
        "training_spender_rate",
        "sigma",
        "ln_sigma_slope",
        "seconds",
    ] {
        assert!(value[key].is_f64(), "value_model.{key}");
    }
    let hybrid = &json["hybrid"];
    assert_eq!(hybrid["training_cutoff"], "1997-05-17");
    for key in ["window_weeks", "level", "seconds"] {
        assert!(hybrid[key].is_f64(), "hybrid.{key}");
    }
    let recent = &json["recent_rate"];
    assert_eq!(recent["training_cutoff"], "1997-05-17");
    for key in ["memory_weeks", "window_weeks", "seconds"] {
        assert!(recent[key].is_f64(), "recent_rate.{key}");
    }
    assert!(json["fallbacks"].as_array().unwrap().is_empty());

    let table = run(&evaluate_args(&sample, "cdnow")
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("churn AUC") && text.contains("r 0.24259") && text.contains("last_period"),
        "{text}"
    );
    assert!(
        text.contains("next order: 684 customers") && text.contains("own_gaps"),
        "{text}"
    );
    assert!(
        text.contains("recent rate   memory 13 weeks, chosen at 1997-05-17 on"),
        "{text}"
    );
}

#[test]
fn evaluate_reads_csv_transactions() {
    // The sample again, as customer_id,timestamp,amount.
    let transactions = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let mut csv = String::from("timestamp,customer_id,amount\n");
    for customer in transactions.customers() {
        for day in customer.purchase_days() {
            csv.push_str(&format!(
                "{}T12:00:00+01:00,{},{}\n",
                day.date().unwrap(),
                customer.id(),
                day.amount
            ));
        }
    }
    let file = write("sample.csv", csv.as_bytes());
    let mut args = evaluate_args(&file, "csv");
    args.push("--json".into());
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!((json["bgnbd"]["log_likelihood"].as_f64().unwrap() + 9582.43).abs() < 0.05);
}

fn sample_summary_file() -> PathBuf {
    let transactions = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let cohort = transactions.cohort_at(NaiveDate::from_ymd_opt(1997, 9, 30).unwrap());
    let mut csv = String::from("customer_id,frequency,recency,T,monetary_value\n");
    for (customer, s) in cohort.members.iter().zip(&cohort.summaries) {
        csv.push_str(&format!(
            "{},{},{},{},{}\n",
            customer.id(),
            s.frequency,
            s.recency,
            s.age,
            s.monetary
        ));
    }
    write("sample_summary.csv", csv.as_bytes())
}

#[test]
fn score_writes_one_row_per_customer_and_reuses_a_saved_model() {
    let summary = sample_summary_file();
    let (out, model) = (scratch("scores.csv"), scratch("model.json"));
    let output = run(&[
        "score",
        "--summary",
        path(&summary),
        "--out",
        path(&out),
        "--save-model",
        path(&model),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scores = std::fs::read_to_string(&out).unwrap();
    let mut lines = scores.lines();
    assert_eq!(
        lines.next(),
        Some("customer_id,p_alive,expected_purchases,churn_risk,clv,segment")
    );
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), 2357);
    for row in &rows {
        let value = |i: usize| row[i].parse::<f64>().unwrap();
        assert!(
            (0.0..=1.0).contains(&value(1))
                && value(2) >= 0.0
                && (0.0..=1.0).contains(&value(3))
                && value(4) >= 0.0
        );
        assert!(
            ["vip", "new", "at_risk", "lost", "active"].contains(&row[5]),
            "{row:?}"
        );
    }
    let vip = rows.iter().filter(|row| row[5] == "vip").count();
    assert!((472..=480).contains(&vip), "{vip} vip");

    let again = scratch("scores_again.csv");
    let output = run(&[
        "score",
        "--summary",
        path(&summary),
        "--out",
        path(&again),
        "--model",
        path(&model),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read_to_string(&again).unwrap(), scores);
}

#[test]
fn a_saved_hybrid_model_does_not_score_a_summary_file() {
    use rapport_models::{CountModelKind, Hybrid, ScoreParams};
    let transactions = read_transactions(
        &support::lifetimes_dataset("CDNOW_sample.txt"),
        TransactionFormat::Cdnow,
    )
    .unwrap();
    let cutoff = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    let correction = Hybrid::params().fit(&transactions, cutoff).unwrap();
    let scored = ScoreParams::default()
        .count_model(CountModelKind::Hybrid)
        .fit_cohort(
            &transactions.cohort_at(cutoff),
            None,
            Some(correction.into()),
        )
        .unwrap();
    let model = write(
        "hybrid_model.json",
        &serde_json::to_vec(&scored.model).unwrap(),
    );
    let summary = sample_summary_file();
    let out = scratch("hybrid_scores.csv");
    let _ = std::fs::remove_file(&out);
    assert_fails_with(
        &[
            "score",
            "--summary",
            path(&summary),
            "--out",
            path(&out),
            "--model",
            path(&model),
        ],
        "is a hybrid model, which scores each customer from their purchase history",
    );
    assert!(!out.exists());
}

#[test]
fn malformed_input_fails_with_the_line_number() {
    let out = scratch("never.csv");
    let bad_date = write(
        "bad_date.csv",
        b"customer_id,timestamp,amount\na,2024-01-01,5\nb,2024-13-01,5\n",
    );
    let mut args = evaluate_args(&bad_date, "csv");
    assert_fails_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "line 3: bad timestamp '2024-13-01'",
    );

    let negative = write(
        "negative.txt",
        b" 00001 0001 19970101  1   11.77\r\n 00001 0001 19970102  1   -3.00\r\n",
    );
    args = evaluate_args(&negative, "cdnow");
    assert_fails_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "line 2: negative amount",
    );

    let empty = write("empty.csv", b"");
    assert_fails_with(
        &["score", "--summary", path(&empty), "--out", path(&out)],
        "the input is empty",
    );

    let missing = write("missing.csv", b"customer_id,frequency,recency,T\n1,0,0,5\n");
    assert_fails_with(
        &["score", "--summary", path(&missing), "--out", path(&out)],
        "line 1: missing column 'monetary_value'",
    );

    let bad_row = write(
        "bad_row.csv",
        b"customer_id,frequency,recency,T,monetary_value\n1,0,0,5,0\n2,1,9,5,3\n",
    );
    assert_fails_with(
        &["score", "--summary", path(&bad_row), "--out", path(&out)],
        "line 3: recency 9 is after the cutoff",
    );

    assert_fails_with(
        &[
            "score",
            "--summary",
            "/nonexistent/summary.csv",
            "--out",
            path(&out),
        ],
        "cannot read /nonexistent/summary.csv",
    );
    args = evaluate_args(&bad_date, "csv");
    args[6] = "1997-02-30".into();
    assert_fails_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "invalid value '1997-02-30'",
    );
}

#[test]
fn score_reports_the_fallback_of_a_shop_too_small_to_fit() {
    let summary = write(
        "tiny_summary.csv",
        b"customer_id,frequency,recency,T,monetary_value\na,2,20,40,10\nb,0,0,30,0\nc,0,0,10,0\n",
    );
    let out = scratch("tiny_scores.csv");
    let output = run(&["score", "--summary", path(&summary), "--out", path(&out)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("bg/nbd fallback: 1 of 3 customers bought more than once")
            && stderr.contains("gamma-gamma fallback"),
        "{stderr}"
    );
    let scores = std::fs::read_to_string(&out).unwrap();
    assert_eq!(scores.lines().count(), 4);
}

/// The first six columns of a scores file, and the rest of each row.
fn score_columns(scores: &str) -> (Vec<String>, Vec<String>) {
    scores
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[..6].join(","), fields[6..].join(","))
        })
        .unzip()
}

#[test]
fn score_transactions_scores_as_the_job_does_with_next_orders() {
    use rapport_models::{CountModelKind, Hybrid, ScoreParams, ShopParams};
    let data = support::lifetimes_dataset("CDNOW_sample.txt");
    let file = write("sample_transactions.txt", &data);
    let (out, model) = (scratch("tx_scores.csv"), scratch("tx_model.json"));
    let output = run(&score_cdnow_args(
        &file,
        &out,
        &["--as-of", "1997-09-30", "--save-model", path(&model)],
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    // The library's shop fit at the same day: the backtest over the 13 weeks that just
    // ended, its choice, the classifier.
    let transactions = read_transactions(&data, TransactionFormat::Cdnow).unwrap();
    let cutoff = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    let params = ShopParams::default();
    let backtest = params.backtest(&transactions, cutoff);
    let fit = params.fit(&transactions, &backtest, cutoff).unwrap();
    assert!(
        stderr.contains(&format!("model: {}, {}", fit.kind, fit.why)),
        "{stderr}"
    );
    assert!(stderr.contains("as of 1997-09-30"), "{stderr}");
    let scores = std::fs::read_to_string(&out).unwrap();
    let mut lines = scores.lines();
    assert_eq!(
        lines.next(),
        Some(
            "customer_id,p_alive,expected_purchases,churn_risk,clv,segment,\
             next_order_on,p_order_in_horizon"
        )
    );
    let cohort = transactions.cohort_at(cutoff);
    let rows: Vec<Vec<&str>> = lines.map(|line| line.split(',').collect()).collect();
    assert_eq!(rows.len(), cohort.members.len());
    let mut dated = 0;
    let members = cohort.members.iter().zip(&cohort.summaries);
    for ((row, (member, summary)), score) in rows.iter().zip(members).zip(&fit.scored.scores) {
        assert_eq!(row[0], member.id());
        let value = |i: usize| row[i].parse::<f64>().unwrap();
        assert!((value(4) - score.clv).abs() < 1e-6, "{row:?} {score:?}");
        assert!((value(3) - score.churn_risk).abs() < 1e-6, "{row:?}");
        assert_eq!(row[5], score.segment.as_str());
        let next = (fit.next_orders)
            .forecast(summary, &member.gaps_at(cutoff))
            .unwrap();
        let on = next.date(cutoff).map(|d| d.to_string()).unwrap_or_default();
        assert_eq!(row[6], on, "{row:?}");
        if !on.is_empty() {
            assert!(on.as_str() > "1997-09-30", "{row:?}");
            dated += 1;
        }
        assert!((value(7) - next.p_order_in_horizon).abs() < 1e-6, "{row:?}");
    }
    assert!(dated > rows.len() / 2, "{dated} of {} dated", rows.len());

    // The saved model scores the file again alike, its next orders by the method the
    // backtest chose, saved with it.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(
        saved["next_order_method"],
        fit.next_orders.method.as_str(),
        "{}",
        saved["next_order_method"]
    );
    let again = scratch("tx_scores_again.csv");
    let args = |out: &Path, model: &Path| {
        run(&score_cdnow_args(
            &file,
            out,
            &["--as-of", "1997-09-30", "--model", path(model)],
        ))
    };
    let output = args(&again, &model);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(scores, std::fs::read_to_string(&again).unwrap());
    // Saved with the other method, it forecasts by that one.
    let mut own_gaps = saved.clone();
    own_gaps["next_order_method"] = "own_gaps".into();
    let own_gaps = write(
        "tx_model_own_gaps.json",
        &serde_json::to_vec(&own_gaps).unwrap(),
    );
    let output = args(&again, &own_gaps);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("next orders by own_gaps"), "{stderr}");
    let forecaster = (fit.scored.model).next_order_forecaster(
        rapport_models::NextOrderMethod::OwnGaps,
        rapport_models::next_order::shop_median_gap_weeks(&cohort),
    );
    let rescored = std::fs::read_to_string(&again).unwrap();
    let (first, _) = score_columns(&scores);
    let (second, next_orders) = score_columns(&rescored);
    assert_eq!(first, second);
    let members = cohort.members.iter().zip(&cohort.summaries);
    for (written, (member, summary)) in next_orders.iter().skip(1).zip(members) {
        let next = forecaster
            .forecast(summary, &member.gaps_at(cutoff))
            .unwrap();
        let on = next.date(cutoff).map(|d| d.to_string()).unwrap_or_default();
        assert!(written.starts_with(&format!("{on},")), "{written} {on}");
    }

    // A saved hybrid model, which a summary file cannot feed, scores transactions.
    let correction = Hybrid::params().fit(&transactions, cutoff).unwrap();
    let hybrid = ScoreParams::default()
        .count_model(CountModelKind::Hybrid)
        .fit_cohort(&cohort, None, Some(correction.into()))
        .unwrap();
    let saved = write(
        "tx_hybrid_model.json",
        &serde_json::to_vec(&hybrid.model).unwrap(),
    );
    let hybrid_out = scratch("tx_hybrid_scores.csv");
    let output = args(&hybrid_out, &saved);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("model: hybrid as saved in"), "{stderr}");
    // Saved without a backtest's choice, it forecasts by the model's own method.
    assert!(stderr.contains("next orders by model"), "{stderr}");
    let written = std::fs::read_to_string(&hybrid_out).unwrap();
    for (line, score) in written.lines().skip(1).zip(&hybrid.scores) {
        let clv: f64 = line.split(',').nth(4).unwrap().parse().unwrap();
        assert!((clv - score.clv).abs() < 1e-6, "{line} {score:?}");
    }
}

#[test]
fn score_transactions_fits_a_large_shop_on_the_jobs_sample_and_scores_everyone() {
    use rapport_models::ShopParams;
    let data = support::lifetimes_dataset("CDNOW_sample.txt");
    let file = write("sampled_transactions.txt", &data);
    let out = scratch("sampled_scores.csv");
    let output = run(&score_cdnow_args(
        &file,
        &out,
        &["--as-of", "1997-09-30", "--fit-sample", "1000"],
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("fitted on a sample of 1000 of the 2357 customers (--fit-sample 1000)"),
        "{stderr}"
    );
    // The library's shop fit on the same sample, every customer scored with it.
    let transactions = read_transactions(&data, TransactionFormat::Cdnow).unwrap();
    let cutoff = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    let sample = transactions.sample(1000);
    let params = ShopParams::default();
    let backtest = params.backtest(&sample, cutoff);
    let fit = params.fit(&sample, &backtest, cutoff).unwrap();
    assert!(
        stderr.contains(&format!("model: {}, {}", fit.kind, fit.why)),
        "{stderr}"
    );
    let cohort = transactions.cohort_at(cutoff);
    let expected = fit.scored.model.score_cohort(&cohort).unwrap();
    let scores = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = (scores.lines().skip(1))
        .map(|line| line.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2357);
    for ((row, member), score) in rows.iter().zip(&cohort.members).zip(&expected) {
        assert_eq!(row[0], member.id());
        let clv = row[4].parse::<f64>().unwrap();
        assert!((clv - score.clv).abs() < 1e-6, "{row:?} {score:?}");
        assert_eq!(row[5], score.segment.as_str());
    }
    // A sample as large as the shop is the shop; a sample of none, or one with a saved
    // model (nothing is fitted), is refused.
    let whole = run(&score_cdnow_args(
        &file,
        &out,
        &["--as-of", "1997-09-30", "--fit-sample", "2357"],
    ));
    assert!(whole.status.success());
    assert!(!String::from_utf8_lossy(&whole.stderr).contains("fitted on a sample"));
    for (extra, message) in [
        (&["--fit-sample", "0"][..], "0 is not in 1.."),
        (
            &["--fit-sample", "10", "--model", "saved.json"][..],
            "cannot be used with",
        ),
    ] {
        assert_fails_with(&score_cdnow_args(&file, &out, extra), message);
    }
}

#[test]
fn score_transactions_refuses_what_it_cannot_score() {
    let file = write(
        "few.csv",
        b"customer_id,timestamp,amount\na,2024-03-01,10\nb,2024-03-04,12.5\n",
    );
    let out = scratch("few_scores.csv");
    assert_fails_with(
        &["score", "--transactions", path(&file), "--out", path(&out)],
        "--format",
    );
    assert_fails_with(
        &[
            "score",
            "--transactions",
            path(&file),
            "--format",
            "csv",
            "--as-of",
            "2024-02-01",
            "--out",
            path(&out),
        ],
        "had bought by 2024-02-01",
    );
    let empty = write("empty.csv", b"customer_id,timestamp,amount\n");
    assert_fails_with(
        &[
            "score",
            "--transactions",
            path(&empty),
            "--format",
            "csv",
            "--out",
            path(&out),
        ],
        "the input is empty",
    );
    let summary = sample_summary_file();
    assert_fails_with(
        &[
            "score",
            "--summary",
            path(&summary),
            "--as-of",
            "2024-02-01",
            "--out",
            path(&out),
        ],
        "cannot be used with",
    );
}
