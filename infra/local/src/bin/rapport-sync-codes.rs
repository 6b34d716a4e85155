//! `rapport-sync-codes`: creates in the stores every code Rapport issued that a store
//! never confirmed — the codes whose stream records aged out to the coupon-sync
//! function's dead-letter queue while a store refused (a revoked token fixed too late).
//! Configured from the environment like the functions (`RAPPORT_TABLE`, the stores'
//! URLs and credentials or `RAPPORT_SHOP_API_SECRET`). Reads the whole table once; safe
//! to run beside the function and again.

use anyhow::{Context, Result, bail};
use clap::Parser;
use rapport_shared::bootstrap::{self, SecretsManagerReader};
use rapport_shared::service::code_sync::{CodeSync, SyncPolicy};
use rapport_shared::store::DynamoStore;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "Create in the stores the codes they never confirmed")]
struct Cli {
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    rapport_shared::telemetry::init_with_default("warn");
    let config = rapport_shared::Config::from_env().context("reading configuration")?;
    let sdk = bootstrap::aws_config().await;
    let apis = bootstrap::shop_apis(&config, Arc::new(SecretsManagerReader::new(&sdk))).await?;
    if apis.is_empty() {
        bail!("no store has both a URL and credentials (README, \"Coupons at checkout\")");
    }
    let store = DynamoStore::new(bootstrap::background_dynamodb_client(&sdk), &config.table)
        .wired::<rapport_shared::access::Everything>();
    let sync = CodeSync {
        apis: &apis,
        currency: config.rules.currency,
        policy: SyncPolicy::default(),
    };
    let tally = sync.repair(&store, chrono::Utc::now()).await?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&tally)?);
    } else {
        println!("{} coupons some store had not confirmed", tally.found);
        for (outcome, n) in &tally.outcomes {
            println!("  {outcome}: {n}");
        }
        for (code, why) in &tally.failed {
            println!("  failed {code}: {why}");
        }
    }
    if !tally.failed.is_empty() {
        bail!("{} codes failed again", tally.failed.len());
    }
    Ok(())
}
