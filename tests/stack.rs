//! Starting and, above all, stopping the local services. Each test starts instances of
//! its own beside the ones the other tests share, since it stops or kills them.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rapport_local::{DynamoDbLocal, S3Emulator, SesEmulator, sdk_config};

/// Set for the child process of [`a_killed_parent_leaves_nothing_running`].
const HELPER_ENV: &str = "RAPPORT_LOCAL_LIFELINE_HELPER";

fn port_open(endpoint: &str) -> bool {
    let address = endpoint.trim_start_matches("http://");
    TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_millis(200)).is_ok()
}

fn wait_until_closed(endpoint: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !port_open(endpoint) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test]
async fn dynamodb_local_answers_the_sdk_and_stops_on_drop() -> Result<()> {
    let dynamodb = DynamoDbLocal::start().await?;
    let endpoint = dynamodb.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert!(dynamodb.log_file().is_some_and(|p| p.is_file()));

    // Built exactly as production builds its client, from an SdkConfig.
    let client = aws_sdk_dynamodb::Client::new(&sdk_config(&endpoint, "http://127.0.0.1:9"));
    let tables = client.list_tables().send().await?;
    assert!(tables.table_names().is_empty(), "a fresh instance is empty");

    drop(dynamodb);
    assert!(
        !port_open(&endpoint),
        "DynamoDB Local still listens after drop"
    );
    Ok(())
}

#[tokio::test]
async fn ses_emulator_answers_the_sdk_and_stops_on_drop() -> Result<()> {
    let ses = SesEmulator::start().await?;
    let endpoint = ses.endpoint();
    let client = aws_sdk_ses::Client::new(&sdk_config("http://127.0.0.1:9", &endpoint));
    client
        .send_email()
        .source("a@example.com")
        .destination(
            aws_sdk_ses::types::Destination::builder()
                .to_addresses("b@example.com")
                .build(),
        )
        .message(
            aws_sdk_ses::types::Message::builder()
                .subject(aws_sdk_ses::types::Content::builder().data("s").build()?)
                .body(
                    aws_sdk_ses::types::Body::builder()
                        .text(aws_sdk_ses::types::Content::builder().data("t").build()?)
                        .build(),
                )
                .build(),
        )
        .send()
        .await?;
    assert_eq!(
        ses.sent_messages().await?.len(),
        1,
        "a fresh emulator holds only this mail"
    );

    drop(ses);
    assert!(
        !port_open(&endpoint),
        "the SES emulator still listens after drop"
    );
    Ok(())
}

#[tokio::test]
async fn s3_emulator_answers_the_sdk_and_stops_on_drop() -> Result<()> {
    let s3 = S3Emulator::start().await?;
    let endpoint = s3.endpoint();
    assert!(s3.log_file().is_some_and(|p| p.is_file()));
    // The client the job builds: path-style, since the endpoint is overridden.
    let client = s3.client();
    assert!(
        client.list_buckets().send().await?.buckets().is_empty(),
        "a fresh instance is empty"
    );
    s3.create_bucket("rapport-stack").await?;
    s3.create_bucket("rapport-stack").await?;
    client
        .put_object()
        .bucket("rapport-stack")
        .key("runs/r/plan.json")
        .body(b"{}".to_vec().into())
        .send()
        .await?;

    drop(s3);
    assert!(
        wait_until_closed(&endpoint, Duration::from_secs(5)),
        "the S3 emulator still listens after drop"
    );
    Ok(())
}

/// The helper's name as the test harness knows it: its path in the test crate.
fn helper_test_name() -> String {
    let module = module_path!()
        .split_once("::")
        .map_or("", |(_crate, module)| module);
    format!("{module}::helper_holds_services_until_killed")
}

/// Test binaries end without running destructors of statics, and may be killed; the
/// services must go with them.
#[test]
fn a_killed_parent_leaves_nothing_running() -> Result<()> {
    let mut helper = Command::new(std::env::current_exe()?)
        .args(["--exact", &helper_test_name(), "--ignored", "--nocapture"])
        .env(HELPER_ENV, "1")
        // The helper must start services of its own, not attach to configured ones.
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL_SES")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the helper")?;
    let stdout = helper.stdout.take().context("helper stdout")?;
    let mut endpoints = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(endpoint) = line.strip_prefix("ENDPOINT ") {
            endpoints.push(endpoint.to_owned());
        }
        if endpoints.len() == 3 {
            break;
        }
    }
    assert_eq!(endpoints.len(), 3, "the helper did not report its services");
    for endpoint in &endpoints {
        assert!(port_open(endpoint), "{endpoint} is not up in the helper");
    }

    helper.kill()?; // SIGKILL: no destructor, no handler runs.
    helper.wait()?;

    for endpoint in &endpoints {
        assert!(
            wait_until_closed(endpoint, Duration::from_secs(10)),
            "{endpoint} still listens after its parent was killed"
        );
    }
    Ok(())
}

#[tokio::test]
#[ignore = "run only as the child of a_killed_parent_leaves_nothing_running"]
async fn helper_holds_services_until_killed() -> Result<()> {
    if std::env::var_os(HELPER_ENV).is_none() {
        return Ok(());
    }
    let dynamodb = rapport_local::shared_dynamodb().await?;
    let ses = rapport_local::shared_ses().await?;
    let s3 = rapport_local::shared_s3().await?;
    println!("ENDPOINT {}", dynamodb.endpoint());
    println!("ENDPOINT {}", ses.endpoint());
    println!("ENDPOINT {}", s3.endpoint());
    tokio::time::sleep(Duration::from_secs(600)).await;
    Ok(())
}
