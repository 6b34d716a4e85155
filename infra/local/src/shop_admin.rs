//! A stand-in for the stores' admin APIs, for developing and testing without a shop:
//! Shopify's Admin GraphQL `discountCodeBasicCreate` (and
//! `discountCodeFreeShippingCreate`) and WooCommerce's
//! `POST /wp-json/wc/v3/coupons`, on 127.0.0.1. Real stores cannot be reached from a
//! laptop or CI; this server holds Rapport's requests to the documented shapes — the
//! credentials each platform checks, the fields each requires, the values each accepts
//! — and answers as the platforms document: the created discount or coupon, "taken"
//! for a code that exists (codes are case-insensitive on both), 401 for a bad
//! credential, and on request a throttled answer, an outage, or a lost answer (the
//! code created, the answer a 502) to test what Rapport does then.

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rapport_shared::domain::storefront::codes::Platform;
use rapport_shared::shop_api::{shopify, woocommerce};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An answer the stand-in gives instead of doing the work, once per call, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Shopify: `THROTTLED` in `errors` (HTTP 200); WooCommerce: 429 `Retry-After: 0`.
    Throttle,
    /// 503.
    Outage,
    /// The code is created, and the answer is lost (502).
    LoseAnswer,
}

/// A code the stand-in store holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCode {
    pub platform: Platform,
    pub id: u64,
    /// The code as sent.
    pub code: String,
    /// The input as sent (Shopify's `basicCodeDiscount`, WooCommerce's coupon).
    pub input: Value,
}

#[derive(Default)]
struct State {
    codes: Vec<StoredCode>,
    faults: BTreeMap<Platform, VecDeque<Fault>>,
    calls: BTreeMap<Platform, usize>,
    /// Requests refused for their shape, with why (a test fails on any).
    malformed: Vec<String>,
}

/// The credentials the stand-in takes.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub shopify_token: String,
    pub woocommerce_key: String,
    pub woocommerce_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            shopify_token: "shpat_local_standin_token".into(),
            woocommerce_key: "ck_local_standin_key".into(),
            woocommerce_secret: "cs_local_standin_secret".into(),
        }
    }
}

/// The running stand-in; stops when dropped.
pub struct ShopAdmin {
    pub addr: SocketAddr,
    pub credentials: Credentials,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for ShopAdmin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ShopAdmin {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start(credentials: Credentials) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::new((state.clone(), credentials.clone()));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared.0, &shared.1, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            credentials,
            state,
            task,
        })
    }

    /// The base URL both platforms' paths hang off.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next calls to `platform` get these answers, one each.
    pub fn fail_next(&self, platform: Platform, faults: &[Fault]) {
        lock(&self.state)
            .faults
            .entry(platform)
            .or_default()
            .extend(faults);
    }

    /// Every code the store holds, in the order created.
    pub fn codes(&self) -> Vec<StoredCode> {
        lock(&self.state).codes.clone()
    }

    /// Calls received by `platform`'s API.
    pub fn calls(&self, platform: Platform) -> usize {
        lock(&self.state)
            .calls
            .get(&platform)
            .copied()
            .unwrap_or_default()
    }

    /// Requests refused for not matching the documented shape, with why.
    pub fn malformed(&self) -> Vec<String> {
        lock(&self.state).malformed.clone()
    }

    /// The environment that points Rapport at this stand-in for both platforms.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RAPPORT_SHOPIFY_ADMIN_URL", self.url()),
            (
                "RAPPORT_SHOPIFY_ADMIN_TOKEN",
                self.credentials.shopify_token.clone(),
            ),
            ("RAPPORT_WOOCOMMERCE_URL", self.url()),
            (
                "RAPPORT_WOOCOMMERCE_KEY",
                self.credentials.woocommerce_key.clone(),
            ),
            (
                "RAPPORT_WOOCOMMERCE_SECRET",
                self.credentials.woocommerce_secret.clone(),
            ),
        ]
    }
}

fn respond(status: u16, headers: &[(&str, &str)], body: &Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers_out = response.headers_mut();
    headers_out.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers_out.insert(name, value);
        }
    }
    response
}

async fn handle(
    state: &Mutex<State>,
    credentials: &Credentials,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return respond(400, &[], &json!({"error": "unreadable body"})),
    };
    let platform = match (parts.method.as_str(), parts.uri.path()) {
        ("POST", path) if path == shopify::graphql_path() => Platform::Shopify,
        ("POST", woocommerce::COUPONS_PATH) => Platform::Woocommerce,
        _ => return respond(404, &[], &json!({"errors": "Not Found"})),
    };
    let fault = {
        let mut state = lock(state);
        *state.calls.entry(platform).or_default() += 1;
        state
            .faults
            .get_mut(&platform)
            .and_then(VecDeque::pop_front)
    };
    match (platform, fault) {
        (Platform::Shopify, Some(Fault::Throttle)) => {
            let throttled = json!({"errors": [{
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}
            }]});
            return respond(200, &[], &throttled);
        }
        (Platform::Woocommerce, Some(Fault::Throttle)) => {
            let throttled = json!({"code": "rest_too_many_requests", "message": "Too many requests", "data": {"status": 429}});
            return respond(429, &[("Retry-After", "0")], &throttled);
        }
        (_, Some(Fault::Outage)) => {
            return respond(503, &[], &json!({"errors": "Service Unavailable"}));
        }
        _ => {}
    }
    let answer = match platform {
        Platform::Shopify => shopify_call(state, credentials, &parts.headers, &body),
        Platform::Woocommerce => woocommerce_call(state, credentials, &parts.headers, &body),
    };
    match fault {
        Some(Fault::LoseAnswer) => respond(502, &[], &json!({"errors": "Bad Gateway"})),
        _ => answer,
    }
}

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(headers: &http::HeaderMap) -> bool {
    header(headers, "content-type").is_some_and(|c| c.starts_with("application/json"))
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok())
}

/// A decimal amount as both platforms take it: digits, at most one point.
fn is_decimal(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
        !whole.is_empty()
            && !fraction.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Stores a new code unless one of the same name (in any case) exists: its id then.
fn create(state: &Mutex<State>, platform: Platform, code: &str, input: Value) -> Result<u64, ()> {
    let mut state = lock(state);
    let taken = state
        .codes
        .iter()
        .any(|c| c.platform == platform && c.code.eq_ignore_ascii_case(code));
    if taken {
        return Err(());
    }
    let id = 1000 + state.codes.len() as u64;
    state.codes.push(StoredCode {
        platform,
        id,
        code: code.to_owned(),
        input,
    });
    Ok(id)
}

fn malformed(state: &Mutex<State>, why: String) -> String {
    lock(state).malformed.push(why.clone());
    why
}

/// The two mutations Rapport sends: the argument each takes, the field it answers under.
const SHOPIFY_MUTATIONS: [(&str, &str, &str); 2] = [
    (
        "discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)",
        "basicCodeDiscount",
        "discountCodeBasicCreate",
    ),
    (
        "discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount)",
        "freeShippingCodeDiscount",
        "discountCodeFreeShippingCreate",
    ),
];

/// What the input gets wrong, as Shopify's `userErrors` would name it.
fn shopify_input_errors(
    input: &Value,
    argument: &'static str,
) -> Vec<(Vec<&'static str>, &'static str, String)> {
    let mut errors = Vec::new();
    let free_shipping = argument == "freeShippingCodeDiscount";
    let mut error = |field: &[&'static str], code: &'static str, message: &str| {
        let mut path = vec![argument];
        path.extend_from_slice(field);
        errors.push((path, code, message.to_owned()));
    };
    if input["code"].as_str().is_none_or(|c| c.trim().is_empty()) {
        error(&["code"], "BLANK", "Code can't be blank");
    }
    if input["title"].as_str().is_none_or(|t| t.trim().is_empty()) {
        error(&["title"], "BLANK", "Title can't be blank");
    }
    if !is_rfc3339(&input["startsAt"]) {
        error(
            &["startsAt"],
            "INVALID",
            "Starts at must be a date and time",
        );
    }
    match &input["endsAt"] {
        Value::Null => {}
        ends if !is_rfc3339(ends) => {
            error(&["endsAt"], "INVALID", "Ends at must be a date and time")
        }
        ends => {
            let parse = |v: &Value| {
                v.as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            };
            if parse(ends) <= parse(&input["startsAt"]) {
                error(
                    &["endsAt"],
                    "END_DATE_BEFORE_START_DATE",
                    "Ends at needs to be after starts_at",
                );
            }
        }
    }
    if input["usageLimit"].as_i64().is_some_and(|n| n < 1) {
        error(
            &["usageLimit"],
            "GREATER_THAN",
            "Usage limit must be greater than 0",
        );
    }
    let context = &input["context"];
    let all = context["all"].as_str() == Some("ALL");
    let customers = context["customers"]["add"].as_array().is_some_and(|ids| {
        !ids.is_empty()
            && ids.iter().all(|id| {
                id.as_str()
                    .and_then(|id| id.strip_prefix("gid://shopify/Customer/"))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
    });
    if all == customers {
        error(
            &["context"],
            "INVALID",
            "Context must name all buyers or customers by id",
        );
    }
    if free_shipping {
        let destination = &input["destination"];
        if destination["all"].as_bool() != Some(true) && destination["countries"].is_null() {
            error(&["destination"], "BLANK", "Destination must be given");
        }
        if !input["customerGets"].is_null() {
            error(
                &["customerGets"],
                "INVALID",
                "Free shipping takes no customerGets",
            );
        }
        return errors;
    }
    let value = &input["customerGets"]["value"];
    let percentage = value["percentage"]
        .as_f64()
        .is_some_and(|p| p > 0.0 && p <= 1.0);
    let amount = is_decimal(&value["discountAmount"]["amount"])
        && value["discountAmount"]["appliesOnEachItem"].is_boolean();
    if percentage == amount {
        error(
            &["customerGets", "value"],
            "INVALID",
            "Value must be a percentage in (0, 1] or a discount amount",
        );
    }
    let minimum = &input["minimumRequirement"];
    if !minimum.is_null() && !is_decimal(&minimum["subtotal"]["greaterThanOrEqualToSubtotal"]) {
        error(
            &["minimumRequirement"],
            "INVALID",
            "Minimum requirement must be a subtotal amount",
        );
    }
    if input["customerGets"]["items"]["all"].as_bool() != Some(true) {
        error(&["customerGets", "items"], "INVALID", "Items must be given");
    }
    errors
}

fn shopify_call(
    state: &Mutex<State>,
    credentials: &Credentials,
    headers: &http::HeaderMap,
    body: &[u8],
) -> hyper::Response<Full<Bytes>> {
    if header(headers, "x-shopify-access-token") != Some(credentials.shopify_token.as_str()) {
        let invalid = json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"});
        return respond(401, &[], &invalid);
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) if is_json(headers) => request,
        _ => {
            let why = malformed(state, "shopify: the body is not JSON".into());
            return respond(400, &[], &json!({"errors": why}));
        }
    };
    let query = request["query"].as_str().unwrap_or_default();
    let mutation = SHOPIFY_MUTATIONS
        .iter()
        .find(|(call, _, _)| query.contains(call))
        .filter(|_| query.contains("userErrors"));
    let Some(&(_, argument, answer_field)) = mutation else {
        let why = malformed(state, format!("shopify: an unexpected query: {query}"));
        return respond(200, &[], &json!({"errors": [{"message": why}]}));
    };
    let input = &request["variables"][argument];
    let errors = shopify_input_errors(input, argument);
    let payload = if !errors.is_empty() {
        let listed: Vec<String> = errors
            .iter()
            .map(|(f, c, m)| format!("{f:?} {c} {m}"))
            .collect();
        malformed(state, format!("shopify: {}", listed.join("; ")));
        let user_errors: Vec<Value> = errors
            .iter()
            .map(|(field, code, message)| json!({"field": field, "code": code, "message": message}))
            .collect();
        json!({"codeDiscountNode": null, "userErrors": user_errors})
    } else {
        let code = input["code"].as_str().unwrap_or_default();
        match create(state, Platform::Shopify, code, input.clone()) {
            Ok(id) => json!({
                "codeDiscountNode": {"id": format!("gid://shopify/DiscountCodeNode/{id}")},
                "userErrors": []
            }),
            Err(()) => json!({
                "codeDiscountNode": null,
                "userErrors": [{
                    "field": [argument, "code"],
                    "code": "TAKEN",
                    "message": "Code must be unique. Please try a different code."
                }]
            }),
        }
    };
    respond(200, &[], &json!({"data": { answer_field: payload }}))
}

fn woo_error(status: u16, code: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    respond(
        status,
        &[],
        &json!({"code": code, "message": message, "data": {"status": status}}),
    )
}

fn woocommerce_call(
    state: &Mutex<State>,
    credentials: &Credentials,
    headers: &http::HeaderMap,
    body: &[u8],
) -> hyper::Response<Full<Bytes>> {
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        credentials.woocommerce_key, credentials.woocommerce_secret
    ));
    let authorised = header(headers, "authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .is_some_and(|given| given == expected);
    if !authorised {
        return woo_error(
            401,
            "woocommerce_rest_cannot_create",
            "Sorry, you are not allowed to create resources.",
        );
    }
    let coupon: Value = match serde_json::from_slice(body) {
        Ok(coupon @ Value::Object(_)) if is_json(headers) => coupon,
        _ => {
            let why = malformed(state, "woocommerce: the body is not a JSON object".into());
            return woo_error(400, "rest_invalid_json", &why);
        }
    };
    let mut wrong = Vec::new();
    let code = coupon["code"].as_str().unwrap_or_default().to_owned();
    if code.trim().is_empty() {
        wrong.push("code is required");
    }
    if !matches!(
        coupon["discount_type"].as_str(),
        Some("percent" | "fixed_cart" | "fixed_product")
    ) {
        wrong.push("discount_type is not one of percent, fixed_cart, fixed_product");
    }
    if !is_decimal(&coupon["amount"])
        && coupon["amount"]
            .as_str()
            .is_none_or(|a| a.parse::<u64>().is_err())
    {
        wrong.push("amount is not a decimal string");
    }
    for field in ["usage_limit", "usage_limit_per_user"] {
        if !(coupon[field].is_null() || coupon[field].as_u64().is_some()) {
            wrong.push("a usage limit is not an integer");
        }
    }
    let emails_ok = coupon["email_restrictions"].is_null()
        || coupon["email_restrictions"].as_array().is_some_and(|list| {
            list.iter()
                .all(|e| e.as_str().is_some_and(|e| e.contains('@')))
        });
    if !emails_ok {
        wrong.push("email_restrictions is not a list of addresses");
    }
    if !(coupon["free_shipping"].is_null() || coupon["free_shipping"].is_boolean()) {
        wrong.push("free_shipping is not a boolean");
    }
    let minimum_ok = match &coupon["minimum_amount"] {
        Value::Null => true,
        Value::String(s) if s.is_empty() => true,
        amount => is_decimal(amount),
    };
    if !minimum_ok {
        wrong.push("minimum_amount is not a decimal string");
    }
    let expires_ok = match &coupon["date_expires_gmt"] {
        Value::Null => true,
        Value::String(s) => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok(),
        _ => false,
    };
    if !expires_ok {
        wrong.push("date_expires_gmt is not YYYY-MM-DDTHH:MM:SS");
    }
    if !wrong.is_empty() {
        let why = malformed(state, format!("woocommerce: {}", wrong.join("; ")));
        return woo_error(400, "rest_invalid_param", &why);
    }
    match create(state, Platform::Woocommerce, &code, coupon.clone()) {
        Ok(id) => {
            let mut created = coupon;
            created["id"] = json!(id);
            created["code"] = json!(code.to_ascii_lowercase());
            respond(201, &[], &created)
        }
        Err(()) => woo_error(
            400,
            woocommerce::CODE_EXISTS,
            "The coupon code already exists",
        ),
    }
}
