use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn api_keys_from_settings() {
    let keys = ApiKeys::from_settings(&lookup(&[
        (
            EVENTS_KEY,
            "shop-2:new-secret-0123456789, shop-1:old-secret-0123456789",
        ),
        (ADMIN_KEY, "admin-1:admin:secret-with-colons"),
    ]))
    .unwrap()
    .unwrap();
    assert_eq!(keys.signer(Scope::Events).unwrap().id, "shop-2");
    assert_eq!(keys.find("shop-1").unwrap().scope, Scope::Events);
    let admin = keys.find("admin-1").unwrap();
    assert_eq!(admin.scope, Scope::Admin);
    assert_eq!(admin.secret(), b"admin:secret-with-colons");
    assert!(
        !format!("{admin:?}").contains("secret-with"),
        "Debug redacts"
    );
    assert_eq!(ApiKeys::from_settings(&lookup(&[])).unwrap(), None);
}

#[test]
fn bad_api_keys_are_refused_with_the_setting() {
    for (setting, raw) in [
        (EVENTS_KEY, "no-secret"),
        (EVENTS_KEY, "shop:short"),
        (EVENTS_KEY, "bad id:0123456789abcdef"),
        (ADMIN_KEY, ":0123456789abcdef"),
    ] {
        let e = ApiKeys::from_settings(&lookup(&[(setting, raw)])).unwrap_err();
        assert_eq!(e.setting, setting, "{raw}: {e}");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
    }
    let twice = ApiKeys::from_settings(&lookup(&[
        (EVENTS_KEY, "k:0123456789abcdef"),
        (ADMIN_KEY, "k:fedcba9876543210"),
    ]));
    assert!(twice.is_err());
}

#[test]
fn scopes() {
    assert!(Scope::Admin.allows(Scope::Events));
    assert!(Scope::Admin.allows(Scope::Admin));
    assert!(Scope::Events.allows(Scope::Events));
    assert!(!Scope::Events.allows(Scope::Admin));
}

#[test]
fn unsubscribe_keys_from_settings() {
    let keys = UnsubscribeKeys::from_settings(&lookup(&[(
        UNSUBSCRIBE_KEYS,
        "1:first-secret-0123456:2026-11-01,2:second-secret-012345",
    )]))
    .unwrap()
    .unwrap();
    assert_eq!(keys.current().version, 2);
    assert_eq!(
        keys.version(1).unwrap().retired,
        NaiveDate::from_ymd_opt(2026, 11, 1)
    );
    for bad in [
        "x:first-secret-0123456",
        "0:first-secret-0123456",
        "1:short",
        "1:first-secret-0123456:yesterday",
        "1:first-secret-0123456:2026-11-01",
        "1:first-secret-0123456,1:second-secret-012345",
    ] {
        assert!(
            UnsubscribeKeys::from_settings(&lookup(&[(UNSUBSCRIBE_KEYS, bad)])).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn sources() {
    let get = lookup(&[("RAPPORT_API_KEYS_SECRET", "rapport/api-keys")]);
    assert!(matches!(
        KeySource::<ApiKeys>::from_lookup(&get, "RAPPORT_API_KEYS_SECRET").unwrap(),
        KeySource::Secret(id) if id == "rapport/api-keys"
    ));
    let none = lookup(&[]);
    assert!(matches!(
        KeySource::<ApiKeys>::from_lookup(&none, "RAPPORT_API_KEYS_SECRET").unwrap(),
        KeySource::Absent
    ));
    let parsed: ApiKeys =
        parse_secret(r#"{"RAPPORT_EVENTS_KEY":"shop-1:0123456789abcdef","other":"x"}"#).unwrap();
    assert!(parsed.find("shop-1").is_some());
    assert!(parse_secret::<ApiKeys>("not json").is_err());
    assert!(parse_secret::<ApiKeys>(r#"{"other":"x"}"#).is_err());
}

/// A secret whose value changes and whose reads are counted.
struct Versions {
    value: Mutex<String>,
    reads: AtomicUsize,
}

#[async_trait]
impl SecretReader for Versions {
    async fn read(&self, secret_id: &str) -> Result<String, String> {
        assert_eq!(secret_id, "rapport/api-keys");
        self.reads.fetch_add(1, Ordering::SeqCst);
        let value = self.value.lock().unwrap().clone();
        if value.is_empty() {
            Err("access denied".into())
        } else {
            Ok(value)
        }
    }
}

fn secret_with(ids: &[&str]) -> String {
    let list: Vec<String> = ids
        .iter()
        .map(|id| format!("{id}:0123456789abcdef"))
        .collect();
    serde_json::json!({ EVENTS_KEY: list.join(",") }).to_string()
}

#[tokio::test]
async fn a_secret_is_read_once_and_again_for_an_unknown_key() {
    let secret = Arc::new(Versions {
        value: Mutex::new(secret_with(&["shop-1"])),
        reads: AtomicUsize::new(0),
    });
    let keys = Keys::<ApiKeys>::new(KeySource::Secret("rapport/api-keys".into()))
        .with_reader(secret.clone())
        .refresh_at_most_every(Duration::from_millis(200));
    assert!(
        keys.knowing("shop-1")
            .await
            .unwrap()
            .find("shop-1")
            .is_some()
    );
    assert!(keys.get().await.unwrap().find("shop-1").is_some());
    assert_eq!(secret.reads.load(Ordering::SeqCst), 1, "cached");

    // A new key is added (rotation): the first request naming it reads again.
    *secret.value.lock().unwrap() = secret_with(&["shop-2", "shop-1"]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        keys.knowing("shop-2")
            .await
            .unwrap()
            .find("shop-2")
            .is_some()
    );
    assert_eq!(secret.reads.load(Ordering::SeqCst), 2);

    // Unknown ids in a burst read at most once per interval.
    for _ in 0..20 {
        assert!(
            keys.knowing("nobody")
                .await
                .unwrap()
                .find("nobody")
                .is_none()
        );
    }
    assert_eq!(
        secret.reads.load(Ordering::SeqCst),
        2,
        "too soon to read again"
    );

    // A failed read keeps the keys read before.
    *secret.value.lock().unwrap() = String::new();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        keys.knowing("nobody")
            .await
            .unwrap()
            .find("shop-1")
            .is_some()
    );
    assert_eq!(secret.reads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn no_keys_and_unreadable_secrets_are_errors() {
    let absent = Keys::<ApiKeys>::new(KeySource::Absent);
    assert!(matches!(
        absent.get().await,
        Err(KeysUnavailable::NotConfigured(_))
    ));
    let denied = Keys::<ApiKeys>::new(KeySource::Secret("rapport/api-keys".into())).with_reader(
        Arc::new(Versions {
            value: Mutex::new(String::new()),
            reads: AtomicUsize::new(0),
        }),
    );
    assert!(matches!(
        denied.get().await,
        Err(KeysUnavailable::Unreadable(_))
    ));
}
