//! The job's run artifacts in S3 (`S3Artifacts`) against moto's S3 server: what one
//! phase puts is what the next gets, byte for byte and with its content type; a key
//! nothing was put at is `None`; a put replaces; and a failure says whether trying
//! again may help.

use rapport_shared::store::{ArtifactStore, S3Artifacts, StoreError};

/// The object at `key` as S3 holds it: its body and content type.
async fn object(bucket: &str, key: &str) -> (Vec<u8>, Option<String>) {
    let s3 = rapport_local::shared_s3().await.expect("S3 emulator");
    let object = s3
        .client()
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("the object");
    let content_type = object.content_type().map(str::to_owned);
    let body = object.body.collect().await.expect("its body").into_bytes();
    (body.to_vec(), content_type)
}

#[tokio::test]
async fn what_is_put_is_got_back_with_its_content_type() {
    let (artifacts, bucket) = rapport_integration::run_bucket().await;
    let plan = br#"{"segments":4,"program":{"version":3}}"#.to_vec();
    artifacts
        .put("runs/r-1/plan.json", plan.clone(), "application/json")
        .await
        .unwrap();
    // Not text: every byte value survives.
    let digest: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    artifacts
        .put(
            "runs/r-1/digests/0-of-4.json",
            digest.clone(),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let report = "<!doctype html><p>Zoë's report — 5 % more</p>"
        .as_bytes()
        .to_vec();
    artifacts
        .put(
            "reports/r-1/report.html",
            report.clone(),
            "text/html; charset=utf-8",
        )
        .await
        .unwrap();

    assert_eq!(
        artifacts.get("runs/r-1/plan.json").await.unwrap(),
        Some(plan.clone())
    );
    assert_eq!(
        artifacts.get("runs/r-1/digests/0-of-4.json").await.unwrap(),
        Some(digest)
    );
    assert_eq!(
        artifacts.get("reports/r-1/report.html").await.unwrap(),
        Some(report.clone())
    );
    assert_eq!(
        object(&bucket, "runs/r-1/plan.json").await,
        (plan, Some("application/json".to_owned()))
    );
    assert_eq!(
        object(&bucket, "reports/r-1/report.html").await,
        (report, Some("text/html; charset=utf-8".to_owned()))
    );
}

#[tokio::test]
async fn a_key_nothing_was_put_at_is_none() {
    let (artifacts, _) = rapport_integration::run_bucket().await;
    assert_eq!(artifacts.get("runs/r-2/model.json").await.unwrap(), None);
    artifacts
        .put("runs/r-2/plan.json", b"{}".to_vec(), "application/json")
        .await
        .unwrap();
    // Another key of the same run, and a prefix of the stored key, are still missing.
    assert_eq!(artifacts.get("runs/r-2/model.json").await.unwrap(), None);
    assert_eq!(artifacts.get("runs/r-2/plan").await.unwrap(), None);
}

#[tokio::test]
async fn a_put_replaces_what_was_there() {
    let (artifacts, bucket) = rapport_integration::run_bucket().await;
    let key = "reports/r-3/summary.json";
    artifacts
        .put(
            key,
            br#"{"sent":1,"long":"xxxxxxxx"}"#.to_vec(),
            "text/plain",
        )
        .await
        .unwrap();
    artifacts
        .put(key, br#"{"sent":2}"#.to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(
        artifacts.get(key).await.unwrap(),
        Some(br#"{"sent":2}"#.to_vec())
    );
    assert_eq!(
        object(&bucket, key).await,
        (
            br#"{"sent":2}"#.to_vec(),
            Some("application/json".to_owned())
        )
    );
}

#[tokio::test]
async fn failures_say_whether_to_try_again() {
    let s3 = rapport_local::shared_s3().await.expect("S3 emulator");
    // A bucket that does not exist: S3 answers, and will answer the same again.
    let missing = S3Artifacts::new(s3.client(), "rapport-runs-never-created");
    assert!(matches!(
        missing.get("runs/r-4/plan.json").await,
        Err(StoreError::Internal(_))
    ));
    assert!(matches!(
        missing
            .put("runs/r-4/plan.json", b"{}".to_vec(), "application/json")
            .await,
        Err(StoreError::Internal(_))
    ));
    // Nothing listening: the caller may try again later (the SDK's own retries are
    // off here, to keep the test fast).
    let nowhere = rapport_shared::bootstrap::s3_client(
        &rapport_local::S3Emulator::attach("http://127.0.0.1:9").sdk_config(),
    )
    .config()
    .to_builder()
    .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
    .build();
    let unreachable = S3Artifacts::new(aws_sdk_s3::Client::from_conf(nowhere), "rapport-runs");
    assert!(matches!(
        unreachable.get("runs/r-4/plan.json").await,
        Err(StoreError::Unavailable(_))
    ));
    // A key outside the bucket's prefixes never reaches S3.
    let (artifacts, _) = rapport_integration::run_bucket().await;
    assert!(matches!(
        artifacts
            .put("elsewhere/plan.json", b"{}".to_vec(), "application/json")
            .await,
        Err(StoreError::Internal(_))
    ));
}
