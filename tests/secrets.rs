//! Keys kept in Secrets Manager, as in AWS: the API reads them from a secret (moto's
//! Secrets Manager server here) at run time, not from its environment; a key added to
//! the secret works without a restart; unsubscribe links verify with keys read the same
//! way; an erasure keeps the address under the tombstone key read from its own secret.

use rapport_integration::{config, sign_as};
use rapport_shared::auth::keys::{ApiKey, Scope, UnsubscribeKey, UnsubscribeKeys};
use rapport_shared::domain::{CustomerId, Email, TombstoneKey};
use rapport_shared::store::ReadBackStore;
use std::sync::Arc;
use tokio::net::TcpListener;

const API_KEYS: &str = "rapport/api-keys";
const UNSUBSCRIBE_KEYS: &str = "rapport/unsubscribe-keys";
const TOMBSTONE_KEY: &str = "rapport/tombstone-key";
const TOMBSTONE_SECRET: &str = "tombstones-from-the-secret-0123";

fn secret(fields: &[(&str, &str)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_come_from_secrets_manager_and_rotate_without_a_restart() {
    let secrets = rapport_local::stack::SecretsManagerEmulator::start()
        .await
        .expect("Secrets Manager emulator");
    let dynamodb = rapport_local::shared_dynamodb()
        .await
        .expect("DynamoDB Local");
    let sdk = secrets.sdk_config(&dynamodb.endpoint(), "http://127.0.0.1:9");
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    sm.create_secret()
        .name(API_KEYS)
        .secret_string(secret(&[
            ("RAPPORT_EVENTS_KEY", "shop-1:first-shop-secret-0123456"),
            ("RAPPORT_ADMIN_KEY", "admin-1:first-admin-secret-012345"),
        ]))
        .send()
        .await
        .expect("create the API keys secret");
    sm.create_secret()
        .name(UNSUBSCRIBE_KEYS)
        .secret_string(secret(&[(
            "RAPPORT_UNSUBSCRIBE_KEYS",
            "1:first-unsubscribe-secret-0123",
        )]))
        .send()
        .await
        .expect("create the unsubscribe keys secret");
    sm.create_secret()
        .name(TOMBSTONE_KEY)
        .secret_string(secret(&[("RAPPORT_TOMBSTONE_KEY", TOMBSTONE_SECRET)]))
        .send()
        .await
        .expect("create the tombstone key secret");

    let table = format!("rapport-secrets-{}", uuid::Uuid::new_v4().simple());
    rapport_local::tables::create_table_without_stream(&dynamodb.client(), &table)
        .await
        .expect("create table");
    // No key in the environment: only where to find them.
    let config = config(
        &table,
        &[
            ("RAPPORT_EVENTS_KEY", ""),
            ("RAPPORT_ADMIN_KEY", ""),
            ("RAPPORT_UNSUBSCRIBE_KEYS", ""),
            ("RAPPORT_API_KEYS_SECRET", API_KEYS),
            ("RAPPORT_UNSUBSCRIBE_KEYS_SECRET", UNSUBSCRIBE_KEYS),
            ("RAPPORT_TOMBSTONE_KEY", ""),
            ("RAPPORT_TOMBSTONE_KEY_SECRET", TOMBSTONE_KEY),
            ("RAPPORT_KEYS_REFRESH_SECS", "1"),
        ],
    );
    let api = Arc::new(rapport_shared::bootstrap::api(&sdk, config));
    let served = api.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(rapport_local::server::serve(listener, served, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let send = |key: ApiKey, method: reqwest::Method, path: String, body: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let header = sign_as(
                &key,
                chrono::Utc::now().timestamp(),
                method.as_str(),
                &path,
                body.as_bytes(),
            );
            let request = http
                .request(method, format!("{base}{path}"))
                .header("Rapport-Signature", header);
            let request = match body.is_empty() {
                true => request,
                false => request
                    .header("Content-Type", "application/json")
                    .body(body),
            };
            request.send().await.expect("request").status().as_u16()
        }
    };
    let post = |key: ApiKey, n: u32| {
        let mut body =
            rapport_integration::purchase(&format!("e-{n}"), "kim", &format!("o-{n}"), 1_000);
        body["email"] = "kim@example.com".into();
        send(
            key,
            reqwest::Method::POST,
            "/v1/events/purchase".into(),
            body.to_string(),
        )
    };
    let shop1 = ApiKey::new("shop-1", Scope::Events, b"first-shop-secret-0123456").unwrap();
    let shop2 = ApiKey::new("shop-2", Scope::Events, b"second-shop-secret-012345").unwrap();
    assert_eq!(post(shop1.clone(), 1).await, 200, "a key from the secret");
    assert_eq!(post(shop2.clone(), 2).await, 401, "not in the secret yet");

    // Rotation: the new key is added beside the old; senders move; the old goes.
    sm.put_secret_value()
        .secret_id(API_KEYS)
        .secret_string(secret(&[
            (
                "RAPPORT_EVENTS_KEY",
                "shop-2:second-shop-secret-012345,shop-1:first-shop-secret-0123456",
            ),
            ("RAPPORT_ADMIN_KEY", "admin-1:first-admin-secret-012345"),
        ]))
        .send()
        .await
        .expect("add the new key");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        post(shop2.clone(), 3).await,
        200,
        "the new key, unknown before"
    );
    assert_eq!(
        post(shop1.clone(), 4).await,
        200,
        "the old key, still listed"
    );

    // Unsubscribe links verify with the key read from the other secret.
    let keys = UnsubscribeKeys::new(vec![
        UnsubscribeKey::new(1, b"first-unsubscribe-secret-0123", None).unwrap(),
    ])
    .unwrap();
    let link = rapport_shared::auth::unsubscribe::url(
        &base,
        &keys,
        &CustomerId::parse("id", "kim").unwrap(),
    );
    let page = http.get(&link).send().await.expect("unsubscribe page");
    assert_eq!(page.status(), 200);
    let forged = rapport_shared::auth::unsubscribe::url(
        &base,
        &UnsubscribeKeys::new(vec![
            UnsubscribeKey::new(1, b"not-the-unsubscribe-secret", None).unwrap(),
        ])
        .unwrap(),
        &CustomerId::parse("id", "kim").unwrap(),
    );
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);

    // Erasure keeps the address under the key from the tombstone secret.
    let admin = ApiKey::new("admin-1", Scope::Admin, b"first-admin-secret-012345").unwrap();
    let erased = send(
        admin,
        reqwest::Method::DELETE,
        "/v1/customers/kim".into(),
        String::new(),
    )
    .await;
    assert_eq!(erased, 200);
    let address = Email::parse("email", "kim@example.com").unwrap();
    let keyed = TombstoneKey::new(TOMBSTONE_SECRET.as_bytes()).tombstone(&address);
    assert!(
        api.store.suppression(&keyed).await.unwrap().is_some(),
        "the tombstone is keyed with the secret's key"
    );
    assert!(
        api.store
            .suppression(&address.address_key())
            .await
            .unwrap()
            .is_none(),
        "and not kept as a bare hash"
    );
    let _ = stop.send(());
}
