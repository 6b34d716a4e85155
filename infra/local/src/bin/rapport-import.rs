//! `rapport-import`: brings a shop's past orders into Rapport's table — Shopify's orders
//! CSV export, WooCommerce REST order pages, or Rapport's own CSV — so that tiers and the
//! models see them from the first day. Configured like the functions, from the
//! environment (`RAPPORT_TABLE`, `RAPPORT_CURRENCY`, the tiers, `RAPPORT_TOMBSTONE_KEY`
//! or its secret; `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local). Idempotent: running it
//! again, after a kill or on a longer file, imports only what is not there yet.

use anyhow::{Context, Result};
use clap::Parser;
use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rapport_local::import::{self, Format};
use rapport_shared::bootstrap::{self, SecretsManagerReader};
use rapport_shared::service::import::{ImportSettings, ImportTally, import};
use rapport_shared::store::DynamoStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Import a shop's past orders")]
struct Cli {
    /// What the files are.
    #[arg(long, value_enum)]
    format: Format,
    /// Imported orders earn points (default: they build spend, tiers and history only).
    #[arg(long)]
    award_points: bool,
    /// Customers read and decided together.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Batches in flight at once (DynamoDB Local stops gaining at 2).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// The files to import.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    rapport_shared::telemetry::init_with_default("warn");
    let config = rapport_shared::Config::from_env().context("reading configuration")?;
    let sdk = bootstrap::aws_config().await;
    let guests =
        bootstrap::tombstone_key(&config, Arc::new(SecretsManagerReader::new(&sdk))).await?;
    let read = import::read(cli.format, &cli.files, config.rules.currency, &guests)?;
    let store = DynamoStore::new(bootstrap::background_dynamodb_client(&sdk), &config.table)
        .wired::<rapport_shared::access::Everything>();
    let events: usize = read.customers.iter().map(|c| c.events.len()).sum();
    let progress = ProgressBar::new(events as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    if cli.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let settings = ImportSettings {
        award_points: cli.award_points,
    };
    let started = Instant::now();
    let now = chrono::Utc::now();
    // Imported orders are decided under the program in force, as live ones are.
    let settings_program = config.settings_program();
    let in_force = rapport_shared::service::program::program_in_force(&store, &settings_program)
        .await
        .context("reading the program in force")?;
    let program = in_force
        .rules(&config.rules)
        .context("the program in force")?;
    let (rules, referrals, store) = (&program.loyalty, &program.referrals, &store);
    let mut tallies = stream::iter(read.customers.chunks(cli.batch.max(1)))
        .map(|batch| {
            let progress = progress.clone();
            async move {
                let tally = import(store, rules, referrals, settings, batch, now).await;
                progress.inc(batch.iter().map(|c| c.events.len() as u64).sum());
                tally
            }
        })
        .buffer_unordered(cli.concurrency.max(1));
    let mut tally = ImportTally::default();
    while let Some(done) = tallies.next().await {
        tally.add(done.context("importing a batch")?);
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    if cli.json {
        let summary = serde_json::json!({
            "tally": tally,
            "unpaid": read.unpaid,
            "bad_rows": read.bad.iter().map(|b| serde_json::json!({"at": b.at, "reason": b.reason})).collect::<Vec<_>>(),
            "seconds": seconds,
        });
        println!("{summary}");
        return Ok(());
    }
    println!(
        "imported {} purchases and {} refunds of {} customers in {seconds:.1} s ({} transactions); {} already there",
        tally.purchases, tally.refunds, tally.customers, tally.transactions, tally.already
    );
    if read.unpaid > 0 {
        println!("{} orders not paid, left out", read.unpaid);
    }
    let rejected = read.bad.len() + tally.rejected.len();
    if rejected > 0 {
        println!("{rejected} rejected:");
    }
    for bad in &read.bad {
        println!("  {}: {}", bad.at, bad.reason);
    }
    for r in &tally.rejected {
        let at = read.origins.get(&r.event_id).map_or("?", String::as_str);
        println!("  {at} ({}): {}", r.event_id, r.reason);
    }
    Ok(())
}
