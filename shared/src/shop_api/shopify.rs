//! Shopify's Admin GraphQL API: `discountCodeBasicCreate`, one use per code, for the
//! coupon's Shopify customer when it has one.
//!
//! Shopify answers most errors with HTTP 200: a throttled query carries
//! `errors[].extensions.code = "THROTTLED"`, an input it refuses carries `userErrors`
//! (`TAKEN` on the code when a discount already uses it). HTTP 401 is a bad token,
//! 402 a frozen shop, 403 a missing `write_discounts` scope, 423 a locked shop, 429
//! too many requests, 5xx Shopify's own trouble.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Created, HttpClient, ShopApi, ShopApiError, retry_after, transport_error};
use crate::domain::storefront::codes::{Platform, StoreCode, StoreValue};

/// The Admin API version Rapport is written against.
pub const API_VERSION: &str = "2025-10";

/// The path of the Admin GraphQL endpoint under the shop's base URL.
pub fn graphql_path() -> String {
    format!("/admin/api/{API_VERSION}/graphql.json")
}

pub const MUTATION: &str = "mutation RapportCode($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}";

/// Free shipping is a discount class of its own.
pub const FREE_SHIPPING_MUTATION: &str =
    "mutation RapportFreeShipping($freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}";

/// The mutation for `code`, its variables, and the field its answer comes under.
pub fn request(code: &StoreCode) -> (&'static str, Value, &'static str) {
    match code.value {
        StoreValue::FreeShipping => (
            FREE_SHIPPING_MUTATION,
            free_shipping_variables(code),
            "discountCodeFreeShippingCreate",
        ),
        _ => (MUTATION, variables(code), "discountCodeBasicCreate"),
    }
}

/// Who may use the code: the Shopify customer it is for, or any buyer.
fn context(code: &StoreCode) -> Value {
    match code.shopify_customer {
        Some(id) => json!({"customers": {"add": [format!("gid://shopify/Customer/{id}")]}}),
        None => json!({"all": "ALL"}),
    }
}

fn minimum(code: &StoreCode) -> Option<Value> {
    code.min_order
        .as_ref()
        .map(|least| json!({"subtotal": {"greaterThanOrEqualToSubtotal": least}}))
}

/// `discountCodeFreeShippingCreate`'s variables: to every destination.
pub fn free_shipping_variables(code: &StoreCode) -> Value {
    json!({
        "freeShippingCodeDiscount": {
            "minimumRequirement": minimum(code),
            "title": code.title,
            "code": code.code,
            "startsAt": code.starts_at.to_rfc3339(),
            "endsAt": code.ends_at.map(|at| at.to_rfc3339()),
            "usageLimit": 1,
            "appliesOncePerCustomer": true,
            "context": context(code),
            "destination": {"all": true},
            "combinesWith": {
                "orderDiscounts": true,
                "productDiscounts": true,
                "shippingDiscounts": false
            }
        }
    })
}

pub struct ShopifyAdmin {
    client: HttpClient,
    url: String,
    token: String,
}

impl ShopifyAdmin {
    /// The Admin API of the shop at `base` (`https://tea-house.myshopify.com`).
    pub fn new(client: HttpClient, base: &str, token: &str) -> Self {
        Self {
            client,
            url: format!("{}{}", base.trim_end_matches('/'), graphql_path()),
            token: token.to_owned(),
        }
    }
}

/// The mutation's variables for `code`.
pub fn variables(code: &StoreCode) -> Value {
    let value = match &code.value {
        StoreValue::AmountOff { amount } => json!({
            "discountAmount": {"amount": amount, "appliesOnEachItem": false}
        }),
        StoreValue::PercentOff { percent } => json!({
            "percentage": f64::from(*percent) / 100.0
        }),
        // Not a basic discount: `request` sends the free-shipping mutation instead.
        StoreValue::FreeShipping => Value::Null,
    };
    let context = context(code);
    json!({
        "basicCodeDiscount": {
            "minimumRequirement": minimum(code),
            "title": code.title,
            "code": code.code,
            "startsAt": code.starts_at.to_rfc3339(),
            "endsAt": code.ends_at.map(|at| at.to_rfc3339()),
            "usageLimit": 1,
            "appliesOncePerCustomer": true,
            "context": context,
            "customerGets": {"value": value, "items": {"all": true}},
            "combinesWith": {
                "orderDiscounts": false,
                "productDiscounts": false,
                "shippingDiscounts": true
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct Answer {
    /// The mutation's payload under its field's name.
    data: Option<std::collections::HashMap<String, Option<Payload>>>,
    #[serde(default)]
    errors: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    code_discount_node: Option<Node>,
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Debug, Deserialize)]
struct Node {
    id: String,
}

#[derive(Debug, Deserialize)]
struct UserError {
    #[serde(default)]
    field: Option<Vec<String>>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What an answer of HTTP 200 to the mutation answering under `field` means.
fn read_answer(body: &[u8], field: &str) -> Result<Created, ShopApiError> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| ShopApiError::Unavailable(format!("shopify: unreadable answer: {e}")))?;
    if let Some(errors) = answer.errors.as_ref().and_then(Value::as_array) {
        let throttled = errors
            .iter()
            .any(|e| e["extensions"]["code"].as_str() == Some("THROTTLED"));
        if throttled {
            return Err(ShopApiError::Throttled { retry_after: None });
        }
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect();
        return Err(ShopApiError::Refused(format!(
            "shopify: {}",
            messages.join("; ")
        )));
    }
    let payload = answer
        .data
        .and_then(|mut d| d.remove(field).flatten())
        .ok_or_else(|| ShopApiError::Unavailable("shopify: an answer without data".into()))?;
    if payload.user_errors.is_empty() {
        let node = payload
            .code_discount_node
            .ok_or_else(|| ShopApiError::Unavailable("shopify: no discount and no error".into()))?;
        return Ok(Created {
            remote_id: Some(node.id),
            existed: false,
        });
    }
    let taken = payload.user_errors.iter().any(|e| {
        e.code.as_deref() == Some("TAKEN")
            && e.field.as_ref().and_then(|f| f.last()).map(String::as_str) == Some("code")
    });
    if taken {
        return Ok(Created {
            remote_id: None,
            existed: true,
        });
    }
    let messages: Vec<String> = payload
        .user_errors
        .iter()
        .map(|e| {
            format!(
                "{} {}: {}",
                e.field.as_ref().map(|f| f.join(".")).unwrap_or_default(),
                e.code.as_deref().unwrap_or("?"),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    Err(ShopApiError::Refused(format!(
        "shopify: {}",
        messages.join("; ")
    )))
}

#[async_trait]
impl ShopApi for ShopifyAdmin {
    fn platform(&self) -> Platform {
        Platform::Shopify
    }

    async fn create_code(&self, code: &StoreCode) -> Result<Created, ShopApiError> {
        let (query, variables, field) = request(code);
        let body = json!({"query": query, "variables": variables});
        let headers = [("X-Shopify-Access-Token", self.token.clone())];
        let reply = self
            .client
            .post_json(&self.url, &headers, &body)
            .await
            .map_err(|e| transport_error(Platform::Shopify, &e))?;
        let (status, wait, bytes) = (reply.status, retry_after(&reply.headers), reply.body);
        match status {
            200 => read_answer(&bytes, field),
            429 => Err(ShopApiError::Throttled { retry_after: wait }),
            401 => Err(ShopApiError::Refused(
                "shopify: the admin token is not valid (401)".into(),
            )),
            402 => Err(ShopApiError::Refused(
                "shopify: the shop is frozen (402)".into(),
            )),
            403 => Err(ShopApiError::Refused(
                "shopify: the token lacks the write_discounts scope (403)".into(),
            )),
            404 => Err(ShopApiError::Refused(
                "shopify: no such shop or API version (404)".into(),
            )),
            423 => Err(ShopApiError::Refused(
                "shopify: the shop is locked (423)".into(),
            )),
            s if s >= 500 => Err(ShopApiError::Unavailable(format!("shopify: HTTP {s}"))),
            s => Err(ShopApiError::Refused(format!("shopify: HTTP {s}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn code(customer: Option<u64>, value: StoreValue) -> StoreCode {
        StoreCode {
            code: "RP-K7QX2M9PZT".into(),
            title: "Rapport".into(),
            value,
            currency: Currency::parse("c", "USD").unwrap(),
            starts_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            ends_at: Some("2027-03-01T00:00:00Z".parse().unwrap()),
            shopify_customer: customer,
            email: None,
            min_order: Some("30.00".into()),
        }
    }

    #[test]
    fn the_input_is_one_use_for_the_customer_with_an_exact_amount() {
        let v = variables(&code(
            Some(7390),
            StoreValue::AmountOff {
                amount: "5.00".into(),
            },
        ));
        let input = &v["basicCodeDiscount"];
        assert_eq!(input["usageLimit"], 1);
        assert_eq!(input["code"], "RP-K7QX2M9PZT");
        assert_eq!(
            input["context"]["customers"]["add"][0],
            "gid://shopify/Customer/7390"
        );
        assert_eq!(
            input["customerGets"]["value"]["discountAmount"]["amount"],
            "5.00"
        );
        assert_eq!(input["endsAt"], "2027-03-01T00:00:00+00:00");
        assert_eq!(
            input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
            "30.00"
        );
        let any = variables(&code(None, StoreValue::PercentOff { percent: 15 }));
        assert_eq!(any["basicCodeDiscount"]["context"]["all"], "ALL");
        assert_eq!(
            any["basicCodeDiscount"]["customerGets"]["value"]["percentage"],
            0.15
        );
    }

    const FIELD: &str = "discountCodeBasicCreate";

    #[test]
    fn free_shipping_is_its_own_mutation_to_every_destination() {
        let (query, variables, field) = request(&code(None, StoreValue::FreeShipping));
        assert!(query.contains("discountCodeFreeShippingCreate(freeShippingCodeDiscount:"));
        assert_eq!(field, "discountCodeFreeShippingCreate");
        let input = &variables["freeShippingCodeDiscount"];
        assert_eq!(input["destination"]["all"], true);
        assert_eq!(input["usageLimit"], 1);
        assert!(input.get("customerGets").is_none());
        let answer = br#"{"data":{"discountCodeFreeShippingCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/9"},"userErrors":[]}}}"#;
        assert!(read_answer(answer, field).unwrap().remote_id.is_some());
    }

    #[test]
    fn answers_are_read_as_created_existing_throttled_or_refused() {
        let created = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1"},"userErrors":[]}}}"#;
        assert_eq!(
            read_answer(created, FIELD).unwrap().remote_id.as_deref(),
            Some("gid://shopify/DiscountCodeNode/1")
        );
        let taken = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"code":"TAKEN","message":"Code must be unique."}]}}}"#;
        assert!(read_answer(taken, FIELD).unwrap().existed);
        let throttled =
            br#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}"#;
        assert!(matches!(
            read_answer(throttled, FIELD),
            Err(ShopApiError::Throttled { .. })
        ));
        let invalid = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","endsAt"],"code":"INVALID","message":"Ends at must be after starts at"}]}}}"#;
        let Err(ShopApiError::Refused(why)) = read_answer(invalid, FIELD) else {
            panic!("refused");
        };
        assert!(why.contains("basicCodeDiscount.endsAt INVALID"), "{why}");
    }
}
