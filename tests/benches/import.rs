//! History import benchmark (`cargo bench -p rapport-integration --bench import`).
//!
//! The whole CDNOW sample laid out as Shopify's orders export is imported into a fresh
//! table of DynamoDB Local (`rapport-import`'s path: read the file, decide under the
//! live rules, many customers per transaction); then the very items the import wrote
//! are read back and loaded into a second fresh table with bare `BatchWriteItem`s of
//! 25, with the same concurrency (`BENCH_CONCURRENCY`, default 2): the most any loader
//! of those items could do here.
//! Reports items/s for both and their ratio (the target is at least one half).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use rapport_integration::{TestApi, config};
use rapport_local::import::{self, Format};
use rapport_shared::domain::{Currency, TombstoneKey};
use rapport_shared::service::import::{ImportSettings, ImportTally, import};
use std::collections::HashMap;
use std::time::Instant;

const BATCH_CUSTOMERS: usize = 50;

type Item = HashMap<String, AttributeValue>;

async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

async fn batch_write(client: &aws_sdk_dynamodb::Client, table: &str, items: Vec<Item>) {
    let mut pending: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    while !pending.is_empty() {
        let out = client
            .batch_write_item()
            .request_items(table, std::mem::take(&mut pending))
            .send()
            .await
            .expect("batch write");
        pending = out
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
    }
}

/// Requests in flight at once, for both loaders (`BENCH_CONCURRENCY`, default 2).
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

#[tokio::main]
async fn main() {
    let concurrency = concurrency();
    let shop = rapport_local::shop::cdnow_events(chrono::Utc::now()).expect("CDNOW");
    let csv = rapport_local::shop::shopify_orders_csv(&shop).expect("CSV");
    let path = std::env::temp_dir().join(format!("bench-import-{}.csv", uuid::Uuid::new_v4()));
    std::fs::write(&path, &csv).unwrap();
    let usd = Currency::parse("c", "USD").unwrap();
    let guests = TombstoneKey::new(b"bench-tombstone-key-0123");

    let api = TestApi::start().await;
    let config = config(&api.table, &[]);
    let started = Instant::now();
    let read = import::read(Format::ShopifyCsv, &[&path], usd, &guests).unwrap();
    let reading = started.elapsed();
    let (rules, referrals, store) = (&config.rules, &config.referrals, &api.store);
    let now = chrono::Utc::now();
    let tallies: Vec<ImportTally> = stream::iter(read.customers.chunks(BATCH_CUSTOMERS))
        .map(|batch| async move {
            import(
                store,
                rules,
                referrals,
                ImportSettings::default(),
                batch,
                now,
            )
            .await
            .unwrap()
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let importing = started.elapsed();
    let mut tally = ImportTally::default();
    tallies.into_iter().for_each(|t| tally.add(t));

    let items = scan(&api.dynamodb, &api.table).await;
    let count = items.len();
    let target = format!("{}-bare", api.table);
    rapport_local::tables::create_table_without_stream(&api.dynamodb, &target)
        .await
        .unwrap();
    let chunks: Vec<Vec<Item>> = items.chunks(25).map(<[Item]>::to_vec).collect();
    let started = Instant::now();
    stream::iter(chunks)
        .for_each_concurrent(concurrency, |chunk| {
            let (client, target) = (&api.dynamodb, &target);
            async move { batch_write(client, target, chunk).await }
        })
        .await;
    let bare = started.elapsed();
    let import_rate = count as f64 / importing.as_secs_f64();
    let bare_rate = count as f64 / bare.as_secs_f64();
    println!(
        "import: {} customers, {} purchases, {} refunds -> {count} items in {:.2} s \
         (reading the file {:.2} s), {} transactions: {import_rate:.0} items/s",
        tally.customers,
        tally.purchases,
        tally.refunds,
        importing.as_secs_f64(),
        reading.as_secs_f64(),
        tally.transactions
    );
    println!(
        "bare BatchWriteItem of the same {count} items: {:.2} s, {bare_rate:.0} items/s",
        bare.as_secs_f64()
    );
    println!("import / bare: {:.2}", import_rate / bare_rate);
    let _ = std::fs::remove_file(path);
}
