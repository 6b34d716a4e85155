//! Property tests of everything an unauthenticated or careless caller controls: the
//! `Rapport-Signature` header, the raw body, and the JSON of the three event types.
//!
//! Properties:
//! - parsing or verifying any header, and handling any body, never panics;
//! - a correctly signed body always verifies, and any change to the body, the timestamp
//!   or the secret makes it fail;
//! - every body, valid or not, gets a well-formed answer (200 or a 4xx problem, never a
//!   5xx) through the same handler path the Lambda functions run;
//! - a validated event carries exactly the fields it was sent with, and a missing
//!   required field is reported by its own name.
//!
//! `PROPTEST_CASES` sets the number of cases of every property (defaults below keep the
//! file well under a minute in a debug build).

use chrono::{DateTime, TimeZone, Utc};
use lambda_http::{Body, Request, Response};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use rapport_integration::{config, key, sign_as};
use rapport_shared::auth::keys::{ApiKey, ApiKeys, Scope};
use rapport_shared::auth::signature::{SignatureError, SignatureHeader, SignedRequest, verify};
use rapport_shared::domain::codes::CODE_ALPHABET;
use rapport_shared::domain::{
    PurchaseEvent, PurchaseInput, PurchaseKind, ReferralEvent, ReferralInput, ReviewEvent,
    ReviewInput,
};
use rapport_shared::http::{Api, PROBLEM_BASE};
use rapport_shared::store::MemoryStore;
use serde_json::{Value, json};

const TOLERANCE: i64 = 300;

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// Runs `test` over `strategy`; a failure or panic is shrunk and reported.
fn check<S: Strategy>(
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = runner(default_cases).run(&strategy, test) {
        panic!("{e}");
    }
}

fn api() -> Api<MemoryStore> {
    Api::new(MemoryStore::new(), config("fuzz", &[]))
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
}

/// A request as the local server and API Gateway deliver it: UTF-8 bodies as text,
/// anything else as binary, signed with the shop's secret.
fn signed(path: &str, body: Vec<u8>) -> Request {
    let header = sign_as(
        &key(Scope::Events),
        Utc::now().timestamp(),
        "POST",
        path,
        &body,
    );
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header("rapport-signature", header)
        .header("content-type", "application/json")
        .body(body)
        .expect("request")
}

/// Calls the handler the API mounts on `path`, as a Lambda function would.
fn send(api: &Api<MemoryStore>, path: &str, body: Vec<u8>) -> Response<Body> {
    let request = signed(path, body);
    RUNTIME.with(|rt| {
        rt.block_on(async {
            match path {
                "/v1/events/review" => api.review(request).await,
                "/v1/events/referral" => api.referral(request).await,
                _ => api.purchase(request).await,
            }
        })
    })
}

/// Statuses an event endpoint may answer a signed request with.
const EVENT_STATUSES: &[u16] = &[200, 400, 404, 409, 413, 422];

/// Checks the shape of an answer and returns its status and JSON body.
fn answer(response: &Response<Body>) -> Result<(u16, Value), TestCaseError> {
    let status = response.status().as_u16();
    prop_assert!(EVENT_STATUSES.contains(&status), "status {status}");
    let bytes: &[u8] = match response.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| TestCaseError::fail(format!("answer is not JSON: {e}")))?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if status == 200 {
        prop_assert_eq!(content_type, "application/json");
    } else {
        prop_assert_eq!(content_type, "application/problem+json");
        prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
        let kind = body["type"].as_str().unwrap_or_default();
        prop_assert!(kind.starts_with(PROBLEM_BASE), "type {kind}");
    }
    Ok((status, body))
}

// ---------------------------------------------------------------------------------
// Signatures

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..=999_999_999_999,
        1_700_000_000i64..2_100_000_000,
        Just(0),
        Just(999_999_999_999),
    ]
}

/// A change to a header string, applied at a position chosen by `Index`.
#[derive(Debug, Clone)]
enum HeaderEdit {
    Insert(Index, char),
    Delete(Index),
    Replace(Index, char),
    Truncate(Index),
    Duplicate(Index),
    Append(String),
    Spaces(Index),
    Upper,
    Reverse,
}

fn header_edit() -> impl Strategy<Value = HeaderEdit> {
    let near = prop_oneof![
        Just(','),
        Just('='),
        Just(' '),
        Just('t'),
        Just('v'),
        Just('1'),
        Just('-'),
        Just('0'),
        Just('f'),
        Just('g'),
        any::<char>(),
    ];
    prop_oneof![
        (any::<Index>(), near.clone()).prop_map(|(i, c)| HeaderEdit::Insert(i, c)),
        any::<Index>().prop_map(HeaderEdit::Delete),
        (any::<Index>(), near).prop_map(|(i, c)| HeaderEdit::Replace(i, c)),
        any::<Index>().prop_map(HeaderEdit::Truncate),
        any::<Index>().prop_map(HeaderEdit::Duplicate),
        prop_oneof![
            Just(",v2=abc".to_owned()),
            Just(",t=1".to_owned()),
            Just(",".to_owned()),
            Just(",v1=".to_owned()),
            Just(format!(",v1={}", "0".repeat(64))),
            ",[a-z0-9]{0,3}=[ -~]{0,70}",
        ]
        .prop_map(HeaderEdit::Append),
        any::<Index>().prop_map(HeaderEdit::Spaces),
        Just(HeaderEdit::Upper),
        Just(HeaderEdit::Reverse),
    ]
}

fn apply_edit(header: &str, edit: &HeaderEdit) -> String {
    let chars: Vec<char> = header.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let mut out = chars.clone();
    match edit {
        HeaderEdit::Insert(i, c) => out.insert(at(i), *c),
        HeaderEdit::Delete(i) if !chars.is_empty() => {
            out.remove(i.index(chars.len()));
        }
        HeaderEdit::Replace(i, c) if !chars.is_empty() => out[i.index(chars.len())] = *c,
        HeaderEdit::Truncate(i) => out.truncate(at(i)),
        HeaderEdit::Duplicate(i) => {
            let parts: Vec<&str> = header.split(',').collect();
            let part = parts[i.index(parts.len())];
            return format!("{header},{part}");
        }
        HeaderEdit::Append(s) => return format!("{header}{s}"),
        HeaderEdit::Spaces(i) => out.insert(at(i), ' '),
        HeaderEdit::Upper => return header.to_uppercase(),
        HeaderEdit::Reverse => {
            let parts: Vec<&str> = header.rsplit(',').collect();
            return parts.join(",");
        }
        _ => {}
    }
    out.into_iter().collect()
}

/// Where the signature properties are checked: one POST route.
const PATH: &str = "/v1/events/purchase";

fn request(body: &[u8]) -> SignedRequest<'_> {
    SignedRequest {
        method: "POST",
        path_and_query: PATH,
        body,
    }
}

fn sign(key: &ApiKey, t: i64, body: &[u8]) -> String {
    sign_as(key, t, "POST", PATH, body)
}

/// Checks a raw header as the API does: parse, then verify against the keys.
fn verify_raw(keys: &ApiKeys, raw: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let header = SignatureHeader::parse(raw)?;
    verify(keys, &header, &request(body), now, TOLERANCE).map(|_| ())
}

fn shop_keys() -> ApiKeys {
    ApiKeys::new(vec![key(Scope::Events)])
}

#[test]
fn any_header_parses_or_is_rejected_without_panicking() {
    let header = prop_oneof![
        any::<String>(),
        "[tkv1=, 0-9a-fA-F-]{0,90}",
        "t=[0-9]{0,14},k=[a-z0-9-]{0,10},v1=[0-9a-fA-F]{60,68}",
    ];
    check(2000, (header, timestamp()), |(raw, now)| {
        match SignatureHeader::parse(&raw) {
            Ok(parsed) => {
                // What is accepted is well-formed: a 12-digit-at-most timestamp and
                // 32-byte tags; written back out, it parses to the same thing.
                prop_assert!((0..=999_999_999_999).contains(&parsed.timestamp));
                prop_assert!(!parsed.signatures.is_empty());
                prop_assert!(parsed.signatures.iter().all(|s| s.len() == 32));
                let mut again = format!("t={},k={}", parsed.timestamp, parsed.key_id);
                for s in &parsed.signatures {
                    again.push_str(&format!(",v1={}", hex::encode(s)));
                }
                prop_assert_eq!(SignatureHeader::parse(&again), Ok(parsed));
            }
            Err(e) => prop_assert_eq!(e, SignatureError::Malformed),
        }
        // A random header essentially never carries the right tag.
        let verdict = verify_raw(&shop_keys(), &raw, b"{}", now);
        prop_assert!(verdict.is_err());
        Ok(())
    });
}

#[test]
fn a_valid_signature_always_verifies() {
    let secret = prop::collection::vec(any::<u8>(), 16..80);
    let id = "[A-Za-z0-9._-]{1,64}";
    let body = prop::collection::vec(any::<u8>(), 0..600);
    check(
        1000,
        (secret, id, body, timestamp(), -TOLERANCE..=TOLERANCE),
        |(secret, id, body, t, skew)| {
            let key = ApiKey::new(&id, Scope::Events, &secret).expect("a valid key");
            let keys = ApiKeys::new(vec![key.clone()]);
            let header = sign(&key, t, &body);
            prop_assert_eq!(verify_raw(&keys, &header, &body, t + skew), Ok(()));
            // Outside the window the same header is stale, never accepted.
            prop_assert_eq!(
                verify_raw(&keys, &header, &body, t + TOLERANCE + 1),
                Err(SignatureError::Stale)
            );
            Ok(())
        },
    );
}

/// A change to a signed body.
#[derive(Debug, Clone)]
enum BodyEdit {
    FlipBit(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    Append(Vec<u8>),
    Swap(Index, Index),
}

fn body_edit() -> impl Strategy<Value = BodyEdit> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| BodyEdit::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| BodyEdit::Insert(i, b)),
        any::<Index>().prop_map(BodyEdit::Delete),
        any::<Index>().prop_map(BodyEdit::Truncate),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(BodyEdit::Append),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| BodyEdit::Swap(i, j)),
    ]
}

fn apply_body_edit(body: &[u8], edit: &BodyEdit) -> Vec<u8> {
    let mut out = body.to_vec();
    let n = body.len();
    match edit {
        BodyEdit::FlipBit(i, bit) if n > 0 => out[i.index(n)] ^= 1 << bit,
        BodyEdit::Insert(i, b) => out.insert(i.index(n + 1), *b),
        BodyEdit::Delete(i) if n > 0 => {
            out.remove(i.index(n));
        }
        BodyEdit::Truncate(i) => out.truncate(i.index(n + 1)),
        BodyEdit::Append(extra) => out.extend_from_slice(extra),
        BodyEdit::Swap(i, j) if n > 0 => out.swap(i.index(n), j.index(n)),
        _ => {}
    }
    out
}

#[test]
fn any_change_to_a_signed_request_fails_verification() {
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        purchase_json().prop_map(|v| v.to_string().into_bytes()),
    ];
    let edits = prop::collection::vec(body_edit(), 1..4);
    check(
        1000,
        (body, edits, timestamp(), 1i64..=TOLERANCE),
        |(body, edits, t, shift)| {
            let shop = key(Scope::Events);
            let keys = shop_keys();
            let header = sign(&shop, t, &body);
            let changed = edits
                .iter()
                .fold(body.clone(), |b, e| apply_body_edit(&b, e));
            if changed != body {
                prop_assert_eq!(
                    verify_raw(&keys, &header, &changed, t),
                    Err(SignatureError::Mismatch)
                );
            }
            // The same tag under another timestamp (inside the window) or another
            // secret does not verify either.
            let tag = header.split_once(",v1=").map(|(_, tag)| tag).unwrap_or("");
            let other_t = if t + shift > 999_999_999_999 {
                t - shift
            } else {
                t + shift
            };
            let moved = format!("t={other_t},k={},v1={tag}", shop.id);
            prop_assert_eq!(
                verify_raw(&keys, &moved, &body, t),
                Err(SignatureError::Mismatch)
            );
            let impostor = ApiKey::new(&shop.id, Scope::Events, b"another-secret-0123456")
                .expect("a valid key");
            prop_assert_eq!(
                verify_raw(&ApiKeys::new(vec![impostor]), &header, &body, t),
                Err(SignatureError::Mismatch)
            );
            // Nor on another method or path.
            for (method, path) in [("PUT", PATH), ("POST", "/v1/events/review")] {
                let elsewhere = SignedRequest {
                    method,
                    path_and_query: path,
                    body: &body,
                };
                let parsed = SignatureHeader::parse(&header).expect("own header parses");
                prop_assert_eq!(
                    verify(&keys, &parsed, &elsewhere, t, TOLERANCE).map(|_| ()),
                    Err(SignatureError::Mismatch)
                );
            }
            Ok(())
        },
    );
}

#[test]
fn near_valid_headers_verify_only_when_they_still_carry_the_tag() {
    let body = prop::collection::vec(any::<u8>(), 0..200);
    let edits = prop::collection::vec(header_edit(), 1..4);
    check(2000, (body, timestamp(), edits), |(body, t, edits)| {
        let shop = key(Scope::Events);
        let header = sign(&shop, t, &body);
        let edited = edits.iter().fold(header.clone(), |h, e| apply_edit(&h, e));
        let verdict = verify_raw(&shop_keys(), &edited, &body, t);
        let parsed = SignatureHeader::parse(&edited);
        match &parsed {
            Err(e) => prop_assert_eq!(verdict, Err(*e)),
            Ok(p) if p.timestamp != t || p.key_id != shop.id => prop_assert!(verdict.is_err()),
            Ok(p) => {
                let tag = header
                    .split_once(",v1=")
                    .and_then(|(_, hex_tag)| hex::decode(hex_tag).ok())
                    .unwrap_or_default();
                // Accepted exactly when one of the candidates is the true tag.
                prop_assert_eq!(verdict.is_ok(), p.signatures.contains(&tag));
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------
// Event bodies

const FIELDS: &[&str] = &[
    "event_id",
    "kind",
    "customer_id",
    "order_id",
    "occurred_at",
    "currency",
    "total_minor",
    "items",
    "sku",
    "quantity",
    "unit_price_minor",
    "email",
    "locale",
    "birthday",
    "referral_code",
    "marketing_consent",
    "timezone",
    "rating",
    "title",
    "body",
    "referee_customer_id",
    "referee_email",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..200_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        prop_oneof![
            Just("purchase"),
            Just("refund"),
            Just("USD"),
            Just("2026-11-01T10:00:00Z"),
            Just("07-31"),
            Just("hi_IN"),
            Just("Asia/Kolkata"),
            Just("a@b.co"),
            Just("ABCDEFGH"),
        ]
        .prop_map(Value::from),
        "[A-Za-z0-9_.:@#-]{0,20}".prop_map(Value::String),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(json_key(), json_value(), 0..16)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

const PATHS: &[&str] = &[
    "/v1/events/purchase",
    "/v1/events/review",
    "/v1/events/referral",
];

#[test]
fn any_json_value_gets_a_well_formed_answer() {
    let api = api();
    let value = prop_oneof![3 => json_object(), 1 => json_value()];
    check(
        600,
        (value, prop::sample::select(PATHS)),
        |(value, path)| {
            // The parsers themselves never panic on any value...
            if let Ok(input) = serde_json::from_value::<PurchaseInput>(value.clone())
                && let Ok(event) = input.validate()
            {
                check_purchase(&value, &event)?;
            }
            if let Ok(input) = serde_json::from_value::<ReviewInput>(value.clone())
                && let Ok(event) = input.validate()
            {
                check_review(&value, &event)?;
            }
            if let Ok(input) = serde_json::from_value::<ReferralInput>(value.clone())
                && let Ok(event) = input.validate()
            {
                check_referral(&value, &event)?;
            }
            // ...and the handler answers every one properly.
            let (status, _) = answer(&send(&api, path, value.to_string().into_bytes()))?;
            if !value.is_object() {
                prop_assert_eq!(status, 422);
            }
            Ok(())
        },
    );
}

fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    let near_json =
        (json_object(), prop::collection::vec(body_edit(), 1..4)).prop_map(|(v, edits)| {
            let text = v.to_string().into_bytes();
            edits.iter().fold(text, |b, e| apply_body_edit(&b, e))
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        any::<String>().prop_map(String::into_bytes),
        "[{}\\[\\]\":,0-9a-z \\\\.eE+-]{0,80}".prop_map(String::into_bytes),
        near_json,
        Just(b"{\"event_id\":\"a\",\"event_id\":\"b\"}".to_vec()),
        Just(b"\xef\xbb\xbf{}".to_vec()),
        Just("[".repeat(200).into_bytes()),
        Just(b"{\"total_minor\":1e400}".to_vec()),
        Just(b"{\"total_minor\":-0}".to_vec()),
    ]
}

#[test]
fn any_bytes_get_a_well_formed_answer() {
    let api = api();
    check(
        1000,
        (raw_body(), prop::sample::select(PATHS)),
        |(body, path)| {
            let utf8 = std::str::from_utf8(&body).is_ok();
            let json = serde_json::from_slice::<Value>(&body).is_ok();
            let (status, problem) = answer(&send(&api, path, body))?;
            if !utf8 {
                prop_assert_eq!(status, 400);
                let expected = format!("{PROBLEM_BASE}invalid-encoding");
                prop_assert_eq!(problem["type"].as_str(), Some(expected.as_str()));
            } else if !json {
                prop_assert_eq!(status, 400);
                let expected = format!("{PROBLEM_BASE}malformed-json");
                prop_assert_eq!(problem["type"].as_str(), Some(expected.as_str()));
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------
// Structured events: valid ones, then one field changed

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:@-]{1,24}[A-Za-z0-9]{8}"
}

/// RFC 3339 times between 1970 and 2100 with an offset from -14:00 to +14:00.
fn time() -> impl Strategy<Value = String> {
    (0i64..4_102_444_800, -56i32..=56, any::<bool>()).prop_map(|(secs, quarters, zulu)| {
        let t = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
        if zulu {
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        } else {
            let offset = chrono::FixedOffset::east_opt(quarters * 900).unwrap_or_else(|| {
                chrono::FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!())
            });
            t.with_timezone(&offset).to_rfc3339()
        }
    })
}

/// An address `Email::parse` accepts: a dot-atom, a host name of letter-and-digit
/// labels with inner hyphens.
fn email() -> impl Strategy<Value = String> {
    "[a-z0-9_+]{1,8}(\\.[a-z0-9_+]{1,8}){0,2}@[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\\.[a-z]{2,6}"
}

/// `event` moved into the last two years, where the API accepts its time; the
/// generated time decides where.
fn recent(mut event: Value) -> Value {
    if let Some(at) = time_of(text(&event, "occurred_at")) {
        let ago = at.timestamp().rem_euclid(2 * 365 * 86_400);
        event["occurred_at"] = (Utc::now() - chrono::Duration::seconds(ago))
            .to_rfc3339()
            .into();
    }
    event
}

fn item() -> impl Strategy<Value = Value> {
    (id(), 1i64..=100, 0i64..=100_000).prop_map(|(sku, quantity, price)| {
        json!({"sku": sku, "quantity": quantity, "unit_price_minor": price})
    })
}

fn optional_contact() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    (
        prop::option::of(email()),
        prop::option::of(prop::sample::select(vec![
            "en",
            "hi_IN",
            "hi-IN",
            "fil-PH",
            "pt_br",
            "ur",
            "zh-Hant-TW",
        ])),
        prop::option::of((1u32..=12, 1u32..=28)),
        prop::option::of(prop::sample::select(vec![
            "Asia/Kolkata",
            "Europe/Berlin",
            "UTC",
            "America/Sao_Paulo",
        ])),
        prop::option::of(any::<bool>()),
        prop::option::of("[A-Za-z0-9-]{4,32}"),
    )
        .prop_map(|(email, locale, birthday, tz, consent, code)| {
            let mut fields = Vec::new();
            fields.extend(email.map(|e| ("email", Value::from(e))));
            fields.extend(locale.map(|l| ("locale", Value::from(l))));
            fields
                .extend(birthday.map(|(m, d)| ("birthday", Value::from(format!("{m:02}-{d:02}")))));
            fields.extend(tz.map(|t| ("timezone", Value::from(t))));
            fields.extend(consent.map(|c| ("marketing_consent", Value::from(c))));
            fields.extend(code.map(|c| ("referral_code", Value::from(c))));
            fields
        })
}

fn purchase_json() -> impl Strategy<Value = Value> {
    (
        id(),
        id(),
        id(),
        time(),
        prop::collection::vec(item(), 1..5),
        prop::sample::select(vec!["USD", "USD", "USD", "EUR", "JPY", "INR"]),
        optional_contact(),
    )
        .prop_map(|(event, customer, order, at, items, currency, contact)| {
            let total: i64 = items
                .iter()
                .map(|i| {
                    i["quantity"].as_i64().unwrap_or(0)
                        * i["unit_price_minor"].as_i64().unwrap_or(0)
                })
                .sum();
            let mut body = json!({
                "event_id": event,
                "kind": "purchase",
                "customer_id": customer,
                "order_id": order,
                "occurred_at": at,
                "currency": currency,
                "total_minor": total,
                "items": items,
            });
            for (k, v) in contact {
                body[k] = v;
            }
            body
        })
}

fn refund_json() -> impl Strategy<Value = Value> {
    (id(), id(), id(), time(), 1i64..10_000_000).prop_map(|(event, customer, order, at, amount)| {
        json!({
            "event_id": event,
            "kind": "refund",
            "customer_id": customer,
            "order_id": order,
            "occurred_at": at,
            "currency": "USD",
            "total_minor": amount,
        })
    })
}

fn review_json() -> impl Strategy<Value = Value> {
    (
        id(),
        id(),
        id(),
        id(),
        1i64..=5,
        prop::option::of("\\PC{0,60}"),
        prop::option::of("\\PC{0,300}"),
        time(),
    )
        .prop_map(|(event, customer, order, sku, rating, title, text, at)| {
            let mut body = json!({
                "event_id": event,
                "customer_id": customer,
                "order_id": order,
                "sku": sku,
                "rating": rating,
                "occurred_at": at,
            });
            if let Some(t) = title {
                body["title"] = t.into();
            }
            if let Some(b) = text {
                body["body"] = b.into();
            }
            body
        })
}

fn referral_code() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(CODE_ALPHABET), 8),
        any::<bool>(),
        " {0,2}",
    )
        .prop_map(|(bytes, lower, pad)| {
            let code: String = bytes.into_iter().map(char::from).collect();
            let code = if lower {
                code.to_ascii_lowercase()
            } else {
                code
            };
            format!("{pad}{code}{pad}")
        })
}

fn referral_json() -> impl Strategy<Value = Value> {
    (
        id(),
        referral_code(),
        id(),
        prop::option::of(email()),
        time(),
    )
        .prop_map(|(event, code, referee, email, at)| {
            let mut body = json!({
                "event_id": event,
                "referral_code": code,
                "referee_customer_id": referee,
                "occurred_at": at,
            });
            if let Some(e) = email {
                body["referee_email"] = e.into();
            }
            body
        })
}

fn text<'v>(value: &'v Value, field: &str) -> Option<&'v str> {
    value.get(field).and_then(Value::as_str)
}

fn time_of(raw: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The validated event says exactly what the JSON said.
fn check_purchase(value: &Value, event: &PurchaseEvent) -> Result<(), TestCaseError> {
    prop_assert_eq!(Some(event.event_id.as_str()), text(value, "event_id"));
    let kind = match event.kind {
        PurchaseKind::Purchase => "purchase",
        PurchaseKind::Refund => "refund",
    };
    prop_assert_eq!(Some(kind), text(value, "kind"));
    prop_assert_eq!(Some(event.customer_id.as_str()), text(value, "customer_id"));
    prop_assert_eq!(Some(event.order_id.as_str()), text(value, "order_id"));
    prop_assert_eq!(Some(event.occurred_at), time_of(text(value, "occurred_at")));
    prop_assert_eq!(Some(event.total.currency.code()), text(value, "currency"));
    prop_assert_eq!(Some(event.total.minor), value["total_minor"].as_i64());
    let items = value["items"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(event.items.len(), items.len());
    for (got, sent) in event.items.iter().zip(&items) {
        prop_assert_eq!(Some(got.sku.as_str()), text(sent, "sku"));
        prop_assert_eq!(Some(i64::from(got.quantity)), sent["quantity"].as_i64());
        prop_assert_eq!(
            Some(got.unit_price_minor),
            sent["unit_price_minor"].as_i64()
        );
    }
    if event.kind == PurchaseKind::Purchase {
        let sum: i128 = event
            .items
            .iter()
            .map(|i| i128::from(i.quantity) * i128::from(i.unit_price_minor))
            .sum();
        prop_assert_eq!(sum, i128::from(event.total.minor));
    }
    prop_assert_eq!(
        event.email.as_ref().map(|e| e.as_str()),
        text(value, "email").map(str::trim)
    );
    match (&event.locale, text(value, "locale")) {
        (Some(l), Some(sent)) => {
            prop_assert!(
                l.as_str().eq_ignore_ascii_case(&sent.replace('_', "-")),
                "{l:?} {sent}"
            );
        }
        (got, sent) => prop_assert_eq!(got.is_some(), sent.is_some()),
    }
    prop_assert_eq!(
        event.birthday.map(|b| b.to_string()),
        text(value, "birthday").map(str::to_owned)
    );
    prop_assert_eq!(event.timezone.as_deref(), text(value, "timezone"));
    prop_assert_eq!(
        event.marketing_consent,
        value["marketing_consent"].as_bool()
    );
    prop_assert_eq!(
        event.referral_code.clone(),
        text(value, "referral_code").map(|c| c.trim().to_ascii_uppercase())
    );
    Ok(())
}

fn check_review(value: &Value, event: &ReviewEvent) -> Result<(), TestCaseError> {
    prop_assert_eq!(Some(event.event_id.as_str()), text(value, "event_id"));
    prop_assert_eq!(Some(event.customer_id.as_str()), text(value, "customer_id"));
    prop_assert_eq!(Some(event.order_id.as_str()), text(value, "order_id"));
    prop_assert_eq!(Some(event.sku.as_str()), text(value, "sku"));
    prop_assert_eq!(Some(i64::from(event.rating)), value["rating"].as_i64());
    prop_assert!((1..=5).contains(&event.rating));
    prop_assert_eq!(Some(event.occurred_at), time_of(text(value, "occurred_at")));
    for (got, field) in [(&event.title, "title"), (&event.body, "body")] {
        let sent = text(value, field).filter(|t| !t.trim().is_empty());
        prop_assert_eq!(got.as_deref(), sent);
    }
    Ok(())
}

fn check_referral(value: &Value, event: &ReferralEvent) -> Result<(), TestCaseError> {
    prop_assert_eq!(Some(event.event_id.as_str()), text(value, "event_id"));
    prop_assert_eq!(
        Some(event.code.clone()),
        text(value, "referral_code").map(|c| c.trim().to_ascii_uppercase())
    );
    prop_assert_eq!(
        Some(event.referee.as_str()),
        text(value, "referee_customer_id")
    );
    prop_assert_eq!(
        event.referee_email.as_ref().map(|e| e.as_str()),
        text(value, "referee_email").map(str::trim)
    );
    prop_assert_eq!(Some(event.occurred_at), time_of(text(value, "occurred_at")));
    Ok(())
}

#[test]
fn valid_events_validate_and_round_trip() {
    check(
        600,
        (
            purchase_json(),
            refund_json(),
            review_json(),
            referral_json(),
        ),
        |(purchase, refund, review, referral)| {
            for value in [&purchase, &refund] {
                let event = serde_json::from_value::<PurchaseInput>(value.clone())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?
                    .validate()
                    .map_err(|e| TestCaseError::fail(format!("{value}: {e:?}")))?;
                check_purchase(value, &event)?;
            }
            let event = serde_json::from_value::<ReviewInput>(review.clone())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .validate()
                .map_err(|e| TestCaseError::fail(format!("{review}: {e:?}")))?;
            check_review(&review, &event)?;
            let event = serde_json::from_value::<ReferralInput>(referral.clone())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .validate()
                .map_err(|e| TestCaseError::fail(format!("{referral}: {e:?}")))?;
            check_referral(&referral, &event)?;
            Ok(())
        },
    );
}

/// One field of a valid event changed: removed, or replaced by another value.
#[derive(Debug, Clone)]
enum FieldEdit {
    Remove,
    Set(Value),
}

fn field_edit() -> impl Strategy<Value = FieldEdit> {
    let near = prop_oneof![
        Just(Value::from("")),
        Just(Value::from(" ")),
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(1.5)),
        Just(Value::from(i64::MAX)),
        Just(Value::from(u64::MAX)),
        Just(Value::from("2026-13-01T00:00:00Z")),
        Just(Value::from("2026-11-01T10:00:00")),
        Just(Value::from("02-29")),
        Just(Value::from("02-30")),
        Just(Value::from("+1-05")),
        Just(Value::from("refund")),
        Just(Value::from("XXX")),
        Just(Value::from("a#b")),
        Just(Value::from("x".repeat(129))),
        Just(Value::from("x".repeat(5_001))),
        Just(Value::from("a\u{0}b")),
        Just(json!([])),
        Just(json!({})),
        "[0-9+ -]{2}-[0-9+ -]{2}".prop_map(Value::from),
        "[A-Za-z0-9_.:@#/ -]{0,40}".prop_map(Value::from),
    ];
    prop_oneof![
        2 => Just(FieldEdit::Remove),
        1 => Just(FieldEdit::Set(Value::Null)),
        4 => near.prop_map(FieldEdit::Set),
        3 => json_value().prop_map(FieldEdit::Set),
    ]
}

/// Applies `edit` to the field `path`: `name`, or `items[n].name` as error messages
/// name a line item's field.
fn edit_field(value: &mut Value, path: &str, edit: &FieldEdit) {
    let (target, name) = match path.split_once('.') {
        Some((items, name)) => {
            let n: usize = items
                .trim_start_matches("items[")
                .trim_end_matches(']')
                .parse()
                .unwrap_or(0);
            (&mut value["items"][n], name)
        }
        None => (value, path),
    };
    if let Some(object) = target.as_object_mut() {
        match edit {
            FieldEdit::Remove => {
                object.remove(name);
            }
            FieldEdit::Set(v) => {
                object.insert(name.to_owned(), v.clone());
            }
        }
    }
}

/// Fields whose values are checked against each other: changing one may be reported
/// against another.
fn related(field: &str) -> bool {
    matches!(field, "total_minor" | "items" | "kind" | "currency") || field.starts_with("items[")
}

/// A valid event with one field changed never panics the parser; if it still validates
/// it round-trips, and a missing required field is reported by its own name.
fn near_valid<T, E>(
    value: &Value,
    path: &str,
    edit: &FieldEdit,
    required: &[&str],
    validate: impl Fn(T) -> Result<E, rapport_shared::domain::FieldError>,
    round_trip: impl Fn(&Value, &E) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned,
{
    let mut changed = value.clone();
    edit_field(&mut changed, path, edit);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(changed.clone());
    let outcome = match parsed {
        Err(e) => Err(e.path().to_string()),
        Ok(input) => match validate(input) {
            Ok(event) => {
                round_trip(&changed, &event)?;
                Ok(())
            }
            Err(e) => Err(e.field),
        },
    };
    let missing = matches!(edit, FieldEdit::Remove | FieldEdit::Set(Value::Null));
    let required = required.contains(&path);
    match outcome {
        Err(field) if missing && required => prop_assert_eq!(field, path),
        Err(field) => prop_assert!(
            path != "unknown" && (field == path || (related(path) && related(&field))),
            "changing {path} was reported against {field}"
        ),
        Ok(()) => prop_assert!(
            !(missing && required),
            "{path} is required, but the event validated without it"
        ),
    }
    Ok(())
}

const PURCHASE_FIELDS: &[&str] = &[
    "event_id",
    "kind",
    "customer_id",
    "order_id",
    "occurred_at",
    "currency",
    "total_minor",
    "items",
    "items[0].sku",
    "items[0].quantity",
    "items[0].unit_price_minor",
    "email",
    "locale",
    "birthday",
    "timezone",
    "marketing_consent",
    "referral_code",
    "unknown",
];
const PURCHASE_REQUIRED: &[&str] = &[
    "event_id",
    "kind",
    "customer_id",
    "order_id",
    "occurred_at",
    "currency",
    "total_minor",
    "items",
    "items[0].sku",
    "items[0].quantity",
    "items[0].unit_price_minor",
];
const REVIEW_FIELDS: &[&str] = &[
    "event_id",
    "customer_id",
    "order_id",
    "sku",
    "rating",
    "title",
    "body",
    "occurred_at",
    "unknown",
];
const REVIEW_REQUIRED: &[&str] = &[
    "event_id",
    "customer_id",
    "order_id",
    "sku",
    "rating",
    "occurred_at",
];
const REFERRAL_FIELDS: &[&str] = &[
    "event_id",
    "referral_code",
    "referee_customer_id",
    "referee_email",
    "occurred_at",
    "unknown",
];
const REFERRAL_REQUIRED: &[&str] = &[
    "event_id",
    "referral_code",
    "referee_customer_id",
    "occurred_at",
];

#[test]
fn near_valid_events_are_rejected_by_name_or_round_trip() {
    let cases = (
        purchase_json(),
        prop::sample::select(PURCHASE_FIELDS),
        review_json(),
        prop::sample::select(REVIEW_FIELDS),
        referral_json(),
        prop::sample::select(REFERRAL_FIELDS),
        field_edit(),
    );
    check(
        1500,
        cases,
        |(purchase, pf, review, rf, referral, ff, edit)| {
            near_valid(
                &purchase,
                pf,
                &edit,
                PURCHASE_REQUIRED,
                PurchaseInput::validate,
                check_purchase,
            )?;
            near_valid(
                &review,
                rf,
                &edit,
                REVIEW_REQUIRED,
                ReviewInput::validate,
                check_review,
            )?;
            near_valid(
                &referral,
                ff,
                &edit,
                REFERRAL_REQUIRED,
                ReferralInput::validate,
                check_referral,
            )?;
            Ok(())
        },
    );
}

#[test]
fn near_valid_events_through_the_handler() {
    let cases = (
        purchase_json()
            .prop_filter("in the shop's currency", |p| p["currency"] == "USD")
            .prop_map(recent),
        prop::sample::select(PURCHASE_FIELDS),
        field_edit(),
    );
    check(300, cases, |(purchase, field, edit)| {
        let api = api();
        let mut changed = purchase.clone();
        edit_field(&mut changed, field, &edit);
        let (status, body) = answer(&send(&api, PATHS[0], changed.to_string().into_bytes()))?;
        match status {
            200 => {
                prop_assert_eq!(body["event_id"].as_str(), text(&changed, "event_id"));
                prop_assert_eq!(body["customer_id"].as_str(), text(&changed, "customer_id"));
                prop_assert_eq!(body["duplicate"].as_bool(), Some(false));
            }
            422 => {
                let reported = body["field"].as_str().unwrap_or_default();
                // Turned into a refund, the purchase names an order not recorded yet.
                let unknown_order = changed["kind"] == "refund" && reported == "order_id";
                prop_assert!(
                    reported == field || (related(field) && related(reported)) || unknown_order,
                    "changing {field} was reported against {reported}: {body}"
                );
            }
            other => prop_assert!(false, "status {other}: {body}"),
        }
        Ok(())
    });
}

#[test]
fn a_valid_purchase_is_recorded_once_and_refunds_reverse_its_share() {
    let cases = (
        purchase_json()
            .prop_filter("in the shop's currency", |p| p["currency"] == "USD")
            .prop_map(recent),
        any::<Index>(),
    );
    check(300, cases, |(purchase, share)| {
        let api = api();
        let body = purchase.to_string().into_bytes();
        let total = purchase["total_minor"].as_i64().unwrap_or_default();
        let (status, first) = answer(&send(&api, PATHS[0], body.clone()))?;
        prop_assert_eq!(status, 200, "{}", first);
        // A new customer is in the base tier: one point per whole unit.
        let points = total / 100;
        prop_assert_eq!(first["points_delta"].as_i64(), Some(points));
        prop_assert_eq!(first["points_balance"].as_i64(), Some(points));
        prop_assert_eq!(first["net_spend_minor"].as_i64(), Some(total));
        for field in ["event_id", "customer_id", "order_id", "kind"] {
            prop_assert_eq!(first[field].as_str(), text(&purchase, field));
        }

        let (status, again) = answer(&send(&api, PATHS[0], body))?;
        prop_assert_eq!(status, 200);
        prop_assert_eq!(again["duplicate"].as_bool(), Some(true));
        let mut same = again.clone();
        same["duplicate"] = false.into();
        prop_assert_eq!(&same, &first);

        // The same event id with another body is refused and changes nothing.
        let mut other = purchase.clone();
        other["marketing_consent"] =
            (!purchase["marketing_consent"].as_bool().unwrap_or(false)).into();
        let (status, problem) = answer(&send(&api, PATHS[0], other.to_string().into_bytes()))?;
        prop_assert_eq!(status, 409);
        prop_assert_eq!(problem["field"].as_str(), Some("event_id"));

        if total > 0 {
            let amount = 1 + share.index(usize::try_from(total).unwrap_or(1)) as i64;
            let refund = json!({
                "event_id": format!("{}-refund", purchase["event_id"].as_str().unwrap_or("e")),
                "kind": "refund",
                "customer_id": purchase["customer_id"],
                "order_id": purchase["order_id"],
                "occurred_at": purchase["occurred_at"],
                "currency": "USD",
                "total_minor": amount,
            });
            let (status, receipt) = answer(&send(&api, PATHS[0], refund.to_string().into_bytes()))?;
            prop_assert_eq!(status, 200, "{}", receipt);
            let reversed =
                i64::try_from(i128::from(points) * i128::from(amount) / i128::from(total))
                    .unwrap_or(i64::MAX);
            prop_assert_eq!(receipt["points_delta"].as_i64(), Some(-reversed));
            prop_assert_eq!(receipt["points_balance"].as_i64(), Some(points - reversed));
            prop_assert_eq!(receipt["net_spend_minor"].as_i64(), Some(total - amount));
        }
        Ok(())
    });
}
