//! `rapport-local`: the whole system on one machine, no Docker, no AWS account.
//!
//! - `up`: DynamoDB Local, the SES emulator, the table from template.yaml and the API on
//!   127.0.0.1, in the foreground until SIGINT/SIGTERM.
//! - `demo`: the same stack, a replay of signed storefront events, a summary, then stop.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use rapport_local::client::Signer;
use rapport_local::shop_admin::ShopAdmin;
use rapport_local::stack::LOCAL_RUN_BUCKET;
use rapport_local::streams::CouponStream;
use rapport_local::{LocalStack, create_table, demo, server, shop, storefront};
use rapport_shared::auth::keys::{self, KeySource};
use rapport_shared::domain::outreach::MessageKind;
use rapport_shared::shop_api;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(
    name = "rapport-local",
    about = "Run Rapport locally against DynamoDB Local and an SES emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack and the API and keep them running until interrupted.
    Up {
        /// Port for the API on 127.0.0.1 (0 picks a free one).
        #[arg(long, env = "RAPPORT_PORT", default_value_t = 0)]
        port: u16,
    },
    /// Replay a built-in stream of signed events, storefront webhooks and a coupon
    /// created at the stores' checkouts, then the CDNOW sample as a shop's history (part
    /// of it through the history import) against a fresh stack, run the
    /// scoring-and-outreach job, write its report, and stop.
    Demo {
        /// Where report.html and summary.json go.
        #[arg(long, default_value = "out/demo")]
        report_dir: std::path::PathBuf,
    },
}

const SHOPIFY_SHOP_DOMAIN: &str = "RAPPORT_SHOPIFY_SHOP_DOMAIN";

fn made_up_secret() -> String {
    format!("dev-{}", uuid::Uuid::new_v4().simple())
}

/// The keys the local API takes: from the environment when set, else made up for this
/// run (printed by `up`, so a client can be configured from its output).
fn local_keys() -> Vec<(&'static str, String)> {
    let made_up = |id: &str| format!("{id}:dev-{}", uuid::Uuid::new_v4().simple());
    [
        (keys::EVENTS_KEY, made_up("local-events")),
        (keys::ADMIN_KEY, made_up("local-admin")),
        (keys::UNSUBSCRIBE_KEYS, made_up("1")),
        // Storefront webhooks: a shop the demo plays, secrets as each platform shows them.
        (keys::SHOPIFY_WEBHOOK_SECRET, made_up_secret()),
        (SHOPIFY_SHOP_DOMAIN, "demo-shop.myshopify.com".to_owned()),
        (keys::WOOCOMMERCE_WEBHOOK_SECRET, made_up_secret()),
        // The table lives as long as the stack, and so do its tombstones.
        (keys::TOMBSTONE_KEY, made_up_secret()),
    ]
    .into_iter()
    .map(|(name, default)| match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => (name, value),
        _ => (name, default),
    })
    .collect()
}

/// Where codes are created: the stores the environment names, else the stand-in of
/// both platforms' admin APIs, so that the stream path runs locally as in AWS.
fn store_settings(standin: Option<&ShopAdmin>) -> Vec<(&'static str, String)> {
    standin.map(ShopAdmin::env).unwrap_or_default()
}

/// Whether the environment configures a real store's API.
fn real_stores_configured() -> bool {
    [
        shop_api::SHOPIFY_ADMIN_TOKEN,
        shop_api::WOOCOMMERCE_KEY,
        "RAPPORT_SHOP_API_SECRET",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// A running stack with the API in front of it; dropping it stops everything.
struct Running {
    stack: LocalStack,
    /// The stand-in stores, unless real ones are configured.
    shops: Option<ShopAdmin>,
    /// Reads the table's stream into the stores, as the coupon-sync function does.
    stream: Option<tokio::task::JoinHandle<()>>,
    config: rapport_shared::Config,
    table: String,
    base_url: String,
    /// `RAPPORT_EVENTS_KEY`, `RAPPORT_ADMIN_KEY`, `RAPPORT_UNSUBSCRIBE_KEYS`,
    /// `RAPPORT_TOMBSTONE_KEY` as used.
    keys: Vec<(&'static str, String)>,
    signer: Signer,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The stack on `port`, with `defaults` for settings the environment does not give.
    async fn start(port: u16, defaults: &'static [(&'static str, &'static str)]) -> Result<Self> {
        let stack = LocalStack::start()
            .await
            .context("starting the local stack")?;
        let client = aws_sdk_dynamodb::Client::new(&stack.sdk_config());
        let table = std::env::var("RAPPORT_TABLE").unwrap_or_else(|_| "rapport".into());
        create_table(&client, &table)
            .await
            .context("creating the table")?;

        let keys = local_keys();
        let shops = match real_stores_configured() {
            true => None,
            false => Some(
                ShopAdmin::start(Default::default())
                    .await
                    .context("starting the stores' stand-in")?,
            ),
        };
        let stores = store_settings(shops.as_ref());
        let (table_name, key_values) = (table.clone(), keys.clone());
        // Everything else (currency, tiers, earn rate) comes from the environment exactly
        // as in Lambda.
        let config = rapport_shared::Config::from_lookup(move |name| match name {
            "RAPPORT_TABLE" => Some(table_name.clone()),
            key if key_values.iter().any(|(n, _)| *n == key) => key_values
                .iter()
                .find(|(n, _)| *n == key)
                .map(|(_, v)| v.clone()),
            key if stores.iter().any(|(n, _)| *n == key) => stores
                .iter()
                .find(|(n, _)| *n == key)
                .map(|(_, v)| v.clone()),
            // Alerts go to the SES emulator unless other addresses are configured.
            "RAPPORT_SENDER_EMAIL" => Some(env_or("RAPPORT_SENDER_EMAIL", "rapport@shop.example")),
            "RAPPORT_SUPPORT_EMAIL" => {
                Some(env_or("RAPPORT_SUPPORT_EMAIL", "support@shop.example"))
            }
            other => std::env::var(other).ok().or_else(|| {
                defaults
                    .iter()
                    .find(|(n, _)| *n == other)
                    .map(|(_, v)| (*v).to_owned())
            }),
        })
        .context("configuration")?;
        let signer = match &config.api_keys {
            KeySource::Inline(keys) => Signer::new((**keys).clone()),
            _ => bail!("the local stack needs RAPPORT_EVENTS_KEY and RAPPORT_ADMIN_KEY"),
        };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .context("binding the API port")?;
        let base_url = format!("http://{}", listener.local_addr()?);
        // Links to a run's report point here unless a public URL is configured.
        let config = rapport_shared::Config {
            public_url: config.public_url.or_else(|| Some(base_url.clone())),
            ..config
        };
        let sdk = stack.sdk_config();
        let reports = rapport_shared::store::S3Artifacts::new(
            rapport_shared::bootstrap::s3_client(&sdk),
            LOCAL_RUN_BUCKET,
        );
        let api = Arc::new(
            rapport_shared::bootstrap::api(&sdk, config.clone()).with_reports(Arc::new(reports)),
        );
        let secrets = Arc::new(rapport_shared::bootstrap::SecretsManagerReader::new(&sdk));
        let apis = rapport_shared::bootstrap::shop_apis(&config, secrets).await?;
        let stream = match apis.is_empty() {
            true => None,
            false => {
                let reader = CouponStream::open(&sdk, &table, apis, config.rules.currency)
                    .await
                    .context("opening the table's stream")?;
                Some(reader.spawn(api.store.clone()))
            }
        };

        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, api, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            stack,
            shops,
            stream,
            config,
            table,
            base_url,
            keys,
            signer,
            stop_server,
            server,
        })
    }

    async fn stop(self) {
        let _ = self.stop_server.send(());
        let _ = self.server.await;
        if let Some(stream) = self.stream {
            stream.abort();
        }
        drop(self.shops);
        drop(self.stack);
    }
}

/// Shows what the SES emulator accepted during the demo.
async fn report_mail(running: &Running) -> Result<()> {
    let mail = running
        .stack
        .ses
        .sent_messages()
        .await
        .context("reading the SES emulator")?;
    println!();
    println!("mail accepted by the SES emulator: {}", mail.len());
    for m in mail {
        println!("  to {}: {}", m.to_addresses().join(", "), m.subject);
    }
    Ok(())
}

/// The whole demo: the scripted stream, a shop's history, then the job.
async fn run_demo(running: &Running, report_dir: &std::path::Path) -> Result<()> {
    let signer = &running.signer;
    demo::run(&running.base_url, signer).await?;
    println!();
    let key = |name: &str| {
        running
            .keys
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let shops = storefront::Shops {
        base_url: &running.base_url,
        shopify_secret: key(keys::SHOPIFY_WEBHOOK_SECRET),
        shopify_domain: key(SHOPIFY_SHOP_DOMAIN),
        woocommerce_secret: key(keys::WOOCOMMERCE_WEBHOOK_SECRET),
    };
    storefront::run(&shops, chrono::Utc::now()).await?;
    if let Some(stand_in) = &running.shops {
        codes_at_checkout(running, stand_in).await?;
    }
    report_mail(running).await?;

    println!();
    edit_program(running).await?;
    demo::activities(&running.base_url, signer).await?;
    println!();
    let now = chrono::Utc::now();
    let mut customers = shop::cdnow_events(now).context("preparing the CDNOW replay")?;
    // Part of the shop moved from Shopify: its customers' orders come in through the
    // history import of Shopify's orders export; the rest arrive as live events.
    let moved = customers.split_off(customers.len().saturating_sub(IMPORTED_CUSTOMERS));
    import_history(running, &moved, report_dir).await?;
    let events: usize = customers.iter().map(|c| c.events.len()).sum();
    println!(
        "replaying the CDNOW sample as a shop's history: {} customers, {events} signed events",
        customers.len()
    );
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let referrers = shop::loyal(&customers, 12);
    let replayed = shop::replay(&client, &running.base_url, signer, customers).await?;
    let friends = shop::refer_friends(&client, &running.base_url, signer, &referrers, now).await?;
    println!(
        "  {} purchases, {} reviews, {} referrals in {:.1} s; {} rejected",
        replayed.purchases + friends.purchases,
        replayed.reviews,
        friends.referrals,
        started.elapsed().as_secs_f64(),
        replayed.rejected.len() + friends.rejected.len()
    );
    for rejected in replayed.rejected.iter().chain(&friends.rejected).take(5) {
        println!("    {rejected}");
    }

    println!();
    println!("running the scoring-and-outreach job");
    let job = rapport_shared::config::JobConfig::from_lookup(&running.config, |name| {
        std::env::var(name).ok().or(match name {
            "RAPPORT_SHOP_NAME" => Some("CD Corner".into()),
            _ => None,
        })
    })?;
    let mut settings = rapport_job::run::RunSettings::new(job);
    settings.job.delivery.public_base_url = running.base_url.clone();
    let sdk = running.stack.sdk_config();
    let store = rapport_shared::store::DynamoStore::new(
        rapport_shared::bootstrap::background_dynamodb_client(&sdk),
        running.table.clone(),
    );
    let sender = Arc::new(rapport_shared::mail::SesSender::new(
        rapport_shared::bootstrap::ses_client(&sdk),
    ));
    let report = rapport_job::run::run(
        &store,
        sender,
        &settings,
        running.config.rules.currency,
        chrono::Utc::now(),
    )
    .await?;
    let s = &report.summary;
    println!(
        "  {} customers, {} scored in {:.2} s (scan {:.2} s, tiers, gifts and expiry {:.2} s, models {:.2} s, outreach {:.2} s)",
        s.customers,
        s.scored,
        s.seconds_scan + s.seconds_settle + s.seconds_model + s.seconds_outreach,
        s.seconds_scan,
        s.seconds_settle,
        s.seconds_model,
        s.seconds_outreach
    );
    println!(
        "  decided under program version {}: {} points of {} customers lapsed after 12 months without an order; {} tiers settled ({} demotions after the grace)",
        s.program_version, s.points_expired, s.customers_expired, s.tiers_changed, s.tiers_demoted
    );
    let reminders: usize = s
        .actions
        .values()
        .flat_map(|actions| actions.iter())
        .filter(|(action, _)| {
            **action == rapport_job::summary::Action::Send(MessageKind::PointsExpiring)
        })
        .map(|(_, n)| n)
        .sum();
    println!("  {reminders} reminders sent that points lapse soon");
    if let (Some(model), Some(why)) = (&s.scoring_model, &s.scoring_model_reason) {
        println!("  scored with {model}: {why}");
    }
    if let Some(share) = s.pareto_revenue_share {
        println!(
            "  the top {:.0} % by CLV bring {:.0} % of revenue",
            rapport_models::PARETO_SHARE * 100.0,
            share * 100.0
        );
    }
    let (html, _) = rapport_job::report::write(&report, report_dir)
        .with_context(|| format!("writing the report into {}", report_dir.display()))?;
    println!("report: {}", html.display());
    println!(
        "emails: sent={} held_out={} suppressed={}",
        s.sent,
        s.held_out,
        s.suppressed.values().sum::<usize>()
    );
    Ok(())
}

/// The merchant makes the program their own: double points, reviews worth more,
/// service-recovery flags that lapse sooner, a reward, expiry with reminders, grace and
/// perks for tiers — one `PUT /v1/admin/program` over the version read.
async fn edit_program(running: &Running) -> Result<()> {
    let client = reqwest::Client::new();
    let path = "/v1/admin/program";
    let (status, read) = running
        .signer
        .send(&client, &running.base_url, "GET", path, None)
        .await?;
    if status != 200 {
        bail!("GET {path} answered {status}: {read}");
    }
    let mut program = read["program"].clone();
    program["earning"]["points_per_unit"] = 2.into();
    program["reviews"]["body_points"] = 50.into();
    program["reviews"]["recovery_expiry_days"] = 14.into();
    program["expiry"] =
        serde_json::json!({"after_inactive_months": 12, "reminder_days_before": [30, 7]});
    program["qualification"] = serde_json::json!({"grace_days": 30});
    if let Some(gold) = program["tiers"]
        .as_array_mut()
        .and_then(|tiers| tiers.last_mut())
    {
        gold["perks"] = serde_json::json!({"free_shipping": true, "welcome_points": 250});
    }
    // Points for more than buying, and an apology with points after a low rating.
    program["activities"] = serde_json::json!([
        {"id": "signup", "points": 100},
        {"id": "newsletter_signup", "points": 50},
        {"id": "social_follow", "points": 25, "limit": {"type": "once_per_network"}}
    ]);
    program["messages"]["make_good"] = serde_json::json!({"type": "points", "points": 150});
    // Product tips with links and a video, sent after the order that bought them.
    program["tips"] = serde_json::from_str(include_str!("../demo-tips.json"))?;
    program["wording"] = serde_json::json!({"en": {"points_expiring": {
        "subject": "{{ points }} points are yours until {{ expires }}"
    }}});
    program["rewards"] = serde_json::json!([{
        "id": "ship-free", "name": "Free shipping", "offer": {"type": "free_shipping"},
        "points": 150, "min_order_minor": 2500, "valid_days": 60, "limit_per_customer": 2
    }]);
    let version = read["version"].as_u64().unwrap_or_default();
    let body = serde_json::to_vec(&program)?;
    let signature = running.signer.header("PUT", path, &body)?;
    let response = client
        .put(format!("{}{path}", running.base_url))
        .header("Rapport-Signature", signature)
        .header("Content-Type", "application/json")
        .header("If-Match", format!("\"{version}\""))
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let saved: serde_json::Value = response.json().await.unwrap_or_default();
    if status != 200 {
        bail!("PUT {path} answered {status}: {saved}");
    }
    println!(
        "the merchant edits the program (PUT {path}, If-Match \"{version}\"): version {} — 2 points per dollar, 50 for a written review, recovery flags lapse after 14 days, a free-shipping reward for 150 points, points lapse after 12 months without an order (reminders 30 and 7 days before, in the shop's own words), 30 days of grace before a demotion, free shipping and 250 welcome points for the top tier, product tips with links and a video, points for signups, newsletters and follows, 150 points with the apology after a low rating",
        saved["version"]
    );
    Ok(())
}

/// CDNOW customers whose history the demo brings in through the history import.
const IMPORTED_CUSTOMERS: usize = 400;

/// Writes `customers`' orders as Shopify's orders export and imports the file, as
/// `rapport-import --format shopify-csv` does.
async fn import_history(
    running: &Running,
    customers: &[shop::CustomerEvents],
    report_dir: &std::path::Path,
) -> Result<()> {
    use rapport_shared::service::import::{ImportSettings, ImportTally, import};
    std::fs::create_dir_all(report_dir)?;
    let path = report_dir.join("shopify-orders-export.csv");
    std::fs::write(&path, shop::shopify_orders_csv(customers)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let guests = rapport_shared::bootstrap::tombstone_key(
        &running.config,
        Arc::new(rapport_shared::bootstrap::SecretsManagerReader::new(
            &running.stack.sdk_config(),
        )),
    )
    .await?;
    let started = std::time::Instant::now();
    let read = rapport_local::import::read(
        rapport_local::import::Format::ShopifyCsv,
        &[&path],
        running.config.rules.currency,
        &guests,
    )?;
    let store = rapport_shared::store::DynamoStore::new(
        rapport_shared::bootstrap::background_dynamodb_client(&running.stack.sdk_config()),
        running.table.clone(),
    );
    // Decided under the program in force, as `rapport-import` does.
    let config = &running.config;
    let settings_program = config.settings_program();
    let program = rapport_shared::service::program::program_in_force(&store, &settings_program)
        .await?
        .rules(&config.rules)?;
    let mut tally = ImportTally::default();
    for batch in read.customers.chunks(50) {
        let settings = ImportSettings {
            award_points: false,
        };
        let (rules, referrals) = (&program.loyalty, &program.referrals);
        tally.add(
            import(
                &store,
                rules,
                referrals,
                settings,
                batch,
                chrono::Utc::now(),
            )
            .await?,
        );
    }
    println!(
        "importing {} (Shopify's orders export of {} customers who moved): {} orders, {} refunds, {} unpaid skipped, {} rejected in {:.1} s",
        path.display(),
        tally.customers,
        tally.purchases,
        tally.refunds,
        read.unpaid,
        tally.rejected.len() + read.bad.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Shopify customer spends points on a coupon; the table's stream creates its code
/// in both stores (the stand-in here).
async fn codes_at_checkout(running: &Running, stand_in: &ShopAdmin) -> Result<()> {
    let client = reqwest::Client::new();
    let customer = "shopify-7390123456789";
    let path = format!("/v1/customers/{customer}");
    let (status, profile) = running
        .signer
        .send(&client, &running.base_url, "GET", &path, None)
        .await?;
    let balance = profile["points_balance"].as_i64().unwrap_or_default();
    if status != 200 || balance < 10 {
        bail!("GET {path} answered {status}: {profile}");
    }
    let points = balance / 10 * 10;
    let body = serde_json::json!({
        "redemption_id": "demo-checkout-1",
        "customer_id": customer,
        "points": points,
    });
    let (status, receipt) = running
        .signer
        .send(
            &client,
            &running.base_url,
            "POST",
            &format!("{path}/redemptions"),
            Some(&body),
        )
        .await?;
    let Some(code) = receipt["coupon_code"].as_str().filter(|_| status == 200) else {
        bail!("the redemption answered {status}: {receipt}");
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let held = loop {
        let held: Vec<_> = stand_in
            .codes()
            .into_iter()
            .filter(|c| c.code.eq_ignore_ascii_case(code))
            .collect();
        if held.len() == 2 || std::time::Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    println!(
        "  {points} points redeemed for code {code}; the table's stream created it in {} store(s): {}",
        held.len(),
        held.iter()
            .map(|c| format!("{} #{}", c.platform, c.id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if held.len() != 2 {
        bail!("the code did not reach both stores within 20 s");
    }
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

async fn shutdown_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // The demo's own output is the point; service logs only when something is wrong.
    rapport_shared::telemetry::init_with_default(match cli.command {
        Command::Demo { .. } => "warn",
        Command::Up { .. } => "info",
    });
    match cli.command {
        Command::Up { port } => {
            let running = Running::start(port, &[]).await?;
            println!("RAPPORT_API_URL={}", running.base_url);
            for (name, value) in &running.keys {
                println!("{name}={value}");
            }
            println!("RAPPORT_TABLE={}", running.table);
            if let Some(shops) = &running.shops {
                // Codes created at checkout land here; see README, "Coupons at checkout".
                println!("RAPPORT_SHOPS_STANDIN_URL={}", shops.url());
            }
            for (name, value) in running.stack.env() {
                println!("{name}={value}");
            }
            println!("ready; Ctrl-C stops everything");
            let signal = shutdown_signal().await;
            running.stop().await;
            signal
        }
        Command::Demo { report_dir } => {
            // The demo shows sending whatever the hour (the program's quiet hours start
            // from this); set RAPPORT_QUIET_HOURS to see deferral.
            let running = Running::start(0, &[("RAPPORT_QUIET_HOURS", "0-0")]).await?;
            let outcome = run_demo(&running, &report_dir).await;
            running.stop().await;
            outcome
        }
    }
}
