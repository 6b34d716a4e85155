//! The history import against DynamoDB Local: a few thousand CDNOW orders laid out as
//! Shopify's orders export give the same profiles as replaying the same events one by
//! one; a second run, and a run after a kill, import nothing twice; unpaid and bad rows
//! are reported with their lines; the `rapport-import` tool does the same from the
//! command line.

use rapport_integration::{TestApi, config};
use rapport_local::import::{self, Format};
use rapport_shared::domain::{PurchaseKind, TombstoneKey};
use rapport_shared::service::import::{CustomerEvents, ImportSettings, ImportTally, import};
use rapport_shared::service::record_purchase;
use rapport_shared::store::{LedgerStore, ProfileStore};
use std::path::PathBuf;

const CUSTOMERS: usize = 700;

fn guests() -> TombstoneKey {
    TombstoneKey::new(rapport_integration::TOMBSTONE_KEY.as_bytes())
}

/// The CDNOW sample's first customers as a Shopify export, written to a file.
fn export(name: &str) -> (PathBuf, String) {
    let shop = rapport_local::shop::cdnow_events(chrono::Utc::now()).expect("CDNOW");
    let csv = rapport_local::shop::shopify_orders_csv(&shop[..CUSTOMERS]).expect("CSV");
    let path = std::env::temp_dir().join(format!("{name}-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, &csv).expect("write the export");
    (path, csv)
}

fn usd() -> rapport_shared::domain::Currency {
    rapport_shared::domain::Currency::parse("c", "USD").unwrap()
}

async fn run(api: &TestApi, customers: &[CustomerEvents], award: bool) -> ImportTally {
    let config = config(&api.table, &[]);
    let mut tally = ImportTally::default();
    for batch in customers.chunks(50) {
        let settings = ImportSettings {
            award_points: award,
        };
        let now = chrono::Utc::now();
        tally.add(
            import(
                &api.store,
                &config.rules,
                &config.referrals,
                settings,
                batch,
                now,
            )
            .await
            .expect("import"),
        );
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_export_imports_as_its_events_replay_and_only_once() {
    let (path, _) = export("shopify-orders");
    let read = import::read(Format::ShopifyCsv, &[&path], usd(), &guests()).expect("read");
    let events: usize = read.customers.iter().map(|c| c.events.len()).sum();
    assert!(events > 2_000, "a few thousand orders: {events}");
    assert!(read.unpaid > 0 && read.bad.is_empty(), "{:?}", read.bad);

    let imported = TestApi::start().await;
    let tally = run(&imported, &read.customers, true).await;
    assert_eq!(
        tally.purchases + tally.refunds,
        events,
        "{:?}",
        tally.rejected
    );
    assert!(tally.rejected.is_empty());
    assert!(
        tally.transactions * 10 < events,
        "{} transactions",
        tally.transactions
    );

    // The same events, one request each, as the storefront would have sent them.
    let replayed = TestApi::start().await;
    let config = config(&replayed.table, &[]);
    for customer in &read.customers {
        let mut events = customer.events.clone();
        events.sort_by_key(|e| (e.occurred_at, e.kind == PurchaseKind::Refund));
        for event in &events {
            record_purchase(
                &replayed.store,
                &config.rules,
                &config.referrals,
                event,
                chrono::Utc::now(),
            )
            .await
            .expect("replay");
        }
    }
    for customer in &read.customers {
        let a = imported
            .store
            .profile(&customer.customer)
            .await
            .unwrap()
            .unwrap()
            .value;
        let b = replayed
            .store
            .profile(&customer.customer)
            .await
            .unwrap()
            .unwrap()
            .value;
        assert_eq!(
            (
                a.points_balance,
                a.orders,
                a.net_spend_minor,
                &a.tier,
                &a.purchase_days,
                &a.email
            ),
            (
                b.points_balance,
                b.orders,
                b.net_spend_minor,
                &b.tier,
                &b.purchase_days,
                &b.email
            ),
            "{}",
            customer.customer
        );
        let ledger: i64 = imported
            .store
            .ledger(&customer.customer)
            .await
            .unwrap()
            .iter()
            .map(|e| e.delta)
            .sum();
        assert_eq!(ledger, a.points_balance);
    }

    // Again: nothing new.
    let again = run(&imported, &read.customers, true).await;
    assert_eq!(
        (again.purchases, again.refunds, again.transactions),
        (0, 0, 0)
    );
    assert_eq!(again.already, events);
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_halfway_finishes_on_the_next_run() {
    let (path, _) = export("shopify-killed");
    let read = import::read(Format::ShopifyCsv, &[&path], usd(), &guests()).expect("read");
    let events: usize = read.customers.iter().map(|c| c.events.len()).sum();
    let api = TestApi::start().await;
    // The first run dies after a third of the batches, in the middle of the file.
    let third = read.customers.len() / 3;
    let first = run(&api, &read.customers[..third], false).await;
    let second = run(&api, &read.customers, false).await;
    assert_eq!(
        first.purchases + first.refunds + second.purchases + second.refunds,
        events
    );
    assert_eq!(second.already, first.purchases + first.refunds);
    let customer = &read.customers[third + 1].customer;
    let profile = api.store.profile(customer).await.unwrap().unwrap().value;
    assert_eq!(profile.points_balance, 0, "no points unless asked");
    assert!(profile.net_spend_minor > 0);
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn bad_rows_are_reported_with_their_lines_and_the_rest_imported() {
    let csv = "\
Name,Email,Financial Status,Paid at,Currency,Subtotal,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Refunded Amount,Id
#1,a@example.com,paid,2026-10-01 10:00:00 +0000,USD,20.00,2026-10-01 10:00:00 +0000,2,Tea,10.00,TEA,,11
#2,b@example.com,paid,2026-10-02 10:00:00 +0000,EUR,5.00,2026-10-02 10:00:00 +0000,1,Tea,5.00,TEA,,12
#3,c@example.com,voided,,USD,5.00,2026-10-03 10:00:00 +0000,1,Tea,5.00,TEA,,13
#4,not-an-address,paid,2026-10-04 10:00:00 +0000,USD,5.00,2026-10-04 10:00:00 +0000,1,Tea,5.00,TEA,,14
#5,a@example.com,refunded,2026-10-05 10:00:00 +0000,USD,7.50,2026-10-05 10:00:00 +0000,1,Cup,5.00,,,15
#5,,,,,,,1,Saucer,2.50,SAUCER,,
";
    let path = std::env::temp_dir().join(format!("bad-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, csv).unwrap();
    let read = import::read(Format::ShopifyCsv, &[&path], usd(), &guests()).expect("read");
    let bad: Vec<(String, String)> = read
        .bad
        .iter()
        .map(|b| {
            (
                b.at.rsplit(':').next().unwrap().to_owned(),
                b.reason.clone(),
            )
        })
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert_eq!(bad[0].0, "3");
    assert!(bad[0].1.starts_with("Currency"), "{bad:?}");
    assert_eq!(bad[1].0, "5");
    assert!(bad[1].1.starts_with("email"), "{bad:?}");
    assert_eq!(read.unpaid, 1);
    let a = read
        .customers
        .iter()
        .find(|c| c.events.len() == 2)
        .expect("a's two orders");
    let second = a
        .events
        .iter()
        .find(|e| e.order_id.as_str() == "shopify-15")
        .unwrap();
    assert_eq!(second.total.minor, 750);
    assert_eq!(second.items.len(), 2, "both lines of the two-row order");
    assert!(
        second
            .items
            .iter()
            .any(|i| i.sku.as_str().starts_with("item-")),
        "a line without a SKU is named by its title"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_tool_imports_and_says_what_it_did() {
    let (path, _) = export("shopify-cli");
    let api = TestApi::start().await;
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let exe = std::env::current_exe().unwrap();
    let tool = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("rapport-import");
    assert!(
        tool.is_file(),
        "{} (make test builds the binaries first)",
        tool.display()
    );
    let output = |award: bool| {
        let mut command = std::process::Command::new(&tool);
        command
            .args(["--format", "shopify-csv", "--json"])
            .arg(&path)
            .env("RAPPORT_TABLE", &api.table)
            .env("RAPPORT_TOMBSTONE_KEY", rapport_integration::TOMBSTONE_KEY)
            .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint())
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_REGION", "us-east-1");
        if award {
            command.arg("--award-points");
        }
        command.output().expect("run rapport-import")
    };
    let read = import::read(Format::ShopifyCsv, &[&path], usd(), &guests()).expect("read");
    let events: usize = read.customers.iter().map(|c| c.events.len()).sum();
    let first = output(false);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON summary");
    let tally = &summary["tally"];
    let imported = tally["purchases"].as_u64().unwrap() + tally["refunds"].as_u64().unwrap();
    assert_eq!(imported as usize, events, "{summary}");
    assert_eq!(summary["unpaid"].as_u64().unwrap() as usize, read.unpaid);
    let second = output(false);
    let summary: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(summary["tally"]["purchases"], 0);
    assert_eq!(
        summary["tally"]["already"].as_u64().unwrap() as usize,
        events
    );
    let _ = std::fs::remove_file(path);
}
