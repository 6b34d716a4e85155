//! Codes created in the stores' checkouts, end to end against DynamoDB Local and the
//! stand-in of Shopify's and WooCommerce's admin APIs: a redemption through the HTTP
//! API writes its coupon, the table's stream announces it, and the coupon-sync handler
//! (the same code the Lambda function runs) creates it once in each store with the
//! coupon's terms, for its customer, and records each store's confirmation. Throttling,
//! outages, lost answers, redeliveries and a revoked token change none of that.

use rapport_integration::{TestApi, purchase};
use rapport_local::shop_admin::{Credentials, Fault, ShopAdmin};
use rapport_local::streams::CouponStream;
use rapport_shared::domain::Currency;
use rapport_shared::domain::storefront::codes::Platform;
use rapport_shared::service::code_sync::{CodeSync, SyncPolicy};
use rapport_shared::shop_api::{self, ShopApi, ShopCredentials, ShopEndpoints};
use rapport_shared::store::CouponStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// The stores' APIs at the stand-in, with these credentials.
fn apis(shops: &ShopAdmin, credentials: &Credentials) -> Vec<Box<dyn ShopApi>> {
    let endpoints = ShopEndpoints {
        shopify: Some(shops.url()),
        woocommerce: Some(shops.url()),
    };
    let credentials = ShopCredentials {
        shopify_admin_token: Some(credentials.shopify_token.clone()),
        woocommerce: Some((
            credentials.woocommerce_key.clone(),
            credentials.woocommerce_secret.clone(),
        )),
    };
    shop_api::apis(
        &endpoints,
        &credentials,
        &shop_api::HttpClient::new().unwrap(),
    )
}

async fn stream(api: &TestApi, apis: Vec<Box<dyn ShopApi>>) -> CouponStream {
    let dynamodb = rapport_local::shared_dynamodb().await.unwrap();
    let ses = rapport_local::shared_ses().await.unwrap();
    let sdk = rapport_local::sdk_config(&dynamodb.endpoint(), &ses.endpoint());
    CouponStream::open(&sdk, &api.table, apis, Currency::parse("c", "USD").unwrap())
        .await
        .unwrap()
        .with_policy(SyncPolicy {
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
            attempts: 5,
            budget: Duration::from_secs(10),
        })
}

/// A customer who bought and spent 250 points on a coupon: its code.
async fn redeemed(api: &TestApi, customer: &str, email: &str) -> String {
    let mut order = purchase(
        &format!("e-{customer}"),
        customer,
        &format!("o-{customer}"),
        30_000,
    );
    order["email"] = json!(email);
    let bought = api.post("/v1/events/purchase", &order).await;
    assert_eq!(bought.status, 200, "{}", bought.body);
    let redeemed = api
        .post(
            &format!("/v1/customers/{customer}/redemptions"),
            &json!({"redemption_id": format!("r-{customer}"), "customer_id": customer, "points": 250}),
        )
        .await;
    assert_eq!(redeemed.status, 200, "{}", redeemed.body);
    redeemed.body["coupon_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn each_new_code_is_created_once_in_each_store_with_its_terms() {
    let shops = ShopAdmin::start(Credentials::default()).await.unwrap();
    let api = TestApi::start_with_stream().await;
    let theirs = redeemed(&api, "shopify-7390", "mei@example.com").await;
    let ours = redeemed(&api, "asha", "asha@example.com").await;

    let mut reader = stream(&api, apis(&shops, &shops.credentials)).await;
    reader.drain(&api.store, 20).await.unwrap();
    assert_eq!(shops.malformed(), Vec::<String>::new());
    let codes = shops.codes();
    assert_eq!(codes.len(), 4, "{codes:#?}");
    let input = |platform: Platform, code: &str| -> Value {
        codes
            .iter()
            .find(|c| c.platform == platform && c.code.eq_ignore_ascii_case(code))
            .unwrap_or_else(|| panic!("{platform} holds {code}"))
            .input
            .clone()
    };

    // Shopify: 2.50 off once, for the Shopify customer only; anyone with the code
    // otherwise (Rapport's check still names the customer), until the coupon expires.
    let coupon = api.store.coupon(&theirs).await.unwrap().unwrap();
    let shopify = input(Platform::Shopify, &theirs);
    assert_eq!(shopify["usageLimit"], 1);
    assert_eq!(
        shopify["customerGets"]["value"]["discountAmount"]["amount"],
        "2.50"
    );
    assert_eq!(
        shopify["context"],
        json!({"customers": {"add": ["gid://shopify/Customer/7390"]}})
    );
    assert_eq!(
        shopify["endsAt"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        coupon.expires_at
    );
    assert_eq!(
        input(Platform::Shopify, &ours)["context"],
        json!({"all": "ALL"})
    );
    // WooCommerce: the same value, for the customer's address.
    let woo = input(Platform::Woocommerce, &ours);
    assert_eq!(
        (woo["discount_type"].as_str(), woo["amount"].as_str()),
        (Some("fixed_cart"), Some("2.50"))
    );
    assert_eq!(woo["email_restrictions"], json!(["asha@example.com"]));
    assert_eq!(woo["code"], ours.to_lowercase());

    // Each coupon records both stores' confirmations, with their ids.
    let coupon = api.store.coupon(&ours).await.unwrap().unwrap();
    let shopify_id = coupon
        .synced
        .get(Platform::Shopify)
        .unwrap()
        .remote_id
        .clone();
    assert!(
        shopify_id
            .unwrap()
            .starts_with("gid://shopify/DiscountCodeNode/")
    );
    assert!(
        coupon
            .synced
            .get(Platform::Woocommerce)
            .unwrap()
            .remote_id
            .is_some()
    );

    // The stream delivered again from its start (a new reader): nothing more is
    // created, and no store is even called.
    let calls = (
        shops.calls(Platform::Shopify),
        shops.calls(Platform::Woocommerce),
    );
    let mut again = stream(&api, apis(&shops, &shops.credentials)).await;
    again.drain(&api.store, 20).await.unwrap();
    assert_eq!(shops.codes().len(), 4);
    assert_eq!(
        (
            shops.calls(Platform::Shopify),
            shops.calls(Platform::Woocommerce)
        ),
        calls
    );
}

#[tokio::test]
async fn throttling_outages_and_lost_answers_still_create_each_code_once() {
    let shops = ShopAdmin::start(Credentials::default()).await.unwrap();
    let api = TestApi::start_with_stream().await;
    let code = redeemed(&api, "asha", "asha@example.com").await;
    shops.fail_next(
        Platform::Shopify,
        &[Fault::Throttle, Fault::Outage, Fault::LoseAnswer],
    );
    shops.fail_next(Platform::Woocommerce, &[Fault::Throttle, Fault::LoseAnswer]);

    let mut reader = stream(&api, apis(&shops, &shops.credentials)).await;
    reader.drain(&api.store, 20).await.unwrap();
    let held: Vec<(Platform, String)> = shops
        .codes()
        .into_iter()
        .map(|c| (c.platform, c.code.to_uppercase()))
        .collect();
    assert_eq!(
        held,
        [
            (Platform::Shopify, code.clone()),
            (Platform::Woocommerce, code.clone())
        ]
    );
    // Three failures then "taken" for Shopify; two then "exists" for WooCommerce.
    assert_eq!(shops.calls(Platform::Shopify), 4);
    assert_eq!(shops.calls(Platform::Woocommerce), 3);
    let coupon = api.store.coupon(&code).await.unwrap().unwrap();
    for platform in Platform::ALL {
        let sync = coupon.synced.get(platform).unwrap();
        assert_eq!(sync.remote_id, None, "{platform}: found taken, id unknown");
    }
}

#[tokio::test]
async fn a_refused_token_holds_the_code_until_the_merchant_fixes_it() {
    let shops = ShopAdmin::start(Credentials::default()).await.unwrap();
    let api = TestApi::start_with_stream().await;
    let code = redeemed(&api, "asha", "asha@example.com").await;
    let revoked = Credentials {
        shopify_token: "shpat_revoked".into(),
        ..Credentials::default()
    };
    let mut reader = stream(&api, apis(&shops, &revoked)).await;
    reader.drain(&api.store, 3).await.unwrap();
    assert!(reader.retrying(), "the record waits to be delivered again");
    assert!(shops.codes().is_empty(), "{:?}", shops.codes());
    let coupon = api.store.coupon(&code).await.unwrap().unwrap();
    assert_eq!(coupon.synced.get(Platform::Shopify), None);

    // The token fixed (the function restarted with the new secret): delivered again,
    // the code is created in both stores.
    let mut fixed = stream(&api, apis(&shops, &shops.credentials)).await;
    fixed.drain(&api.store, 20).await.unwrap();
    assert_eq!(shops.codes().len(), 2);
    let coupon = api.store.coupon(&code).await.unwrap().unwrap();
    assert!(coupon.synced.get(Platform::Shopify).is_some());
    assert!(coupon.synced.get(Platform::Woocommerce).is_some());
}

#[tokio::test]
async fn codes_the_stream_gave_up_on_are_created_by_the_repair_run_once() {
    let shops = ShopAdmin::start(Credentials::default()).await.unwrap();
    // No stream is read here: as if every record had aged out to the dead-letter queue.
    let api = TestApi::start().await;
    let first = redeemed(&api, "asha", "asha@example.com").await;
    let second = redeemed(&api, "shopify-7390", "mei@example.com").await;
    let apis = apis(&shops, &shops.credentials);
    let sync = CodeSync {
        apis: &apis,
        currency: Currency::parse("c", "USD").unwrap(),
        policy: SyncPolicy::default(),
    };
    // The first code reached Shopify, and WooCommerce too, but that answer was lost
    // and the delivery gave up.
    shops.fail_next(Platform::Woocommerce, &[Fault::LoseAnswer]);
    let give_up = CodeSync {
        policy: SyncPolicy {
            attempts: 1,
            ..SyncPolicy::default()
        },
        ..sync
    };
    let lost = give_up.sync(&api.store, &first, chrono::Utc::now()).await;
    assert!(lost.is_err(), "{lost:?}");
    let sync = CodeSync {
        policy: SyncPolicy::default(),
        ..give_up
    };

    let tally = sync.repair(&api.store, chrono::Utc::now()).await.unwrap();
    assert_eq!(tally.found, 2);
    assert!(tally.failed.is_empty(), "{:?}", tally.failed);
    assert_eq!(
        tally.outcomes,
        BTreeMap::from([
            ("shopify:already-synced".to_owned(), 1),
            ("shopify:created".to_owned(), 1),
            ("woocommerce:created".to_owned(), 1),
            ("woocommerce:existed".to_owned(), 1),
        ])
    );
    let mut held: Vec<(Platform, String)> = shops
        .codes()
        .into_iter()
        .map(|c| (c.platform, c.code.to_uppercase()))
        .collect();
    held.sort();
    let mut expected = vec![
        (Platform::Shopify, first.clone()),
        (Platform::Shopify, second.clone()),
        (Platform::Woocommerce, first),
        (Platform::Woocommerce, second),
    ];
    expected.sort();
    assert_eq!(held, expected);
    let again = sync.repair(&api.store, chrono::Utc::now()).await.unwrap();
    assert_eq!(again.found, 0, "{again:?}");
}
