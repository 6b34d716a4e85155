//! Purchase path benchmark (`cargo bench -p rapport-integration --bench purchase`).
//!
//! Reports, in one run on one machine:
//! 1. DynamoDB round trips per purchase event, by operation (an SDK interceptor counts
//!    every request actually sent);
//! 2. handler CPU per event without the network: the full handler (signature, parsing,
//!    rules, serialisation) over the in-memory store, on one thread;
//! 3. events/s through the local HTTP server into DynamoDB Local with 8 concurrent
//!    clients, next to DynamoDB Local's raw `PutItem`/s with 8 concurrent clients.
//!
//! Sizes can be changed with `BENCH_EVENTS` (default 4000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt};
use rapport_integration::{TestApi, config, purchase, signer};
use rapport_shared::http::Api;
use rapport_shared::store::{DynamoStore, MemoryStore};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;

/// Counts requests per DynamoDB operation, read from the `X-Amz-Target` header.
#[derive(Debug, Default, Clone)]
struct RoundTrips(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for RoundTrips {
    fn name(&self) -> &'static str {
        "RoundTrips"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        if let Ok(mut counts) = self.0.lock() {
            *counts.entry(op).or_default() += 1;
        }
        Ok(())
    }
}

fn signed_request(body: &serde_json::Value) -> lambda_http::Request {
    let raw = body.to_string();
    let header = signer()
        .header("POST", "/v1/events/purchase", raw.as_bytes())
        .expect("signed");
    http::Request::builder()
        .method("POST")
        .uri("/v1/events/purchase")
        .header("rapport-signature", header)
        .header("content-type", "application/json")
        .body(lambda_http::Body::Text(raw))
        .expect("request")
}

/// Event `i` of a stream spread over `customers` customers.
fn event(i: usize, customers: usize, tag: &str) -> serde_json::Value {
    purchase(
        &format!("{tag}-e{i}"),
        &format!("{tag}-c{}", i % customers),
        &format!("{tag}-o{i}"),
        1_000 + (i as i64 % 500),
    )
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");

    // 1. Round trips per event.
    let counter = RoundTrips::default();
    let sdk = rapport_local::sdk_config(&dynamodb.endpoint(), "http://127.0.0.1:9");
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&counted, &table)
        .await
        .expect("table");
    counter.0.lock().expect("counter").clear();
    let api = Api::new(
        DynamoStore::new(counted, table.clone()),
        config(&table, &[]),
    );
    let sample = 200;
    for i in 0..sample {
        let r = api.purchase(signed_request(&event(i, 50, "rt"))).await;
        assert_eq!(r.status(), 200);
    }
    let counts = counter.0.lock().expect("counter").clone();
    let total: u64 = counts.values().sum();
    println!("round trips per purchase event ({sample} events, 50 customers, serial):");
    for (op, n) in &counts {
        println!("  {op:<20} {:.2}", *n as f64 / sample as f64);
    }
    println!("  {:<20} {:.2}", "total", total as f64 / sample as f64);

    // 2. Handler CPU per event, no network.
    let memory = Api::new(MemoryStore::new(), config("memory", &[]));
    let requests: Vec<_> = (0..events)
        .map(|i| signed_request(&event(i, 500, "cpu")))
        .collect();
    let started = Instant::now();
    for r in requests {
        let response = memory.purchase(r).await;
        assert_eq!(response.status(), 200);
    }
    let elapsed = started.elapsed();
    println!(
        "handler CPU per event (in-memory store, 1 thread): {:.1} µs ({events} events)",
        elapsed.as_secs_f64() * 1e6 / events as f64
    );

    // 3. Throughput through the local server vs raw PutItem, same DynamoDB Local.
    let server = TestApi::start().await;
    let bodies: Vec<_> = (0..events).map(|i| event(i, 1000, "tp")).collect();
    let started = Instant::now();
    let statuses: Vec<u16> = stream::iter(bodies.iter())
        .map(|b| async { server.post("/v1/events/purchase", b).await.status })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let api_elapsed = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 200), "some events failed");

    let raw_client = dynamodb.client();
    let raw_table = server.store.table().to_owned();
    let started = Instant::now();
    stream::iter(0..events)
        .map(|i| {
            let (client, table) = (raw_client.clone(), raw_table.clone());
            async move {
                client
                    .put_item()
                    .table_name(table)
                    .item("PK", AttributeValue::S(format!("RAW#{i}")))
                    .item("SK", AttributeValue::S("RAW".into()))
                    .item("n", AttributeValue::N(i.to_string()))
                    .send()
                    .await
                    .expect("put")
            }
        })
        .buffer_unordered(CLIENTS)
        .for_each(|_| async {})
        .await;
    let raw_elapsed = started.elapsed();

    // The floor of this design: one four-item transaction per event, nothing else.
    let started = Instant::now();
    stream::iter(0..events)
        .map(|i| {
            let (client, table) = (raw_client.clone(), raw_table.clone());
            async move {
                let puts = (0..4).map(|k| {
                    let put = aws_sdk_dynamodb::types::Put::builder()
                        .table_name(&table)
                        .item("PK", AttributeValue::S(format!("TX#{i}")))
                        .item("SK", AttributeValue::S(format!("TX#{k}")))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .expect("put");
                    aws_sdk_dynamodb::types::TransactWriteItem::builder()
                        .put(put)
                        .build()
                });
                client
                    .transact_write_items()
                    .set_transact_items(Some(puts.collect()))
                    .send()
                    .await
                    .expect("transact")
            }
        })
        .buffer_unordered(CLIENTS)
        .for_each(|_| async {})
        .await;
    let tx_elapsed = started.elapsed();
    let api_rate = rate(events, api_elapsed);
    let raw_rate = rate(events, raw_elapsed);
    println!("throughput with {CLIENTS} concurrent clients ({events} each):");
    println!("  purchase events via local server  {api_rate:>8.0} /s");
    println!("  raw PutItem on DynamoDB Local     {raw_rate:>8.0} /s");
    let tx_rate = rate(events, tx_elapsed);
    println!("  raw 4-item TransactWriteItems     {tx_rate:>8.0} /s");
    println!(
        "  ratio events/PutItem              {:>8.2}",
        api_rate / raw_rate
    );
    println!(
        "  ratio events/TransactWriteItems   {:>8.2}",
        api_rate / tx_rate
    );
}
