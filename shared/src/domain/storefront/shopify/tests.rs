use super::*;
use crate::domain::PurchaseKind;

const PAID: &[u8] = include_bytes!("../../../../../infra/events/shopify/orders-paid.json");
const GUEST: &[u8] = include_bytes!("../../../../../infra/events/shopify/orders-paid-guest.json");
const CANCELLED: &[u8] =
    include_bytes!("../../../../../infra/events/shopify/orders-cancelled.json");
const REFUND: &[u8] = include_bytes!("../../../../../infra/events/shopify/refunds-create.json");
const UPDATE: &[u8] = include_bytes!("../../../../../infra/events/shopify/customers-update.json");
const REDACT: &[u8] = include_bytes!("../../../../../infra/events/shopify/customers-redact.json");

fn usd() -> Currency {
    Currency::parse("c", "USD").unwrap()
}

fn guests() -> TombstoneKey {
    TombstoneKey::new(b"tombstones-0123456789")
}

fn lines(event: &PurchaseEvent) -> Vec<(String, u32, i64)> {
    event
        .items
        .iter()
        .map(|i| (i.sku.to_string(), i.quantity, i.unit_price_minor))
        .collect()
}

#[test]
fn a_paid_order_earns_on_its_goods_after_discounts_in_the_shops_money() {
    let event = paid_order(PAID, usd(), &guests()).unwrap();
    assert_eq!(event.event_id.as_str(), "shopify-order-5813092139123");
    assert_eq!(event.order_id.as_str(), "shopify-5813092139123");
    assert_eq!(event.customer_id.as_str(), "shopify-7390123456789");
    assert_eq!(event.kind, PurchaseKind::Purchase);
    // 3 × 12.50 − 3.74 and 20.00 − 2.00; shipping and tax left out; USD, not the EUR
    // the customer saw.
    assert_eq!(event.total.minor, 3376 + 1800);
    assert_eq!(
        lines(&event),
        [
            ("TEA-SENCHA-100G".to_owned(), 1, 1126),
            ("TEA-SENCHA-100G".to_owned(), 2, 1125),
            ("variant-44012345678902".to_owned(), 1, 1800),
        ]
    );
    assert_eq!(
        event.email.as_ref().map(Email::as_str),
        Some("asha.rao@example.com")
    );
    assert_eq!(
        event.locale.as_ref().map(|l| l.as_str().to_owned()),
        Some("en-IN".to_owned())
    );
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-28T15:12:40+00:00");
    assert_eq!(event.coupon_codes, ["WELCOME10"]);
}

#[test]
fn a_guest_is_one_stable_customer_per_address_that_does_not_show_it() {
    let first = paid_order(GUEST, usd(), &guests()).unwrap();
    let id = first.customer_id.as_str();
    assert!(
        id.starts_with("shopify-guest-") && id.len() == "shopify-guest-".len() + 24,
        "{id}"
    );
    assert!(!id.contains("guest.buyer") && !id.contains("example"));
    // The same address, however written, is the same guest.
    let other_case = String::from_utf8(GUEST.to_vec())
        .unwrap()
        .replace("Guest.Buyer@Example.com", "guest.buyer@example.com");
    let again = paid_order(other_case.as_bytes(), usd(), &guests()).unwrap();
    assert_eq!(again.customer_id, first.customer_id);
    let another = String::from_utf8(GUEST.to_vec())
        .unwrap()
        .replace("Guest.Buyer@Example.com", "someone.else@example.com");
    let another = paid_order(another.as_bytes(), usd(), &guests()).unwrap();
    assert_ne!(another.customer_id, first.customer_id);
    // A guest without an address cannot be told apart from any other: refused.
    let nameless = String::from_utf8(GUEST.to_vec())
        .unwrap()
        .replace("\"Guest.Buyer@Example.com\"", "null");
    assert_eq!(
        paid_order(nameless.as_bytes(), usd(), &guests())
            .unwrap_err()
            .field,
        "email"
    );
}

#[test]
fn money_in_another_currency_or_malformed_is_refused_naming_the_field() {
    let eur = Currency::parse("c", "EUR").unwrap();
    let e = paid_order(PAID, eur, &guests()).unwrap_err();
    assert_eq!(e.field, "line_items[0].price_set.shop_money.currency_code");
    let bad = String::from_utf8(PAID.to_vec()).unwrap().replacen(
        "\"12.50\", \"currency_code\": \"USD\"",
        "\"12.5O\", \"currency_code\": \"USD\"",
        1,
    );
    let e = paid_order(bad.as_bytes(), usd(), &guests()).unwrap_err();
    assert_eq!(e.field, "line_items[0].price_set.shop_money.amount");
    let e = paid_order(br#"{"id": "x"}"#, usd(), &guests()).unwrap_err();
    assert_eq!(e.field, "id");
    let e = paid_order(b"[]", usd(), &guests()).unwrap_err();
    assert_eq!(e.field, "body");
}

#[test]
fn the_yen_and_the_dinar_keep_their_own_minor_units() {
    let order = |currency: &str, price: &str| {
        serde_json::json!({
            "id": 1, "processed_at": "2026-11-28T10:12:40Z",
            "customer": {"id": 2},
            "line_items": [{"sku": "S", "quantity": 2,
                "price_set": {"shop_money": {"amount": price, "currency_code": currency}}}],
        })
        .to_string()
    };
    let jpy = Currency::parse("c", "JPY").unwrap();
    let kwd = Currency::parse("c", "KWD").unwrap();
    let event = paid_order(order("JPY", "1500").as_bytes(), jpy, &guests()).unwrap();
    assert_eq!(event.total.minor, 3000);
    let event = paid_order(order("KWD", "1.255").as_bytes(), kwd, &guests()).unwrap();
    assert_eq!(event.total.minor, 2510);
}

#[test]
fn refunds_take_back_the_refunded_goods_and_cancellations_what_is_left() {
    let customer = CustomerId::parse("c", "shopify-7390123456789").unwrap();
    assert_eq!(refunded_order(REFUND).unwrap(), 5813092139123);
    let refund = refund(REFUND, usd(), customer.clone()).unwrap().unwrap();
    assert_eq!(refund.event_id.as_str(), "shopify-refund-929361464123");
    assert_eq!(refund.order_id.as_str(), "shopify-5813092139123");
    assert_eq!(refund.kind, PurchaseKind::Refund);
    assert_eq!(
        refund.total.minor, 1125,
        "the line's subtotal, not the EUR transaction"
    );
    assert!(refund.up_to_refundable);

    // A refund of an amount alone: its successful refund transactions in the shop's money.
    let amount_only = serde_json::json!({
        "id": 7, "order_id": 5813092139123_u64, "created_at": "2026-11-29T08:30:11Z",
        "refund_line_items": [],
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "5.00", "currency": "USD"},
            {"kind": "refund", "status": "failure", "amount": "5.00", "currency": "USD"},
            {"kind": "sale", "status": "success", "amount": "9.00", "currency": "USD"},
        ],
    });
    let event = super::refund(amount_only.to_string().as_bytes(), usd(), customer.clone())
        .unwrap()
        .unwrap();
    assert_eq!(event.total.minor, 500);
    // Shipping alone: nothing for the goods.
    let shipping_only = serde_json::json!({
        "id": 8, "order_id": 5813092139123_u64, "created_at": "2026-11-29T08:30:11Z",
        "refund_line_items": [], "transactions": [],
    });
    assert!(
        super::refund(shipping_only.to_string().as_bytes(), usd(), customer)
            .unwrap()
            .is_none()
    );

    let cancel = cancelled_order(CANCELLED, usd(), &guests())
        .unwrap()
        .unwrap();
    assert_eq!(cancel.event_id.as_str(), "shopify-cancel-5813092139123");
    assert_eq!(cancel.total.minor, 5176);
    assert!(cancel.up_to_refundable);
    assert_eq!(cancel.occurred_at.to_rfc3339(), "2026-11-29T14:00:00+00:00");
}

#[test]
fn a_contact_update_creates_the_customer_and_a_newer_decision_wins() {
    let rules = crate::domain::loyalty::tests::rules();
    let update = contact(UPDATE).unwrap();
    assert_eq!(update.customer.as_str(), "shopify-7390123456789");
    let at = parse_time("t", "2026-11-30T18:02:13-05:00").unwrap();
    assert_eq!(update.marketing, Some((false, at)));
    let now = parse_time("t", "2026-12-01T00:00:00Z").unwrap();
    let (created, changed) = update.apply(None, &rules, now);
    assert!(changed);
    assert_eq!(
        created.email.as_ref().map(Email::as_str),
        Some("asha.rao@example.com")
    );
    assert!(!created.marketing_allowed());
    // The same update again changes nothing.
    let (_, changed) = update.apply(Some(created.clone()), &rules, now);
    assert!(!changed);
    // An older "subscribed" does not undo a later unsubscribe.
    let older = ContactUpdate {
        marketing: Some((true, at - chrono::Duration::days(1))),
        ..update.clone()
    };
    let (kept, changed) = older.apply(Some(created.clone()), &rules, now);
    assert!(!changed && !kept.marketing_allowed());
    let newer = ContactUpdate {
        marketing: Some((true, at + chrono::Duration::days(1))),
        ..update
    };
    let (resubscribed, changed) = newer.apply(Some(created), &rules, now);
    assert!(changed && resubscribed.marketing_allowed());
}

#[test]
fn a_redact_names_the_customer_or_the_guest() {
    assert_eq!(
        redacted_customer(REDACT, &guests()).unwrap().as_str(),
        "shopify-7390123456789"
    );
    let guest = br#"{"shop_id": 1, "customer": {"id": null, "email": "Guest.Buyer@Example.com"}}"#;
    let from_order = paid_order(GUEST, usd(), &guests()).unwrap();
    assert_eq!(
        redacted_customer(guest, &guests()).unwrap(),
        from_order.customer_id
    );
}

#[test]
fn topics_are_named_as_shopify_names_them() {
    assert_eq!(Topic::parse("orders/paid"), Topic::OrdersPaid);
    assert_eq!(Topic::parse("refunds/create"), Topic::RefundsCreate);
    assert_eq!(
        Topic::parse("customers/data_request"),
        Topic::CustomersDataRequest
    );
    assert_eq!(
        Topic::parse("products/update"),
        Topic::Other("products/update".into())
    );
}
