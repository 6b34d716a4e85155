//! The scan phase: every customer and the suppression list, read with one task per
//! scan segment.

use std::collections::HashSet;

use rapport_shared::store::{ScanRead, ScannedCustomer, ScoreStore, StoreError};

/// Everything the scan read.
#[derive(Debug, Default)]
pub struct Scanned {
    pub customers: Vec<ScannedCustomer>,
    /// Address keys of suppressed addresses.
    pub suppressed: HashSet<String>,
    /// What the scan read.
    pub read: ScanRead,
}

/// Reads the customers of scan segment `segment` of `segments` but the erased, and the
/// suppressed addresses met there.
pub async fn scan_segment<S: ScoreStore>(
    store: &S,
    segment: u32,
    segments: u32,
) -> Result<Scanned, StoreError> {
    let mut out = Scanned::default();
    let mut cursor = None;
    loop {
        let page = store.scan_customers(segment, segments, cursor).await?;
        // An erased customer is neither scored nor mailed: their records stay for
        // accounting only.
        out.customers.extend(
            page.customers
                .into_iter()
                .filter(|c| !c.profile.is_erased()),
        );
        out.suppressed.extend(page.suppressed);
        out.read += page.read;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Reads every customer but the erased, and the suppression list, with one task per
/// scan segment.
pub async fn scan_all<S: ScoreStore + Clone + 'static>(
    store: &S,
    segments: u32,
) -> Result<Scanned, StoreError> {
    let tasks = (0..segments).map(|segment| {
        let store = store.clone();
        tokio::spawn(async move { scan_segment(&store, segment, segments).await })
    });
    let mut all = Scanned::default();
    for task in futures::future::join_all(tasks).await {
        let part = task.map_err(|e| StoreError::Internal(format!("scan task: {e}")))??;
        all.customers.extend(part.customers);
        all.suppressed.extend(part.suppressed);
        all.read += part.read;
    }
    Ok(all)
}
