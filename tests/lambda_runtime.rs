//! The binaries are real Lambda functions: each function binary, and the job's, runs
//! under cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`)
//! the way Lambda runs it — a process that polls `/runtime/invocation/next` — and
//! answers the sample event in `infra/events/` that `cargo lambda invoke --data-file`
//! delivers, against DynamoDB Local and the SES emulator. Responses and the resulting
//! table state are checked, and each binary's start-to-first-response time is printed.
//! The job also takes a run's steps as its state machine invokes them, keeping their
//! results in a run bucket on moto's S3, where the report is read back.
//!
//! The binaries are the debug builds beside this test (`cargo build --workspace --bins`,
//! which `make test` runs first), or the deployable ones when `RAPPORT_LAMBDA_ARTIFACTS`
//! names what `cargo lambda build --release` wrote (`target/lambda/<name>/bootstrap`);
//! cargo-lambda comes from PyPI into the git-ignored `.cache/` on first use.

use rapport_shared::domain::storefront::codes::Platform;
use rapport_shared::domain::{CustomerId, address_key};
use rapport_shared::store::{DynamoStore, LedgerStore, ProfileStore, ReadBackStore, ScoreStore};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long a binary may take from start to its first answer, compile excluded.
const FIRST_ANSWER_WITHIN: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn sample(name: &str) -> PathBuf {
    repo().join("infra/events").join(name)
}

/// `target/<profile>/<name>`, beside this test executable (`target/<profile>/deps/`), or
/// `<RAPPORT_LAMBDA_ARTIFACTS>/<name>/bootstrap`.
fn binary(name: &str) -> PathBuf {
    if let Some(artifacts) = std::env::var_os("RAPPORT_LAMBDA_ARTIFACTS") {
        let path = repo().join(artifacts).join(name).join("bootstrap");
        assert!(path.is_file(), "{} is missing", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("the test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins --test '*'` \
         (`make test` does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The Runtime API emulator on a free port; stopped when dropped.
struct Emulator {
    cargo_lambda: PathBuf,
    port: u16,
    _process: Child,
}

impl Emulator {
    async fn start() -> Self {
        let cargo_lambda =
            tokio::task::spawn_blocking(|| rapport_local::install::CARGO_LAMBDA.ensure())
                .await
                .expect("installing cargo-lambda")
                .unwrap_or_else(|e| panic!("cargo-lambda: {e:#}"));
        let port = free_port();
        let log = std::fs::File::create(
            rapport_local::install::logs_dir().join(format!("cargo-lambda-{port}.log")),
        )
        .ok();
        let process = Command::new(&cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(port.to_string())
            // It reads the workspace's metadata, as `cargo lambda watch` in the repo does.
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(
                log.as_ref()
                    .and_then(|f| f.try_clone().ok())
                    .map_or(Stdio::null(), Stdio::from),
            )
            .stderr(log.map_or(Stdio::null(), Stdio::from))
            .kill_on_drop(true)
            .spawn()
            .expect("starting cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the Runtime API emulator did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            cargo_lambda,
            port,
            _process: process,
        }
    }

    /// Starts `name`'s binary as Lambda would, with `env` as its configuration.
    fn function(&self, name: &str, env: &[(String, String)]) -> Child {
        Command::new(binary(name))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"))
    }

    /// `cargo lambda invoke <name> --data-file <event>`: the function's result.
    async fn invoke(&self, name: &str, event: &Path) -> Value {
        let output = Command::new(&self.cargo_lambda)
            .args(["lambda", "invoke", name, "--invoke-address", "127.0.0.1"])
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(event)
            .current_dir(repo())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(FIRST_ANSWER_WITHIN, output)
            .await
            .unwrap_or_else(|_| panic!("{name} did not answer within {FIRST_ANSWER_WITHIN:?}"))
            .expect("running cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "invoking {name} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name} answered {stdout}: {e}"))
    }
}

/// An API Gateway response's status and JSON body.
fn http(response: &Value) -> (u64, Value) {
    let status = response["statusCode"].as_u64().expect("statusCode");
    let body = response["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.to_owned())))
        .unwrap_or(Value::Null);
    (status, body)
}

/// The functions' configuration: the samples' settings (infra/events/env.json, which
/// the sample signatures were made with), the table and the local endpoints.
fn environment(table: &str, dynamodb: &str, ses: &str) -> Vec<(String, String)> {
    let env: Value = serde_json::from_str(
        &std::fs::read_to_string(sample("env.json")).expect("infra/events/env.json"),
    )
    .expect("env.json is JSON");
    let mut vars: Vec<(String, String)> = env["Parameters"]
        .as_object()
        .expect("Parameters")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    vars.extend(
        [
            ("RAPPORT_TABLE", table),
            ("RAPPORT_SENDER_EMAIL", "rapport@shop.example"),
            ("RAPPORT_SUPPORT_EMAIL", "support-runtime@shop.example"),
            ("RAPPORT_PUBLIC_URL", "https://api.shop.example"),
            ("RAPPORT_QUIET_HOURS", "0-0"),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
            ("AWS_ENDPOINT_URL_SES", ses),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_REGION", "us-east-1"),
            ("RUST_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    if let Some(path) = std::env::var_os("PATH") {
        vars.push(("PATH".into(), path.to_string_lossy().into_owned()));
    }
    vars
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_binary_answers_its_sample_event_through_the_runtime_api() {
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let ses = rapport_local::shared_ses().await.expect("SES emulator");
    let table = format!("rapport-runtime-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&dynamodb.client(), &table)
        .await
        .expect("create table");
    let store = DynamoStore::new(dynamodb.client(), table.clone());
    // The table's first read is slow in DynamoDB Local; not the first function's cost.
    let nobody = CustomerId::parse("id", "nobody").expect("customer id");
    store.profile(&nobody).await.expect("warm-up read");
    let mut env = environment(&table, &dynamodb.endpoint(), &ses.endpoint());
    // The stores' admin APIs, for the coupon-sync function.
    let shops = rapport_local::shop_admin::ShopAdmin::start(Default::default())
        .await
        .expect("the shops' stand-in");
    env.extend(shops.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    // The run bucket the job's steps keep their results in.
    let (runs, bucket) = rapport_integration::run_bucket().await;
    let s3 = rapport_local::shared_s3().await.expect("S3 emulator");
    env.extend([
        ("AWS_ENDPOINT_URL_S3".to_owned(), s3.endpoint()),
        ("RAPPORT_RUN_BUCKET".to_owned(), bucket),
    ]);
    let emulator = Emulator::start().await;

    // Each binary in turn: started, invoked with its samples, left running (a warm
    // instance serves the later invocations of the same function).
    let mut running = Vec::new();
    let mut first_answers = Vec::new();
    let mut call = async |name: &str, event: &str| -> Value {
        let started = Instant::now();
        if !running.iter().any(|(n, _)| n == name) {
            running.push((name.to_owned(), emulator.function(name, &env)));
            let answer = emulator.invoke(name, &sample(event)).await;
            first_answers.push((name.to_owned(), started.elapsed()));
            return answer;
        }
        emulator.invoke(name, &sample(event)).await
    };

    let (status, body) = http(&call("purchase", "purchase.json").await);
    assert_eq!(
        (status, body["points_delta"].as_i64()),
        (200, Some(59)),
        "{body}"
    );
    let (_, body) = http(&call("purchase", "refund.json").await);
    assert_eq!(body["points_delta"], -29, "{body}");
    let (_, body) = http(&call("customer", "get-customer.json").await);
    assert_eq!(body["points_balance"], 30, "{body}");
    let (status, body) = http(&call("redemption", "redemption.json").await);
    assert_eq!(
        (status, body["points_balance"].as_i64()),
        (200, Some(10)),
        "{body}"
    );
    // The table's stream announces the redemption's coupon: the sample event with the
    // code just issued creates it in both stores, once however often it is delivered.
    let code = body["coupon_code"]
        .as_str()
        .expect("a coupon code")
        .to_owned();
    let event = std::fs::read_to_string(sample("coupon-sync.json"))
        .expect("infra/events/coupon-sync.json")
        .replace("RP-SAMPLE0001", &code);
    let event_file = std::env::temp_dir().join(format!("coupon-sync-{table}.json"));
    std::fs::write(&event_file, event).expect("writing the stream event");
    for _ in 0..2 {
        let answer = call("coupon-sync", event_file.to_str().expect("a path")).await;
        assert_eq!(answer, serde_json::json!({"batchItemFailures": []}));
    }
    let _ = std::fs::remove_file(&event_file);
    let created: Vec<_> = shops
        .codes()
        .into_iter()
        .map(|c| (c.platform, c.code))
        .collect();
    assert_eq!(
        created,
        [
            (Platform::Shopify, code.clone()),
            (Platform::Woocommerce, code.to_lowercase()),
        ]
    );
    assert_eq!(shops.malformed(), Vec::<String>::new());
    // A signup before any order: the program of a fresh table gives no points for it,
    // and says so.
    let (status, body) = http(&call("activity", "activity.json").await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["created"].as_bool(), body["points_delta"].as_i64()),
        (Some(true), Some(0)),
        "{body}"
    );
    let (status, body) = http(&call("review", "review.json").await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["points_awarded"], 25, "{body}");
    let (_, body) = http(&call("recovery", "recovery.json").await);
    assert_eq!(body["service_recovery"], false, "{body}");
    let (status, body) = http(&call("referral-code", "referral-code.json").await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"].as_str().map(str::len), Some(8), "{body}");
    // The sample's code belongs to nobody in a fresh table: a well-formed 404.
    let (status, body) = http(&call("referral", "referral.json").await);
    assert_eq!(
        (status, body["field"].as_str()),
        (404, Some("referral_code")),
        "{body}"
    );

    // The one-click unsubscribe a mail client posts.
    let page = call("unsubscribe", "unsubscribe.json").await;
    assert_eq!(page["statusCode"], 200, "{page}");
    assert_eq!(page["headers"]["cache-control"], "no-store", "{page}");

    let customer = CustomerId::parse("id", "cust-42").expect("customer id");
    let profile = store.profile(&customer).await.expect("profile read");
    let profile = profile.expect("the purchase created the profile").value;
    assert_eq!(profile.points_balance, 35);
    assert!(!profile.marketing_allowed(), "unsubscribed");
    let ledger: i64 = store
        .ledger(&customer)
        .await
        .expect("ledger read")
        .iter()
        .map(|e| e.delta)
        .sum();
    assert_eq!(
        ledger, profile.points_balance,
        "the balance is the ledger's sum"
    );

    // The scheduled job as EventBridge Scheduler invokes it.
    let summary = call("rapport-job", "schedule.json").await;
    // The buyer of the samples, and the customer the signup created.
    assert_eq!(summary["customers"], 2, "{summary}");
    let page = store
        .scan_customers(0, 1, None)
        .await
        .expect("scan after the job");
    let job_state = page
        .customers
        .iter()
        .find(|c| c.profile.customer_id == customer)
        .and_then(|c| c.job.clone());
    assert!(job_state.is_some(), "the job wrote its state back");

    // The same job as the state machine invokes it, step by step, with the payloads of
    // infra/job.asl.json: the steps' results go to the run bucket.
    let run = serde_json::json!({
        // The samples of the report function name this run; the bucket is the test's own.
        "run_id": "sample-run",
        "started_at": chrono::Utc::now(),
    });
    let mut step = async |event: Value| -> Value {
        let file = std::env::temp_dir().join(format!("step-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, event.to_string()).expect("writing the step's event");
        let answer = call("rapport-job", file.to_str().expect("a path")).await;
        let _ = std::fs::remove_file(&file);
        answer
    };
    let plan =
        step(serde_json::json!({"phase": "plan", "run": run, "input": {"segments": 2}})).await;
    assert_eq!(plan["segments"], serde_json::json!([0, 1]), "{plan}");
    assert!(
        plan["deliver_concurrency"]
            .as_u64()
            .is_some_and(|k| (1..=2).contains(&k)),
        "{plan}"
    );
    for segment in 0..2 {
        let answer = step(
            serde_json::json!({"phase": "summarise", "run": run, "segment": segment, "of": 2}),
        )
        .await;
        assert_eq!(answer["segment"], segment, "{answer}");
    }
    let fit = step(serde_json::json!({"phase": "fit", "run": run, "of": 2})).await;
    assert!(fit["scored"].is_u64(), "{fit}");
    for segment in 0..2 {
        step(serde_json::json!({"phase": "deliver", "run": run, "segment": segment, "of": 2}))
            .await;
    }
    let summary = step(serde_json::json!({"phase": "report", "run": run, "of": 2})).await;
    assert_eq!(summary["customers"], 2, "{summary}");
    let id = run["run_id"].as_str().expect("run id");
    let stored =
        rapport_shared::store::ArtifactStore::get(&runs, &format!("reports/{id}/summary.json"))
            .await
            .expect("reading the bucket")
            .expect("the report step stored the summary");
    assert_eq!(
        serde_json::from_slice::<Value>(&stored).expect("JSON"),
        summary
    );
    let html =
        rapport_shared::store::ArtifactStore::get(&runs, &format!("reports/{id}/report.html"))
            .await
            .expect("reading the bucket")
            .expect("the report step stored the report");
    assert!(String::from_utf8_lossy(&html).contains("<html"));
    // The merchant's tools read the summary and a link; the link opens the page.
    let (status, body) = http(&call("report", "report.json").await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"], summary, "{body}");
    let link = body["link"]["url"].as_str().expect("a link").to_owned();
    let token = link
        .strip_prefix("https://api.shop.example/v1/reports/sample-run?token=")
        .expect("the link names the run under the public URL");
    let event = std::fs::read_to_string(sample("report-page.json"))
        .expect("infra/events/report-page.json")
        .replace("SAMPLE-TOKEN", token);
    let event_file = std::env::temp_dir().join(format!("report-page-{table}.json"));
    std::fs::write(&event_file, event).expect("writing the page's event");
    let page = call("report", event_file.to_str().expect("a path")).await;
    let _ = std::fs::remove_file(&event_file);
    assert_eq!(page["statusCode"], 200, "{page}");
    assert_eq!(
        page["body"].as_str().map(str::as_bytes),
        Some(html.as_slice())
    );

    let (status, body) = http(&call("privacy", "export.json").await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, body) = http(&call("privacy", "erase.json").await);
    assert_eq!(
        (status, body["customer_id"].as_str()),
        (200, Some("cust-42")),
        "{body}"
    );
    let (_, body) = http(&call("customer", "get-customer.json").await);
    assert_eq!(
        (body["email"].clone(), body["points_balance"].as_i64()),
        (Value::Null, Some(35))
    );

    // SES bounces and complaints through SNS.
    let outcome = call("ses-feedback", "ses-feedback.json").await;
    assert_eq!(outcome["suppressed"], 2, "{outcome}");
    for address in ["gone@example.com", "annoyed@example.com"] {
        let suppressed = store
            .suppression(&address_key(address))
            .await
            .expect("suppression read");
        assert!(suppressed.is_some(), "{address} is suppressed");
    }
    assert!(
        store
            .suppression(&address_key("full@example.com"))
            .await
            .expect("suppression read")
            .is_none(),
        "a transient bounce suppresses nothing"
    );

    // A Shopify shop's paid order, as its webhook arrives through API Gateway.
    let (status, body) = http(&call("shopify", "shopify-webhook.json").await);
    assert_eq!(
        (
            status,
            body["outcome"].as_str(),
            body["points_delta"].as_i64()
        ),
        (200, Some("applied"), Some(51)),
        "{body}"
    );
    // A checkout asking about a code Rapport never issued.
    let (status, body) = http(&call("coupon", "coupon.json").await);
    assert_eq!(
        (status, body["valid"].as_bool(), body["reason"].as_str()),
        (200, Some(false), Some("unknown")),
        "{body}"
    );
    // The merchant saves a program over the deployment's settings, then reads it back.
    let (status, body) = http(&call("program", "program-put.json").await);
    assert_eq!(
        (status, body["version"].as_u64(), body["saved_by"].as_str()),
        (200, Some(1), Some("sample-admin")),
        "{body}"
    );
    let (status, body) = http(&call("program", "program-get.json").await);
    assert_eq!(
        (
            status,
            body["program"]["earning"]["points_per_unit"].as_i64()
        ),
        (200, Some(2)),
        "{body}"
    );
    // Another function, started after the save, decides by the new version: twice the
    // points the sample order earned under the settings (36).
    let (status, body) = http(&call("woocommerce", "woocommerce-webhook.json").await);
    assert_eq!(
        (
            status,
            body["outcome"].as_str(),
            body["points_delta"].as_i64()
        ),
        (200, Some("applied"), Some(72)),
        "{body}"
    );

    let mut report = String::from("start to first response under the Runtime API emulator:\n");
    for (name, elapsed) in &first_answers {
        report.push_str(&format!(
            "  {name:<14} {:>6.0} ms\n",
            elapsed.as_secs_f64() * 1000.0
        ));
    }
    // Past the harness's capture, so `make test` shows the figures.
    let _ = std::io::stderr().write_all(report.as_bytes());
    assert_eq!(
        first_answers.len(),
        rapport_shared::wiring::FUNCTIONS.len(),
        "every binary ran: {first_answers:?}"
    );
}
