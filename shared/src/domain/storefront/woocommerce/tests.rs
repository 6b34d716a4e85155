use super::*;
use crate::domain::PurchaseKind;

fn sample(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../infra/events/woocommerce/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn usd() -> Currency {
    Currency::parse("c", "USD").unwrap()
}

fn guests() -> TombstoneKey {
    TombstoneKey::new(b"tombstones-0123456789")
}

#[test]
fn a_processing_order_is_a_purchase_of_its_lines_after_discounts() {
    let events = order_events(&sample("order-processing"), usd(), &guests()).unwrap();
    let purchase = events.purchase.unwrap();
    assert_eq!(purchase.event_id.as_str(), "woo-order-1187");
    assert_eq!(purchase.order_id.as_str(), "woo-1187");
    assert_eq!(purchase.customer_id.as_str(), "woo-58");
    assert_eq!(purchase.total.minor, 1600 + 2000, "no tax, no shipping");
    let lines: Vec<_> = purchase
        .items
        .iter()
        .map(|i| (i.sku.to_string(), i.quantity, i.unit_price_minor))
        .collect();
    assert_eq!(
        lines,
        [
            ("WHISK-80".to_owned(), 1, 1600),
            ("variation-318".to_owned(), 2, 667),
            ("variation-318".to_owned(), 1, 666),
        ]
    );
    assert_eq!(
        purchase.occurred_at.to_rfc3339(),
        "2026-11-28T21:20:09+00:00"
    );
    assert_eq!(purchase.email.unwrap().as_str(), "mei.tanaka@example.com");
    assert_eq!(purchase.coupon_codes, ["LEAFY4"]);
    assert!(events.refunds.is_empty() && events.cancellation.is_none());
}

#[test]
fn an_unpaid_order_records_nothing_and_refunds_and_cancellations_follow_the_order() {
    let pending = order_events(&sample("order-pending"), usd(), &guests()).unwrap();
    assert_eq!(pending, OrderEvents::default());

    let refunded = order_events(&sample("order-refunded"), usd(), &guests()).unwrap();
    assert!(refunded.purchase.is_some(), "still the same payment");
    let [refund] = refunded.refunds.as_slice() else {
        panic!("one refund: {:?}", refunded.refunds)
    };
    assert_eq!(refund.event_id.as_str(), "woo-refund-1190");
    assert_eq!(refund.kind, PurchaseKind::Refund);
    assert_eq!(refund.total.minor, 1728);
    assert!(refund.up_to_refundable);

    let cancelled = order_events(&sample("order-cancelled"), usd(), &guests()).unwrap();
    assert!(
        cancelled.purchase.is_none(),
        "a cancelled order is no payment"
    );
    let cancellation = cancelled.cancellation.unwrap();
    assert_eq!(cancellation.event_id.as_str(), "woo-cancel-1187");
    assert_eq!(cancellation.total.minor, 3600);
    assert_eq!(cancelled.refunds.len(), 1);
}

#[test]
fn a_guest_is_found_by_billing_address_and_money_elsewhere_is_refused() {
    let guest = order_events(&sample("order-guest"), usd(), &guests()).unwrap();
    let id = guest.purchase.unwrap().customer_id;
    assert!(id.as_str().starts_with("woo-guest-"), "{id}");
    assert!(!id.as_str().contains("walk"));
    let eur = Currency::parse("c", "EUR").unwrap();
    let e = order_events(&sample("order-processing"), eur, &guests()).unwrap_err();
    assert_eq!(e.field, "currency");
    let bad = String::from_utf8(sample("order-processing"))
        .unwrap()
        .replace("\"total\": \"16.00\"", "\"total\": \"16,00\"");
    let e = order_events(bad.as_bytes(), usd(), &guests()).unwrap_err();
    assert_eq!(e.field, "line_items[0].total");
}

#[test]
fn customers_pings_and_topics() {
    let update = contact(&sample("customer-created")).unwrap();
    assert_eq!(update.customer.as_str(), "woo-61");
    assert_eq!(update.email.unwrap().as_str(), "omar.haddad@example.com");
    assert_eq!(update.marketing, None);
    assert!(is_ping(b"webhook_id=17"));
    assert!(!is_ping(b"webhook_id="));
    assert!(!is_ping(b"webhook_id=17&x=1"));
    assert!(!is_ping(b"{}"));
    assert_eq!(Topic::parse("order.updated"), Topic::Order);
    assert_eq!(Topic::parse("customer.created"), Topic::Customer);
    assert_eq!(
        Topic::parse("product.updated"),
        Topic::Other("product.updated".into())
    );
}
