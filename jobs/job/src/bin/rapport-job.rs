//! `rapport-job`: the scheduled scoring-and-outreach run.
//!
//! Started by the Lambda runtime it serves one step of a run per invocation, as the
//! job's state machine (infra/job.asl.json, started on the schedule in template.yaml)
//! asks with `{"phase": …}`, or a whole run for an event without a phase. New messages
//! stop two minutes before the function's deadline so the scores and message history
//! are always written back, and whatever was left is sent by the next run; the answer
//! is the invocation's result and one JSON log line.
//! From a shell, `rapport-job run` does the same run against whatever the environment
//! names (`RAPPORT_TABLE`, `AWS_ENDPOINT_URL_*`), and `rapport-job index-customers`
//! gives the items of a table written before the customer index existed its keys.

use anyhow::Context;
use clap::{Parser, Subcommand};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use rapport_job::run::steps::Step;
use std::path::PathBuf;
use std::time::Duration;

/// Time kept for writing scores and message history back after the last send.
const WRITE_BACK_MARGIN: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(
    name = "rapport-job",
    version,
    about = "Rapport's scoring-and-outreach run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score every customer in the table `RAPPORT_TABLE` and send the right message
    /// through SES (endpoints from `AWS_ENDPOINT_URL_*`).
    Run {
        /// Decide and record held-out messages, but send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the run summary as JSON.
        #[arg(long)]
        json: bool,
        /// Write report.html and summary.json into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Run by this many scan segments, step by step as the state machine does
        /// (plan, summarise each segment, fit, deliver to each segment, report), the
        /// segments in parallel tasks; the steps' results go to `RAPPORT_RUN_BUCKET`
        /// when set, memory otherwise.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        segments: Option<u32>,
    },
    /// Add the customer index's keys to the profiles, job states and suppressed
    /// addresses of `RAPPORT_TABLE` written before the index existed (once, after
    /// deploying the version that added it; safe to stop and run again).
    IndexCustomers {
        /// Parallel scan segments, one task each.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        segments: u32,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<(), Error> {
    // The Lambda runtime names its API in the environment; a shell does not.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return serve();
    }
    let (dry_run, json, report, segments) = match Cli::parse().command {
        Command::Run {
            dry_run,
            json,
            report,
            segments,
        } => (dry_run, json, report, segments),
        Command::IndexCustomers { segments, json } => return index_customers(segments, json),
    };
    rapport_shared::telemetry::init_with_default("warn");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let done = runtime.block_on(async {
        match segments {
            Some(n) => rapport_job::run::run_segmented_from_env(n, !dry_run).await,
            None => rapport_job::run::run_from_env(!dry_run, None).await,
        }
    })?;
    let s = &done.summary;
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
    } else {
        println!(
            "customers={} scored={} deferred={} failed={} already_done={} errors={}",
            s.customers, s.scored, s.deferred, s.failed, s.already_done, s.errors
        );
    }
    if let Some(dir) = report {
        let (html, _) = rapport_job::report::write(&done, &dir)
            .with_context(|| format!("writing the report into {}", dir.display()))?;
        println!("report: {}", html.display());
    }
    if !json {
        println!(
            "emails: sent={} held_out={} suppressed={}",
            s.sent,
            s.held_out,
            s.suppressed.values().sum::<usize>()
        );
        if let Some(reason) = &s.sending_stopped {
            println!(
                "sending stopped: {reason} ({} due messages left for the next run)",
                s.stopped
            );
        }
    }
    Ok(())
}

fn index_customers(segments: u32, json: bool) -> Result<(), Error> {
    rapport_shared::telemetry::init_with_default("warn");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let tally = runtime.block_on(rapport_job::reindex::index_from_env(segments))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&tally)?);
    } else {
        println!(
            "scanned={} examined={} indexed={} skipped={}",
            tally.scanned, tally.examined, tally.indexed, tally.skipped
        );
    }
    Ok(())
}

#[tokio::main]
async fn serve() -> Result<(), Error> {
    rapport_shared::telemetry::init();
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            let send_until = event.context.deadline().checked_sub(WRITE_BACK_MARGIN);
            if let Some(step) = Step::of_event(&event.payload)? {
                let answer = rapport_job::run::steps::take_from_env(step, send_until).await?;
                tracing::info!(answer = %answer, "step finished");
                return Ok::<_, Error>(answer);
            }
            let report = rapport_job::run::run_from_env(true, send_until).await?;
            tracing::info!(summary = %serde_json::to_string(&report.summary)?, "run finished");
            Ok(serde_json::to_value(report.summary)?)
        },
    ))
    .await
}
