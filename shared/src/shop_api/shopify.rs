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
    };
    let context = match code.shopify_customer {
        Some(id) => json!({"customers": {"add": [format!("gid://shopify/Customer/{id}")]}}),
        None => json!({"all": "ALL"}),
    };
    let minimum = code
        .min_order
        .as_ref()
        .map(|least| json!({"subtotal": {"greaterThanOrEqualToSubtotal": least}}));
    json!({
        "basicCodeDiscount": {
            "minimumRequirement": minimum,
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
    data: Option<Data>,
    #[serde(default)]
    errors: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    discount_code_basic_create: Option<Payload>,
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

/// What an answer of HTTP 200 means.
fn read_answer(body: &[u8]) -> Result<Created, ShopApiError> {
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
        .and_then(|d| d.discount_code_basic_create)
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
        let body = json!({"query": MUTATION, "variables": variables(code)});
        let headers = [("X-Shopify-Access-Token", self.token.clone())];
        let reply = self
            .client
            .post_json(&self.url, &headers, &body)
            .await
            .map_err(|e| transport_error(Platform::Shopify, &e))?;
        let (status, wait, bytes) = (reply.status, retry_after(&reply.headers), reply.body);
        match status {
            200 => read_answer(&bytes),
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

    #[test]
    fn answers_are_read_as_created_existing_throttled_or_refused() {
        let created = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/1"},"userErrors":[]}}}"#;
        assert_eq!(
            read_answer(created).unwrap().remote_id.as_deref(),
            Some("gid://shopify/DiscountCodeNode/1")
        );
        let taken = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"code":"TAKEN","message":"Code must be unique."}]}}}"#;
        assert!(read_answer(taken).unwrap().existed);
        let throttled =
            br#"{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}"#;
        assert!(matches!(
            read_answer(throttled),
            Err(ShopApiError::Throttled { .. })
        ));
        let invalid = br#"{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","endsAt"],"code":"INVALID","message":"Ends at must be after starts at"}]}}}"#;
        let Err(ShopApiError::Refused(why)) = read_answer(invalid) else {
            panic!("refused");
        };
        assert!(why.contains("basicCodeDiscount.endsAt INVALID"), "{why}");
    }
}
