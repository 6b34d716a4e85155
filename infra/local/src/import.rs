//! `rapport-import`'s inputs: a shop's past orders in the formats shops have them —
//! Shopify's orders CSV export, the pages WooCommerce's REST API returns for
//! `GET /wp-json/wc/v3/orders`, and Rapport's own CSV — read into purchase and refund
//! events grouped by customer, each bad row reported with its line and reason.
//!
//! Shopify's export has no customer ids: customers are found by address, as guest
//! checkouts are (`shopify-guest-<h>`, see `domain::storefront`); orders keep their
//! Shopify ids (`shopify-<Id>`, event `shopify-order-<Id>`), so a webhook that later
//! brings an imported order again is its duplicate. What earns is the order's
//! `Subtotal` (the goods after discounts), spread over its lines; a `Refunded Amount`
//! is a refund of at most the goods.

use anyhow::{Context, Result, bail};
use chrono::DateTime;
use rapport_shared::domain::ProductName;
use rapport_shared::domain::storefront::{guest_id, woocommerce};
use rapport_shared::domain::{
    Currency, CustomerId, FieldError, LineItemInput, Money, PurchaseEvent, PurchaseInput,
    TombstoneKey,
};
use rapport_shared::service::import::CustomerEvents;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The formats `rapport-import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Shopify admin → Orders → Export (CSV for Excel, Numbers, or other programs).
    ShopifyCsv,
    /// JSON files, each a page of `GET /wp-json/wc/v3/orders` (an array of orders).
    WoocommerceJson,
    /// One row per line item: event_id, kind, customer_id, order_id, occurred_at,
    /// currency, total_minor, sku, quantity, unit_price_minor, email.
    RapportCsv,
}

/// A row or record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// `file:line` (CSV) or `file:[index]` (JSON).
    pub at: String,
    pub reason: String,
}

/// What the files hold.
#[derive(Debug, Default)]
pub struct Read {
    pub customers: Vec<CustomerEvents>,
    pub bad: Vec<BadRow>,
    /// Orders not paid (pending, voided…): nothing to import.
    pub unpaid: usize,
    /// Where each event was read (`file:line`), by event id, to report a rejection.
    pub origins: BTreeMap<String, String>,
}

/// Events as read, each with where it was read.
type Located = Vec<(PurchaseEvent, String)>;

/// Reads `files` in `format` into events by customer.
pub fn read(
    format: Format,
    files: &[impl AsRef<Path>],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<Read> {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    let mut unpaid = 0;
    for file in files {
        let file = file.as_ref();
        let name = file.display().to_string();
        let text = std::fs::read(file).with_context(|| format!("reading {name}"))?;
        match format {
            Format::ShopifyCsv => shopify_csv(
                &name,
                &text,
                shop,
                guests,
                &mut events,
                &mut bad,
                &mut unpaid,
            )?,
            Format::WoocommerceJson => {
                woocommerce_json(&name, &text, shop, guests, &mut events, &mut bad)?
            }
            Format::RapportCsv => rapport_csv(&name, &text, &mut events, &mut bad)?,
        }
    }
    let mut by_customer: BTreeMap<CustomerId, Vec<PurchaseEvent>> = BTreeMap::new();
    let mut origins = BTreeMap::new();
    for (event, at) in events {
        origins.insert(event.event_id.to_string(), at);
        by_customer
            .entry(event.customer_id.clone())
            .or_default()
            .push(event);
    }
    Ok(Read {
        customers: by_customer
            .into_iter()
            .map(|(customer, events)| CustomerEvents { customer, events })
            .collect(),
        bad,
        unpaid,
        origins,
    })
}

fn bad_row(bad: &mut Vec<BadRow>, at: String, e: FieldError) {
    bad.push(BadRow {
        at,
        reason: format!("{}: {}", e.field, e.reason),
    });
}

/// A CSV's rows with their line numbers, by header name.
struct Rows {
    headers: BTreeMap<String, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Rows {
    fn read(name: &str, text: &[u8]) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
        let headers = reader
            .headers()
            .with_context(|| format!("{name}: the header row"))?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_owned(), i))
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("{name}: not CSV"))?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Self { headers, rows })
    }

    fn require(&self, name: &str, columns: &[&str]) -> Result<()> {
        let missing: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !self.headers.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            bail!("{name}: no column {}", missing.join(", "));
        }
        Ok(())
    }

    fn get<'r>(&self, row: &'r csv::StringRecord, column: &str) -> &'r str {
        self.headers
            .get(column)
            .and_then(|i| row.get(*i))
            .map_or("", str::trim)
    }
}

const SHOPIFY_COLUMNS: &[&str] = &[
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Currency",
    "Subtotal",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
];

/// Shopify's time format in exports: `2026-11-28 10:12:40 -0500`.
fn shopify_time(field: &str, raw: &str) -> Result<String, FieldError> {
    DateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S %z")
        .map(|t| t.to_rfc3339())
        .map_err(|_| FieldError::new(field, "must be a time such as 2026-11-28 10:12:40 -0500"))
}

#[allow(clippy::too_many_arguments)]
fn shopify_csv(
    name: &str,
    text: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
    events: &mut Located,
    bad: &mut Vec<BadRow>,
    unpaid: &mut usize,
) -> Result<()> {
    let rows = Rows::read(name, text)?;
    rows.require(name, SHOPIFY_COLUMNS)?;
    // An order is its rows with the same Name, the first carrying the order's fields.
    let mut orders: Vec<Vec<&(u64, csv::StringRecord)>> = Vec::new();
    for row in &rows.rows {
        let same = orders
            .last()
            .and_then(|o| o.first())
            .is_some_and(|first| rows.get(&first.1, "Name") == rows.get(&row.1, "Name"));
        match (same, orders.last_mut()) {
            (true, Some(order)) => order.push(row),
            _ => orders.push(vec![row]),
        }
    }
    for order in orders {
        let Some((line, first)) = order.first().map(|r| (r.0, &r.1)) else {
            continue;
        };
        let status = rows.get(first, "Financial Status");
        if !matches!(status, "paid" | "partially_refunded" | "refunded") {
            *unpaid += 1;
            continue;
        }
        match shopify_order(&rows, &order, shop, guests) {
            Ok(read) => events.extend(read.into_iter().map(|e| (e, format!("{name}:{line}")))),
            Err(e) => bad_row(bad, format!("{name}:{line}"), e),
        }
    }
    Ok(())
}

fn shopify_order(
    rows: &Rows,
    order: &[&(u64, csv::StringRecord)],
    shop: Currency,
    guests: &TombstoneKey,
) -> Result<Vec<PurchaseEvent>, FieldError> {
    let first = &order[0].1;
    let field = |column: &str| rows.get(first, column);
    if field("Currency") != shop.code() {
        return Err(FieldError::new(
            "Currency",
            format!(
                "is {:?}, but this shop accounts in {shop}",
                field("Currency")
            ),
        ));
    }
    let id = match field("Id") {
        "" => field("Name").trim_start_matches('#').to_owned(),
        id => id.to_owned(),
    };
    let customer = guest_id("shopify", Some(field("Email")), guests)?;
    let paid_at = match field("Paid at") {
        "" => shopify_time("Created at", field("Created at"))?,
        raw => shopify_time("Paid at", raw)?,
    };
    let subtotal = Money::parse_decimal("Subtotal", field("Subtotal"), shop)?.minor;
    let mut lines = Vec::new();
    for (_, row) in order {
        let quantity: i64 = rows
            .get(row, "Lineitem quantity")
            .parse()
            .map_err(|_| FieldError::new("Lineitem quantity", "must be a whole number"))?;
        let price = Money::parse_decimal("Lineitem price", rows.get(row, "Lineitem price"), shop)?;
        let sku = match rows.get(row, "Lineitem sku") {
            "" => {
                let digest = Sha256::digest(rows.get(row, "Lineitem name").as_bytes());
                format!("item-{}", &hex::encode(digest)[..12])
            }
            sku => sku.to_owned(),
        };
        if quantity > 0 {
            let name = ProductName::lenient(Some(rows.get(row, "Lineitem name")));
            lines.push((sku, quantity, price.minor * quantity, name));
        }
    }
    let gross: i64 = lines.iter().map(|l| l.2).sum();
    if lines.is_empty() || gross == 0 {
        return Err(FieldError::new("Lineitem quantity", "no line with a price"));
    }
    // The subtotal spread over the lines by their share, the rounding on the last.
    let mut nets: Vec<i64> = lines
        .iter()
        .map(|l| (i128::from(l.2) * i128::from(subtotal) / i128::from(gross)) as i64)
        .collect();
    let spread: i64 = nets.iter().sum();
    if let Some(last) = nets.last_mut() {
        *last += subtotal - spread;
    }
    let goods: Vec<_> = lines
        .iter()
        .zip(nets)
        .map(
            |((sku, quantity, _, name), net)| rapport_shared::domain::storefront::GoodsLine {
                sku: sku.clone(),
                quantity: *quantity,
                net,
                name: name.clone(),
            },
        )
        .collect();
    let (items, total) = rapport_shared::domain::storefront::line_items(&goods);
    let codes: Vec<String> = field("Discount Code")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let purchase = PurchaseInput {
        event_id: Some(format!("shopify-order-{id}")),
        kind: Some("purchase".into()),
        customer_id: Some(customer.to_string()),
        order_id: Some(format!("shopify-{id}")),
        occurred_at: Some(paid_at.clone()),
        currency: Some(shop.code().into()),
        total_minor: Some(total),
        items: Some(items),
        email: Some(field("Email").to_owned()),
        marketing_consent: match field("Accepts Marketing") {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        coupon_codes: Some(codes),
        ..Default::default()
    }
    .validate()?;
    let mut events = vec![purchase];
    let refunded = match field("Refunded Amount") {
        "" => 0,
        raw => Money::parse_decimal("Refunded Amount", raw, shop)?.minor,
    };
    if refunded > 0 {
        let at = match field("Cancelled at") {
            "" => paid_at,
            raw => shopify_time("Cancelled at", raw)?,
        };
        let refund = PurchaseInput {
            event_id: Some(format!("shopify-import-refund-{id}")),
            kind: Some("refund".into()),
            customer_id: Some(customer.to_string()),
            order_id: Some(format!("shopify-{id}")),
            occurred_at: Some(at),
            currency: Some(shop.code().into()),
            total_minor: Some(refunded),
            ..Default::default()
        }
        .validate()?
        .up_to_refundable();
        events.push(refund);
    }
    Ok(events)
}

fn woocommerce_json(
    name: &str,
    text: &[u8],
    shop: Currency,
    guests: &TombstoneKey,
    events: &mut Located,
    bad: &mut Vec<BadRow>,
) -> Result<()> {
    let page: Vec<serde_json::Value> = serde_json::from_slice(text)
        .with_context(|| format!("{name}: not a JSON array of orders"))?;
    for (n, order) in page.iter().enumerate() {
        let body = serde_json::to_vec(order)?;
        match woocommerce::order_events(&body, shop, guests) {
            Ok(read) => {
                let at = format!("{name}:[{n}]");
                let all = read
                    .purchase
                    .into_iter()
                    .chain(read.refunds)
                    .chain(read.cancellation);
                events.extend(all.map(|e| (e, at.clone())));
            }
            Err(e) => bad_row(bad, format!("{name}:[{n}]"), e),
        }
    }
    Ok(())
}

const RAPPORT_COLUMNS: &[&str] = &[
    "event_id",
    "kind",
    "customer_id",
    "order_id",
    "occurred_at",
    "currency",
    "total_minor",
    "sku",
    "quantity",
    "unit_price_minor",
    "email",
];

fn rapport_csv(name: &str, text: &[u8], events: &mut Located, bad: &mut Vec<BadRow>) -> Result<()> {
    let rows = Rows::read(name, text)?;
    rows.require(name, RAPPORT_COLUMNS)?;
    let mut current: Option<(u64, PurchaseInput)> = None;
    let number = |raw: &str, column: &str| -> Result<Option<i64>, FieldError> {
        match raw {
            "" => Ok(None),
            raw => raw
                .parse()
                .map(Some)
                .map_err(|_| FieldError::new(column, "must be a whole number")),
        }
    };
    let mut finish = |current: Option<(u64, PurchaseInput)>, bad: &mut Vec<BadRow>| {
        if let Some((line, input)) = current {
            match input.validate() {
                Ok(event) => events.push((event, format!("{name}:{line}"))),
                Err(e) => bad_row(bad, format!("{name}:{line}"), e),
            }
        }
    };
    for (line, row) in &rows.rows {
        let get = |column: &str| rows.get(row, column);
        let continues = current
            .as_ref()
            .is_some_and(|(_, input)| input.event_id.as_deref() == Some(get("event_id")));
        if !continues {
            finish(current.take(), bad);
            let total = match number(get("total_minor"), "total_minor") {
                Ok(total) => total,
                Err(e) => {
                    bad_row(bad, format!("{name}:{line}"), e);
                    continue;
                }
            };
            let optional = |column: &str| Some(get(column).to_owned()).filter(|v| !v.is_empty());
            current = Some((
                *line,
                PurchaseInput {
                    event_id: optional("event_id"),
                    kind: optional("kind"),
                    customer_id: optional("customer_id"),
                    order_id: optional("order_id"),
                    occurred_at: optional("occurred_at"),
                    currency: optional("currency"),
                    total_minor: total,
                    email: optional("email"),
                    ..Default::default()
                },
            ));
        }
        if get("sku").is_empty() {
            continue;
        }
        let line_item = (|| -> Result<LineItemInput, FieldError> {
            Ok(LineItemInput {
                sku: Some(get("sku").to_owned()),
                quantity: number(get("quantity"), "quantity")?,
                unit_price_minor: number(get("unit_price_minor"), "unit_price_minor")?,
                name: Some(get("name").to_owned()).filter(|n| !n.is_empty()),
            })
        })();
        match (line_item, current.as_mut()) {
            (Ok(item), Some((_, input))) => input.items.get_or_insert_with(Vec::new).push(item),
            (Err(e), _) => bad_row(bad, format!("{name}:{line}"), e),
            (Ok(_), None) => {}
        }
    }
    finish(current.take(), bad);
    Ok(())
}

#[cfg(test)]
mod tests;
