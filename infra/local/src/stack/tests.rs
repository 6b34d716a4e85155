//! Unit tests of the local services in `stack.rs`.

use super::*;

#[test]
fn endpoints_resolve_like_the_standard_environment_variables() {
    let endpoints = LocalEndpoints(
        [
            (DYNAMODB_ENDPOINT_ENV, "http://127.0.0.1:1".to_owned()),
            (SES_ENDPOINT_ENV, "http://127.0.0.1:2".to_owned()),
        ]
        .into_iter()
        .collect(),
    );
    let key = |service| {
        ServiceConfigKey::builder()
            .service_id(service)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap()
    };
    assert_eq!(
        endpoints.load_config(key("DynamoDB")).as_deref(),
        Some("http://127.0.0.1:1")
    );
    assert_eq!(
        endpoints.load_config(key("SES")).as_deref(),
        Some("http://127.0.0.1:2")
    );
    // The emulator serves SES v2 (the account's quota) on the same endpoint.
    assert_eq!(
        endpoints.load_config(key("SESv2")).as_deref(),
        Some("http://127.0.0.1:2")
    );
    assert_eq!(endpoints.load_config(key("S3")), None);
    let endpoints = LocalEndpoints([(S3_ENDPOINT_ENV, "http://127.0.0.1:3".to_owned())].into());
    assert_eq!(
        endpoints.load_config(key("S3")).as_deref(),
        Some("http://127.0.0.1:3")
    );
}

#[test]
fn a_claimed_port_is_not_handed_out_twice() {
    let dir = std::env::temp_dir().join(format!("rapport-claims-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, claim) = claim_free_port(&dir).unwrap();
    let again = File::options()
        .write(true)
        .open(dir.join(port.to_string()))
        .unwrap();
    assert!(matches!(again.try_lock(), Err(TryLockError::WouldBlock)));
    drop(claim);
    assert!(again.try_lock().is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn child_processes_get_the_standard_variables() {
    let env = env_vars("http://d", "http://s");
    assert!(env.contains(&(DYNAMODB_ENDPOINT_ENV, "http://d".to_owned())));
    assert!(env.contains(&(SES_ENDPOINT_ENV, "http://s".to_owned())));
    assert!(env.iter().any(|(k, _)| *k == "AWS_REGION"));
}
