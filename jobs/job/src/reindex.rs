//! `rapport-job index-customers`: gives the items written before the customer index
//! existed — live profiles, job state, suppressed addresses — the index's keys, so the
//! job's scan, which reads only the index, sees them. Run once after deploying the
//! version that added the index; it can be stopped and run again at any time, and a
//! run over an indexed table changes nothing.

use anyhow::Context;
use rapport_shared::access::{Grants, Port, Wiring, port};
use rapport_shared::bootstrap;
use rapport_shared::store::{CustomerIndexStore, DynamoStore, IndexTally, StoreError};

/// What `rapport-job index-customers` is wired with: the re-indexing alone. It runs
/// from a shell, with the caller's credentials, never as the job's function.
#[derive(Debug)]
pub enum Reindexing {}

impl Wiring for Reindexing {
    const PORTS: &'static [Port] = &[Port::CustomerIndexStore];
}

impl Grants<port::CustomerIndexStore> for Reindexing {}

/// Re-indexes the whole table with one task per scan segment; what was found and done.
pub async fn index_all<S: CustomerIndexStore + Clone + 'static>(
    store: &S,
    segments: u32,
) -> Result<IndexTally, StoreError> {
    let segments = segments.max(1);
    let tasks = (0..segments).map(|segment| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tally = IndexTally::default();
            let mut cursor = None;
            loop {
                let page = store.index_customers(segment, segments, cursor).await?;
                tally += page.tally;
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            tracing::info!(segment, ?tally, "segment re-indexed");
            Ok::<_, StoreError>(tally)
        })
    });
    let mut all = IndexTally::default();
    for task in futures::future::join_all(tasks).await {
        all += task.map_err(|e| StoreError::Internal(format!("re-indexing task: {e}")))??;
    }
    Ok(all)
}

/// [`index_all`] over the table the environment names (`RAPPORT_TABLE`, endpoints
/// from `AWS_ENDPOINT_URL_*`), with the caller's credentials: the job's function is not
/// granted it, since its own scan reads the index only.
pub async fn index_from_env(segments: u32) -> anyhow::Result<IndexTally> {
    let config = rapport_shared::Config::from_env().context("reading configuration")?;
    let sdk = bootstrap::aws_config().await;
    let store = DynamoStore::new(bootstrap::background_dynamodb_client(&sdk), &config.table)
        .wired::<Reindexing>();
    index_all(&store, segments)
        .await
        .with_context(|| format!("re-indexing table {}", config.table))
}
