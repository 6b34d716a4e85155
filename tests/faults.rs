//! The database goes away mid-stream: DynamoDB Local (on disk, so its tables survive)
//! is killed while a storefront streams purchase events and started again on the same
//! port. While it is down every request must get a fast 503 with `Retry-After` and a
//! problem+json body that reveals nothing internal; a client that retries what failed
//! must end with exactly the balances of one in-order delivery: nothing lost, nothing
//! counted twice, every balance equal to its ledger.

use futures::future::join_all;
use rapport_integration::{SECRET, TestApi, config, load_test_turn, purchase};
use rapport_local::DynamoDbLocal;
use rapport_shared::domain::CustomerId;
use rapport_shared::store::LedgerStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const CUSTOMERS: usize = 10;
const EVENTS_PER_CUSTOMER: usize = 30;
/// Events recorded before the database is killed.
const KILL_AFTER: usize = 100;
/// How long the database stays down before it is started again.
const DOWNTIME: Duration = Duration::from_secs(4);
/// A 503 must come well within the Lambda timeout (10 s in template.yaml).
const MAX_503_LATENCY: Duration = Duration::from_secs(8);

/// Removes the database directory however the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One attempt at delivering an event, as the client saw it.
#[derive(Debug)]
struct Attempt {
    event_id: String,
    sent: Instant,
    answered: Instant,
    status: u16,
    retry_after: Option<String>,
    content_type: String,
    body: Value,
}

/// Customer `c`'s `n`-th event: totals vary so tiers change along the way, and each
/// event carries its own fixed time, so both deliveries see the same events.
fn event(c: usize, n: usize) -> Value {
    let customer = format!("fault-cust-{c}");
    let total = 1_000 + ((c * 7919 + n * 104_729) % 40_000) as i64;
    let mut body = purchase(
        &format!("fault-evt-{c}-{n}"),
        &customer,
        &format!("fault-ord-{c}-{n}"),
        total,
    );
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").expect("time")
        + chrono::Duration::hours((n * 24 + c) as i64);
    body["occurred_at"] = Value::String(at.to_rfc3339());
    body
}

fn signed(http: &reqwest::Client, base: &str, body: &Value) -> reqwest::RequestBuilder {
    let raw = body.to_string();
    let header = rapport_shared::auth::signature::sign(
        SECRET.as_bytes(),
        chrono::Utc::now().timestamp(),
        raw.as_bytes(),
    );
    http.post(format!("{base}/v1/events/purchase"))
        .header("Rapport-Signature", header)
        .header("Content-Type", "application/json")
        .body(raw)
}

async fn profile(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let header = rapport_shared::auth::signature::sign(
        SECRET.as_bytes(),
        chrono::Utc::now().timestamp(),
        b"",
    );
    let response = http
        .get(format!("{base}/v1/customers/{id}"))
        .header("Rapport-Signature", header)
        .send()
        .await
        .expect("profile request");
    assert_eq!(response.status(), 200, "profile of {id}");
    response.json().await.expect("profile body")
}

/// Sends one event until it is recorded, honouring `Retry-After`; returns the
/// receipt and every attempt.
async fn deliver(http: &reqwest::Client, base: &str, body: &Value) -> (Value, Vec<Attempt>) {
    let mut attempts = Vec::new();
    loop {
        let sent = Instant::now();
        let response = signed(http, base, body).send().await;
        let answered = Instant::now();
        let response = match response {
            Ok(r) => r,
            Err(e) => panic!("the API itself must stay up: {e}"),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let content_type = header("content-type").unwrap_or_default();
        let bytes = response.bytes().await.expect("response body");
        let body_json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        attempts.push(Attempt {
            event_id: body["event_id"].as_str().unwrap_or_default().to_owned(),
            sent,
            answered,
            status,
            retry_after: retry_after.clone(),
            content_type,
            body: body_json.clone(),
        });
        match status {
            200 => return (body_json, attempts),
            503 => {
                let wait = retry_after
                    .as_deref()
                    .and_then(|s| s.parse::<u64>().ok())
                    .expect("a 503 names Retry-After in seconds");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!(
                "event {}: unexpected {other}: {body_json}",
                body["event_id"]
            ),
        }
    }
}

/// What one in-order delivery of every event leaves, on a database nobody disturbs.
async fn reference() -> BTreeMap<String, Value> {
    let api = TestApi::start().await;
    for n in 0..EVENTS_PER_CUSTOMER {
        for c in 0..CUSTOMERS {
            let reply = api.post("/v1/events/purchase", &event(c, n)).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
        }
    }
    let mut profiles = BTreeMap::new();
    for c in 0..CUSTOMERS {
        let id = format!("fault-cust-{c}");
        let reply = api.get(&format!("/v1/customers/{id}")).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        profiles.insert(id, reply.body);
    }
    profiles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_survives_the_database_being_killed_and_restarted() {
    let _load_test = load_test_turn().await;
    let expected = reference().await;

    let dir = TempDir(
        std::env::temp_dir().join(format!("rapport-faults-{}", uuid::Uuid::new_v4().simple())),
    );
    let mut dynamodb = DynamoDbLocal::start_on_disk(&dir.0, 0)
        .await
        .expect("DynamoDB Local on disk");
    let table = "rapport-faults";
    rapport_local::tables::create_table(&dynamodb.client(), table)
        .await
        .expect("create table");
    // No SES here: purchases send no mail.
    let sdk = rapport_local::sdk_config(&dynamodb.endpoint(), "http://127.0.0.1:9");
    let api = Arc::new(rapport_shared::bootstrap::api(&sdk, config(table, &[])));
    let store = api.store.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(rapport_local::server::serve(listener, api, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");

    // One in-order stream per customer, the customers side by side.
    let recorded = Arc::new(AtomicUsize::new(0));
    let log: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let streams = (0..CUSTOMERS).map(|c| {
        let (http, base, recorded, log) =
            (http.clone(), base.clone(), recorded.clone(), log.clone());
        tokio::spawn(async move {
            for n in 0..EVENTS_PER_CUSTOMER {
                let (receipt, attempts) = deliver(&http, &base, &event(c, n)).await;
                assert_eq!(receipt["event_id"], format!("fault-evt-{c}-{n}"));
                log.lock().expect("log").extend(attempts);
                recorded.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    let streams = tokio::spawn(join_all(streams));

    while recorded.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    dynamodb.stop().expect("stopping DynamoDB Local");
    let down = Instant::now();
    tokio::time::sleep(DOWNTIME).await;
    let restarting = Instant::now();
    dynamodb.restart().await.expect("restarting DynamoDB Local");
    let back = Instant::now();

    for stream in streams.await.expect("streams") {
        stream.expect("a stream failed");
    }

    let log = std::mem::take(&mut *log.lock().expect("log"));
    // Sent once the process had exited and answered before it was started again: the
    // database was certainly unreachable for the whole request.
    let while_down: Vec<&Attempt> = log
        .iter()
        .filter(|a| a.sent >= down && a.answered <= restarting)
        .collect();
    // Any part of the request inside the outage, from the stop signal to ready again.
    let during_outage = log
        .iter()
        .filter(|a| a.sent < back && a.answered > stopping)
        .count();
    let unavailable: Vec<&Attempt> = log.iter().filter(|a| a.status == 503).collect();
    assert!(
        !while_down.is_empty(),
        "no request was made while the database was down"
    );
    for a in &while_down {
        assert_eq!(
            a.status, 503,
            "{} while the database was down: {a:?}",
            a.event_id
        );
    }
    for a in &unavailable {
        assert_eq!(a.retry_after.as_deref(), Some("1"), "{a:?}");
        assert_eq!(a.content_type, "application/problem+json", "{a:?}");
        assert_eq!(a.body["type"], "https://rapport.dev/problems/unavailable");
        assert_eq!(a.body["status"], 503);
        let text = a.body.to_string().to_ascii_lowercase();
        for internal in [
            "dynamo",
            "sdk",
            "dispatch",
            "connect",
            "127.0.0.1",
            "refused",
            "timeout",
            "error:",
        ] {
            assert!(!text.contains(internal), "a 503 leaks {internal:?}: {text}");
        }
        assert!(
            a.answered - a.sent < MAX_503_LATENCY,
            "a 503 took {:?}",
            a.answered - a.sent
        );
    }

    for c in 0..CUSTOMERS {
        let id = format!("fault-cust-{c}");
        let ledger = store
            .ledger(&CustomerId::parse("id", &id).expect("id"))
            .await
            .expect("ledger");
        let ledger_sum: i64 = ledger.iter().map(|e| e.delta).sum();
        let profile = profile(&http, &base, &id).await;
        let want = &expected[&id];
        assert_eq!(
            profile["points_balance"], ledger_sum,
            "{id}: balance vs ledger"
        );
        for field in [
            "points_balance",
            "points_pending",
            "orders",
            "net_spend_minor",
            "tier",
        ] {
            assert_eq!(
                profile[field], want[field],
                "{id}: {field} vs one in-order delivery"
            );
        }
        assert_eq!(profile["orders"], EVENTS_PER_CUSTOMER, "{id}");
        assert_eq!(
            ledger.len(),
            EVENTS_PER_CUSTOMER,
            "{id}: one ledger entry per order"
        );
    }
    let _ = stop_server.send(());

    let slowest_503 = unavailable
        .iter()
        .map(|a| a.answered - a.sent)
        .max()
        .unwrap_or_default();
    // Straight to stderr, past the test harness's capture, so `make test` shows it.
    let _ = writeln!(
        std::io::stderr(),
        "faults: events: {}; requests: {}; during the outage: {during_outage} ({} sent and answered \
         while down); 503s: {}; retries: {}; outage: {:.1?} (stop {:.1?}, down {:.1?}, \
         restart {:.1?}); slowest 503: {slowest_503:.0?}",
        CUSTOMERS * EVENTS_PER_CUSTOMER,
        log.len(),
        while_down.len(),
        unavailable.len(),
        log.len() - CUSTOMERS * EVENTS_PER_CUSTOMER,
        back - stopping,
        down - stopping,
        restarting - down,
        back - restarting,
    );
}
