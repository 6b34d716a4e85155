//! The database goes away mid-stream: while a storefront streams purchase events, the
//! network between the API and DynamoDB Local is cut — a TCP proxy in front of the
//! database stops accepting connections and drops every open one, requests in flight
//! included — and restored on the same port a few seconds later. While it is down every
//! request must get a fast 503 with `Retry-After` and a problem+json body that reveals
//! nothing internal; a client that retries what failed must end with exactly the
//! balances of one in-order delivery: nothing lost, nothing counted twice, every balance
//! equal to its ledger, one order per event.
//!
//! The database process itself keeps running: DynamoDB Local stopped by a signal loses
//! writes it had already acknowledged now and then (seen under load), which DynamoDB
//! does not do, and which would make the test measure the emulator instead of Rapport.
//! A cut connection is also the harder case for exactly-once delivery: a transaction
//! DynamoDB applied may lose its answer on the way back, and the retry must find it.

use futures::future::join_all;
use rapport_integration::{TestApi, config, load_test_turn, purchase, signer};
use rapport_shared::domain::CustomerId;
use rapport_shared::store::LedgerStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const CUSTOMERS: usize = 10;
const EVENTS_PER_CUSTOMER: usize = 30;
/// Events recorded before the network is cut.
const CUT_AFTER: usize = 100;
/// How long the network stays down.
const DOWNTIME: Duration = Duration::from_secs(4);
/// A 503 must come well within the Lambda timeout (10 s in template.yaml).
const MAX_503_LATENCY: Duration = Duration::from_secs(8);

/// What the network between the API and the database does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Network {
    Up,
    /// Every open connection dropped, requests in flight included; new connections
    /// closed as soon as they are made, as when the database's host is gone.
    Down,
    /// Every open connection dropped; new ones taken but never answered — packets into
    /// the void, as in a partition — so only the API's own timeouts end a request.
    Stalled,
}

/// A TCP proxy in front of the database that can cut the network and restore it.
struct Link {
    port: u16,
    network: watch::Sender<Network>,
}

impl Link {
    async fn open(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (network, _) = watch::channel(Network::Up);
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let link = Self { port, network };
        let network = link.network.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (upstream, mut state) = (upstream.clone(), network.subscribe());
                tokio::spawn(async move {
                    let now = *state.borrow_and_update();
                    match now {
                        Network::Down => return,
                        Network::Stalled => {
                            // Held, unanswered, until the network changes; then dropped.
                            let _ = state.wait_for(|n| *n != now).await;
                            return;
                        }
                        Network::Up => {}
                    }
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|n| *n != Network::Up) => {}
                    }
                });
            }
        });
        link
    }

    fn set(&self, network: Network) {
        self.network.send_replace(network);
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
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
    let header = signer()
        .header("POST", "/v1/events/purchase", raw.as_bytes())
        .expect("signed");
    http.post(format!("{base}/v1/events/purchase"))
        .header("Rapport-Signature", header)
        .header("Content-Type", "application/json")
        .body(raw)
}

async fn profile(http: &reqwest::Client, base: &str, id: &str) -> Value {
    let path = format!("/v1/customers/{id}");
    let header = signer().header("GET", &path, b"").expect("signed");
    let response = http
        .get(format!("{base}{path}"))
        .header("Rapport-Signature", header)
        .send()
        .await
        .expect("profile request");
    assert_eq!(response.status(), 200, "profile of {id}");
    response.json().await.expect("profile body")
}

/// Sends one event once.
async fn attempt(http: &reqwest::Client, base: &str, body: &Value) -> Attempt {
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
    Attempt {
        event_id: body["event_id"].as_str().unwrap_or_default().to_owned(),
        sent,
        answered,
        status,
        retry_after,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Sends one event until it is recorded, honouring `Retry-After`; returns the
/// receipt and every attempt.
async fn deliver(http: &reqwest::Client, base: &str, body: &Value) -> (Value, Vec<Attempt>) {
    let mut attempts = Vec::new();
    loop {
        let answer = attempt(http, base, body).await;
        let (status, receipt) = (answer.status, answer.body.clone());
        let wait = answer.retry_after.as_deref().map(str::to_owned);
        attempts.push(answer);
        match status {
            200 => return (receipt, attempts),
            503 => {
                let wait = wait
                    .and_then(|s| s.parse::<u64>().ok())
                    .expect("a 503 names Retry-After in seconds");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("event {}: unexpected {other}: {receipt}", body["event_id"]),
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

/// The API served over a fresh table, its database behind a [`Link`].
struct Served {
    link: Link,
    base: String,
    store: rapport_shared::store::DynamoStore,
    http: reqwest::Client,
    stop_server: tokio::sync::oneshot::Sender<()>,
}

async fn serve_through_a_link() -> Served {
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let table = format!("rapport-faults-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&dynamodb.client(), &table)
        .await
        .expect("create table");
    let link = Link::open(&dynamodb.endpoint()).await;
    // No SES here: purchases send no mail.
    let sdk = rapport_local::sdk_config(&link.endpoint(), "http://127.0.0.1:9");
    let api = Arc::new(rapport_shared::bootstrap::api(&sdk, config(&table, &[])));
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
    Served {
        link,
        base,
        store,
        http,
        stop_server,
    }
}

/// What every 503 must be: fast, with `Retry-After`, problem+json, nothing internal.
fn assert_unavailable(a: &Attempt) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_survives_the_network_to_the_database_being_cut() {
    let _load_test = load_test_turn().await;
    let expected = reference().await;

    let Served {
        link,
        base,
        store,
        http,
        stop_server,
    } = serve_through_a_link().await;

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

    while recorded.load(Ordering::SeqCst) < CUT_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cutting = Instant::now();
    link.set(Network::Down);
    let down = Instant::now();
    tokio::time::sleep(DOWNTIME).await;
    let restoring = Instant::now();
    link.set(Network::Up);
    let back = Instant::now();

    for stream in streams.await.expect("streams") {
        stream.expect("a stream failed");
    }

    let log = std::mem::take(&mut *log.lock().expect("log"));
    // Sent once the network was cut and answered before it was restored: the database
    // was certainly unreachable for the whole request.
    let while_down: Vec<&Attempt> = log
        .iter()
        .filter(|a| a.sent >= down && a.answered <= restoring)
        .collect();
    // Any part of the request inside the outage.
    let during_outage = log
        .iter()
        .filter(|a| a.sent < back && a.answered > cutting)
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
        assert_unavailable(a);
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
            "orders",
            "points_balance",
            "points_pending",
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
         while down); 503s: {}; retries: {}; outage: {:.1?} (cut {:.1?}, down {:.1?}, \
         restore {:.1?}); slowest 503: {slowest_503:.0?}",
        CUSTOMERS * EVENTS_PER_CUSTOMER,
        log.len(),
        while_down.len(),
        unavailable.len(),
        log.len() - CUSTOMERS * EVENTS_PER_CUSTOMER,
        back - cutting,
        down - cutting,
        restoring - down,
        back - restoring,
    );
}

/// A database that takes connections and never answers: only the API's own bounds end
/// the request, and they must end it with a 503 inside the function's timeout. The
/// event retried once the network is back is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_answers_503_within_the_bound() {
    // A customer of its own: the stream test's customers queue in the same process.
    const STALLED: usize = CUSTOMERS + 1;
    let Served {
        link,
        base,
        store,
        http,
        stop_server,
    } = serve_through_a_link().await;
    let first = attempt(&http, &base, &event(STALLED, 0)).await;
    assert_eq!(first.status, 200, "{:?}", first.body);

    link.set(Network::Stalled);
    let stalled = attempt(&http, &base, &event(STALLED, 1)).await;
    assert_eq!(stalled.status, 503, "{stalled:?}");
    assert_unavailable(&stalled);
    // The bounds, not a lucky early failure, ended it.
    assert!(
        stalled.answered - stalled.sent >= Duration::from_secs(2),
        "{stalled:?}"
    );

    link.set(Network::Up);
    let (receipt, _) = deliver(&http, &base, &event(STALLED, 1)).await;
    assert_eq!(receipt["event_id"], format!("fault-evt-{STALLED}-1"));
    let again = attempt(&http, &base, &event(STALLED, 1)).await;
    assert_eq!(again.status, 200, "a duplicate is answered as before");
    let ledger = store
        .ledger(&CustomerId::parse("id", &format!("fault-cust-{STALLED}")).expect("id"))
        .await
        .expect("ledger");
    assert_eq!(ledger.len(), 2, "one ledger entry per order: {ledger:?}");
    assert_eq!(
        profile(&http, &base, &format!("fault-cust-{STALLED}")).await["orders"],
        2
    );
    let _ = stop_server.send(());
    let _ = writeln!(
        std::io::stderr(),
        "faults: a stalled database answered 503 in {:.1?}",
        stalled.answered - stalled.sent
    );
}
