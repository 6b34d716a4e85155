use super::*;

fn usd() -> Currency {
    Currency::parse("c", "USD").unwrap()
}

fn guests() -> TombstoneKey {
    TombstoneKey::new(b"import-tests-tombstones")
}

fn file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn rapport_csv_groups_an_events_rows_and_names_bad_lines() {
    let path = file(
        "orders.csv",
        "\
event_id,kind,customer_id,order_id,occurred_at,currency,total_minor,sku,quantity,unit_price_minor,email
e-1,purchase,kim,o-1,2026-10-01T10:00:00Z,USD,2500,TEA,2,1000,kim@example.com
e-1,purchase,kim,o-1,2026-10-01T10:00:00Z,USD,2500,CUP,1,500,kim@example.com
e-2,refund,kim,o-1,2026-10-03T10:00:00Z,USD,500,,,,
e-3,purchase,lee,o-3,2026-10-04T10:00:00Z,USD,ten,TEA,1,1000,
e-4,purchase,lee,o-4,2026-10-05T10:00:00Z,USD,900,TEA,1,1000,
",
    );
    let read = read(Format::RapportCsv, &[&path], usd(), &guests()).unwrap();
    let kim = read
        .customers
        .iter()
        .find(|c| c.customer.as_str() == "kim")
        .unwrap();
    assert_eq!(kim.events.len(), 2, "two rows of one event, and a refund");
    assert_eq!(kim.events[0].items.len(), 2);
    assert_eq!(kim.events[0].total.minor, 2500);
    let lines: Vec<(&str, &str)> = read
        .bad
        .iter()
        .map(|b| (b.at.rsplit(':').next().unwrap(), b.reason.as_str()))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, "5");
    assert!(lines[0].1.starts_with("total_minor"), "{lines:?}");
    assert_eq!(lines[1].0, "6");
    assert!(
        lines[1].1.starts_with("items"),
        "the lines do not add up: {lines:?}"
    );
    assert_eq!(read.origins["e-2"].rsplit(':').next(), Some("4"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn woocommerce_pages_are_read_order_by_order() {
    let sample = |name: &str| -> serde_json::Value {
        let path = format!(
            "{}/../events/woocommerce/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let mut euro = sample("order-guest");
    euro["currency"] = "EUR".into();
    let page = serde_json::Value::Array(vec![sample("order-refunded"), euro]);
    let path = file("page-1.json", &page.to_string());
    let read = read(Format::WoocommerceJson, &[&path], usd(), &guests()).unwrap();
    let mei = &read.customers[0];
    assert_eq!(mei.customer.as_str(), "woo-58");
    assert_eq!(mei.events.len(), 2, "the payment and its refund");
    assert_eq!(read.bad.len(), 1);
    assert!(read.bad[0].at.ends_with(":[1]"), "{:?}", read.bad);
    assert!(read.bad[0].reason.starts_with("currency"), "{:?}", read.bad);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_file_without_the_columns_says_which_are_missing() {
    let path = file("other.csv", "Name,Email\n#1,a@example.com\n");
    let error = read(Format::ShopifyCsv, &[&path], usd(), &guests()).unwrap_err();
    assert!(error.to_string().contains("Financial Status"), "{error}");
    let _ = std::fs::remove_file(path);
}
