//! Test support for the integration tests and the benchmarks: a fresh table on the
//! shared DynamoDB Local, the real local HTTP server in front of it, a client that signs
//! requests like a storefront, the mail the shared SES emulator accepted for a test's
//! own addresses, and turns for the load tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use rapport_local::client::Signer;
use rapport_local::ses::SentEmail;
use rapport_shared::Config;
use rapport_shared::auth::keys::{self, ApiKeys, SecretSet, UnsubscribeKeys};
use rapport_shared::auth::signature::{self, SignedRequest};
use rapport_shared::domain::CustomerId;
use rapport_shared::service::deliver::DeliverySettings;
use rapport_shared::store::DynamoStore;
use serde_json::Value;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The storefront's key (`events` scope) and the merchant's (`admin`), as
/// `<key id>:<secret>`.
pub const EVENTS_KEY: &str = "test-events:integration-test-events-secret";
pub const ADMIN_KEY: &str = "test-admin:integration-test-admin-secret";
/// The unsubscribe-link key, version 1.
pub const UNSUBSCRIBE_KEYS: &str = "1:integration-test-unsubscribe-secret";

/// The settings every test API starts with.
pub const KEY_SETTINGS: [(&str, &str); 3] = [
    (keys::EVENTS_KEY, EVENTS_KEY),
    (keys::ADMIN_KEY, ADMIN_KEY),
    (keys::UNSUBSCRIBE_KEYS, UNSUBSCRIBE_KEYS),
];

fn key_setting(name: &str) -> Option<String> {
    KEY_SETTINGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v).to_owned())
}

/// The test API keys.
pub fn api_keys() -> ApiKeys {
    ApiKeys::from_settings(&key_setting)
        .expect("test keys")
        .expect("test keys")
}

/// The key of `scope`.
pub fn key(scope: keys::Scope) -> keys::ApiKey {
    api_keys()
        .signer(scope)
        .expect("a key of each scope")
        .clone()
}

/// The test unsubscribe keys.
pub fn unsubscribe_keys() -> Arc<UnsubscribeKeys> {
    Arc::new(
        UnsubscribeKeys::from_settings(&key_setting)
            .expect("test keys")
            .expect("test keys"),
    )
}

/// Signs as a shop's systems do: the events key on storefront routes, the admin key
/// on the rest.
pub fn signer() -> Signer {
    Signer::new(api_keys())
}

/// A `Rapport-Signature` header by `key` for exactly this request at `timestamp`.
pub fn sign_as(
    key: &keys::ApiKey,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    signature::sign(
        key,
        timestamp,
        &SignedRequest {
            method,
            path_and_query,
            body,
        },
    )
}

/// The secret erased customers' tombstones are keyed with, in every test API and job.
pub const TOMBSTONE_KEY: &str = "integration-test-tombstones";

/// Waits until no other load test runs, and keeps them waiting while the guard lives.
///
/// The load tests (soak, hot customer, database outage, Schemathesis, the job killed at
/// random points) assert on what a storefront sees under load: how many `503`s, how fast
/// an answer, how many runs are cut short. On a small machine each of them takes most
/// of it, so two at once would measure each other. Each holds this turn for its whole
/// run; the other tests, short and light, still run beside it.
pub async fn load_test_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static LOAD_TESTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOAD_TESTS.lock().await
}

/// A customer id the test knows to be valid.
pub fn cid(id: &str) -> CustomerId {
    CustomerId::parse("id", id).expect("customer id")
}

/// An RFC 3339 instant the test knows to be valid.
pub fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().expect("RFC 3339 instant")
}

/// Mail the SES emulator at `ses_endpoint` accepted for `address` (to, cc or bcc),
/// oldest first. Every test of the process shares the emulator and its mailbox, so
/// `address` must be one that only the calling test mails.
pub async fn sent_to(ses_endpoint: &str, address: &str) -> Vec<SentEmail> {
    rapport_local::ses::sent_messages(ses_endpoint)
        .await
        .expect("SES emulator store")
        .into_iter()
        .filter(|m| m.is_addressed_to(address))
        .collect()
}

/// Mail the SES emulator at `ses_endpoint` accepted with a `to` address containing
/// `tag`, a string unique to the calling test (a UUID), oldest first.
pub async fn sent_tagged(ses_endpoint: &str, tag: &str) -> Vec<SentEmail> {
    rapport_local::ses::sent_messages(ses_endpoint)
        .await
        .expect("SES emulator store")
        .into_iter()
        .filter(|m| m.to_addresses().iter().any(|a| a.contains(tag)))
        .collect()
}

/// One isolated API: its own table, its own server on a free port.
pub struct TestApi {
    pub base_url: String,
    /// Where this API's service-recovery alerts are addressed.
    pub support_email: String,
    pub ses_endpoint: String,
    pub store: DynamoStore,
    pub http: reqwest::Client,
    /// The table and a client of its DynamoDB Local, to read every item back.
    pub table: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// What a response says: status, headers, content type, JSON body (`null` when
    /// the body is not JSON).
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            body,
            headers,
        }
    }

    /// The `field` of a problem+json body.
    pub fn field(&self) -> &str {
        self.body["field"].as_str().unwrap_or_default()
    }

    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

pub fn config(table: &str, extra: &[(&str, &str)]) -> Config {
    let table = table.to_owned();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Config::from_lookup(move |k| match k {
        "RAPPORT_TABLE" => Some(table.clone()),
        _ => extra
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .or_else(|| key_setting(k))
            // No quiet hours, as in `job_settings`: a program saved from the settings
            // must not make tests depend on the hour they run at.
            .or_else(|| (k == "RAPPORT_QUIET_HOURS").then(|| "0-0".to_owned()))
            // Nor on the day's festivals: the festival tests bring their own calendar.
            .or_else(|| (k == "RAPPORT_FESTIVALS").then(|| "none".to_owned())),
    })
    .expect("test configuration")
}

impl TestApi {
    /// Starts the API over a new table with default settings.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the API over a new table with extra configuration variables.
    pub async fn start_with(extra: &[(&str, &str)]) -> Self {
        Self::start_on(extra, false, None).await
    }

    /// Starts the API with extra configuration variables, serving the reports
    /// `reports` holds.
    pub async fn start_with_reports(
        extra: &[(&str, &str)],
        reports: Arc<dyn rapport_shared::store::ReportStore>,
    ) -> Self {
        Self::start_on(extra, false, Some(reports)).await
    }

    /// Starts the API over a new table that has the template's stream, for tests that
    /// read it (tables without one keep the shared DynamoDB Local quick).
    pub async fn start_with_stream() -> Self {
        Self::start_on(&[], true, None).await
    }

    async fn start_on(
        extra: &[(&str, &str)],
        stream: bool,
        reports: Option<Arc<dyn rapport_shared::store::ReportStore>>,
    ) -> Self {
        let dynamodb = rapport_local::shared_dynamodb()
            .await
            .expect("DynamoDB Local");
        let ses = rapport_local::shared_ses().await.expect("SES emulator");
        let sdk = rapport_local::sdk_config(&dynamodb.endpoint(), &ses.endpoint());
        let table = format!("rapport-test-{}", uuid::Uuid::new_v4().simple());
        let support = format!("support-{table}@shop.example");
        // The test's own settings first: the first of a name counts.
        let mut settings = extra.to_vec();
        settings.extend_from_slice(&[
            ("RAPPORT_SENDER_EMAIL", "rapport@shop.example"),
            ("RAPPORT_SUPPORT_EMAIL", support.as_str()),
            ("RAPPORT_TOMBSTONE_KEY", TOMBSTONE_KEY),
        ]);
        let config = config(&table, &settings);
        let created = match stream {
            true => rapport_local::tables::create_table(&dynamodb.client(), &table).await,
            false => {
                rapport_local::tables::create_table_without_stream(&dynamodb.client(), &table).await
            }
        };
        created.expect("create table");
        let mut api = rapport_shared::bootstrap::api(&sdk, config);
        if let Some(reports) = reports {
            api = api.with_reports(reports);
        }
        let api = Arc::new(api);
        let store = api.store.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(rapport_local::server::serve(listener, api, async {
            let _ = rx.await;
        }));
        Self {
            base_url,
            support_email: support,
            ses_endpoint: ses.endpoint(),
            store,
            http: reqwest::Client::new(),
            table,
            dynamodb: dynamodb.client(),
            _shutdown: tx,
        }
    }

    /// Every item in the table as JSON, in key order: what "nothing changed" compares.
    pub async fn items(&self) -> Vec<Value> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items.unwrap_or_default() {
                let json: Value = serde_dynamo::from_item(item).expect("item as JSON");
                items.push(json);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort_by_key(|i| (i["PK"].to_string(), i["SK"].to_string()));
        items
    }

    /// The sum of the customer's ledger entries, read from the table.
    pub async fn ledger_sum(&self, customer: &str) -> i64 {
        use rapport_shared::store::LedgerStore;
        self.store
            .ledger(&cid(customer))
            .await
            .expect("ledger read")
            .iter()
            .map(|e| e.delta)
            .sum()
    }

    /// Mail the SES emulator accepted for this API's support address.
    pub async fn support_mail(&self) -> Vec<SentEmail> {
        self.mail_to(&self.support_email).await
    }

    /// Mail the SES emulator accepted for `address`; see [`sent_to`].
    pub async fn mail_to(&self, address: &str) -> Vec<SentEmail> {
        sent_to(&self.ses_endpoint, address).await
    }

    /// Mail the SES emulator accepted for addresses containing `tag`; see [`sent_tagged`].
    pub async fn mail_tagged(&self, tag: &str) -> Vec<SentEmail> {
        sent_tagged(&self.ses_endpoint, tag).await
    }

    /// Sends `body` signed with the key the route's scope needs.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        let header = signer()
            .header(method, path, raw.as_bytes())
            .expect("a key for every route");
        self.send_raw(
            method,
            path,
            raw.into_bytes(),
            Some(&header),
            Some("application/json"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    /// Posts `body` as a storefront that honours `503`s does: after each one it waits
    /// the `Retry-After` seconds (1 when absent) and posts again, at most `max_retries`
    /// times. Answers the last reply and the number of retries.
    pub async fn post_retrying(&self, path: &str, body: &Value, max_retries: u32) -> (Reply, u32) {
        let mut retries = 0;
        loop {
            let reply = self.post(path, body).await;
            if reply.status != 503 || retries == max_retries {
                return (reply, retries);
            }
            retries += 1;
            let wait = reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }

    /// Sends exactly these bytes and headers, for tests of what a storefront gets wrong.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        signature_header: Option<&str>,
        content_type: Option<&str>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .body(body);
        if let Some(h) = signature_header {
            request = request.header("Rapport-Signature", h);
        }
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        Reply::read(request.send().await.expect("request")).await
    }
}

/// Runs the job over `api`'s table with `settings`, mailing through the SES emulator, in
/// the shop's currency (USD); its summary.
pub async fn run_job(
    api: &TestApi,
    settings: &rapport_job::run::RunSettings,
    now: DateTime<Utc>,
) -> rapport_job::summary::RunSummary {
    rapport_job::run::run(
        &api.store,
        emulator_sender(api),
        settings,
        rapport_shared::domain::Currency::parse("currency", "USD").expect("USD"),
        now,
    )
    .await
    .expect("the job runs")
    .summary
}

/// A purchase event body with one line item.
pub fn purchase(event: &str, customer: &str, order: &str, total: i64) -> Value {
    serde_json::json!({
        "event_id": event,
        "kind": "purchase",
        "customer_id": customer,
        "order_id": order,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
        "currency": "USD",
        "total_minor": total,
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price_minor": total}],
    })
}

/// A refund event body.
pub fn refund(event: &str, customer: &str, order: &str, amount: i64) -> Value {
    serde_json::json!({
        "event_id": event,
        "kind": "refund",
        "customer_id": customer,
        "order_id": order,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
        "currency": "USD",
        "total_minor": amount,
    })
}

/// Delivery settings for tests: mail from a fixed shop through this API's links.
pub fn delivery_settings(api: &TestApi) -> DeliverySettings {
    delivery_settings_at(&api.base_url)
}

/// Delivery settings for tests: mail from a fixed shop with links to `base_url`.
pub fn delivery_settings_at(base_url: &str) -> DeliverySettings {
    DeliverySettings {
        shop_name: "Chai & Co".into(),
        from: "Chai & Co <hello@chai.example>".into(),
        public_base_url: base_url.to_owned(),
        unsubscribe_keys: Some(unsubscribe_keys()),
        coupon_valid_days: 30,
        review_points: 25,
        tips: Vec::new(),
        rewards: Vec::new(),
        festivals: Vec::new(),
        points_expiry_months: None,
        wording: Default::default(),
        max_send_attempts: 3,
        claim_lease: chrono::Duration::minutes(30),
    }
}

/// Job settings for tests: no quiet hours (tests must not depend on the hour they run
/// at), a 10 % control group, and the [`delivery_settings`].
pub fn job_settings(api: &TestApi) -> rapport_job::run::RunSettings {
    job_settings_for(&api.table, delivery_settings(api))
}

/// [`job_settings`] for the table `table`, delivering with `delivery`.
pub fn job_settings_for(table: &str, delivery: DeliverySettings) -> rapport_job::run::RunSettings {
    use rapport_shared::config::JobConfig;
    use rapport_shared::domain::outreach::OutreachRules;
    let mut settings = rapport_job::run::RunSettings::new(JobConfig {
        scan_segments: 3,
        horizon_weeks: 52.0,
        churn_window_weeks: 13.0,
        fit_sample: rapport_shared::config::DEFAULT_FIT_SAMPLE,
        rules: OutreachRules {
            quiet_start: 0,
            quiet_end: 0,
            holdout_pct: 10,
            ..OutreachRules::default()
        },
        delivery,
        send_concurrency: 8,
        // Many batches in a test's few hundred customers.
        write_batch: 16,
        loyalty: config(table, &[]).rules,
        spend_gifts: Vec::new(),
        ses_configuration_set: None,
        ses_rate_share: 1.0,
        ses_max_send_rate: None,
        report_to: None,
        report_link_days: 30,
        tombstone_key: rapport_shared::domain::TombstoneKey::new(TOMBSTONE_KEY.as_bytes()),
    });
    settings.model_version = "test".into();
    settings
}

/// SES through the emulator, with its mailbox as the delivery log.
pub fn emulator_sender(api: &TestApi) -> Arc<rapport_local::ses::EmulatorSender> {
    let sdk = rapport_local::sdk_config("http://127.0.0.1:9", &api.ses_endpoint);
    Arc::new(rapport_local::ses::EmulatorSender::new(
        aws_sdk_ses::Client::new(&sdk),
        api.ses_endpoint.clone(),
    ))
}

/// A fresh bucket of its own on the shared S3 emulator, as the job's run bucket: the
/// store over it (built as the job builds it) and the bucket's name.
pub async fn run_bucket() -> (rapport_shared::store::S3Artifacts, String) {
    let s3 = rapport_local::shared_s3().await.expect("S3 emulator");
    // Bucket names are lowercase and at most 63 characters.
    let bucket = format!(
        "rapport-runs-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    s3.create_bucket(&bucket).await.expect("create the bucket");
    (
        rapport_shared::store::S3Artifacts::new(s3.client(), &bucket),
        bucket,
    )
}
