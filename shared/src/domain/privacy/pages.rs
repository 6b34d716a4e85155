//! The export in pages: a customer's whole history may be longer than one response
//! can carry, so the export document is served in pages of a byte budget.

use chrono::{DateTime, Utc};

use super::{CustomerData, CustomerExport};
use crate::domain::{Currency, FieldError};

/// The lists of the export document, in the order its pages walk them.
const PAGED_LISTS: [&str; 6] = [
    "orders",
    "ledger",
    "redemptions",
    "reviews",
    "referrals_made",
    "messages",
];

/// Where the next page of an export starts: a list of [`PAGED_LISTS`] and an index in
/// it. Sent as `?cursor=<list>.<index>`, which clients treat as opaque.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCursor {
    list: usize,
    index: usize,
}

impl ExportCursor {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("cursor", "is not a cursor this export answered");
        let (list, index) = raw.split_once('.').ok_or_else(invalid)?;
        let list = list.parse::<usize>().map_err(|_| invalid())?;
        let index = index.parse::<usize>().map_err(|_| invalid())?;
        if list >= PAGED_LISTS.len() {
            return Err(invalid());
        }
        Ok(Self { list, index })
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.list, self.index)
    }
}

/// One page of `GET /v1/customers/{id}/export`: the whole document's shape, with the
/// single records on every page and the lists' next items, as many as fit in
/// `budget_bytes` (at least one, so every page moves on); `next_cursor` names where the
/// next page starts, `null` on the last. A long history thus stays under the response
/// limit of a Lambda function (6 MB) however long it grows.
pub fn export_page(
    data: &CustomerData,
    currency: Currency,
    now: DateTime<Utc>,
    cursor: Option<ExportCursor>,
    budget_bytes: usize,
) -> Result<serde_json::Value, ExportError> {
    use serde_json::Value;
    let Value::Object(mut document) =
        serde_json::to_value(CustomerExport::new(data, currency, now))?
    else {
        return Err(ExportError::Shape);
    };
    let mut lists: Vec<Vec<Value>> = PAGED_LISTS
        .iter()
        .map(|name| match document.remove(*name) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        })
        .collect();
    let start = cursor.unwrap_or_default();
    if start.index > lists[start.list].len() {
        return Err(ExportError::Cursor(FieldError::new(
            "cursor",
            "is not a cursor this export answered",
        )));
    }
    let mut used = serde_json::to_vec(&document)?.len();
    let mut page: Vec<Vec<Value>> = vec![Vec::new(); PAGED_LISTS.len()];
    let mut next = None;
    let mut taken = 0usize;
    'lists: for (list, items) in lists.iter_mut().enumerate().skip(start.list) {
        let from = if list == start.list { start.index } else { 0 };
        for (index, item) in items.iter_mut().enumerate().skip(from) {
            let size = serde_json::to_vec(item)?.len() + 1;
            if taken > 0 && used + size > budget_bytes {
                next = Some(ExportCursor { list, index });
                break 'lists;
            }
            used += size;
            taken += 1;
            page[list].push(item.take());
        }
    }
    for (name, items) in PAGED_LISTS.iter().zip(page) {
        document.insert((*name).to_owned(), Value::Array(items));
    }
    document.insert(
        "next_cursor".to_owned(),
        next.map_or(Value::Null, |c| Value::String(c.encode())),
    );
    Ok(Value::Object(document))
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Cursor(FieldError),
    #[error("serialising the export: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the export document is not an object")]
    Shape,
}
