//! A run's intermediate results and reports, stored by key: what one phase of a job run
//! leaves for the next (each segment's summary, the fitted models, each segment's
//! outcome) and the report the merchant reads. S3 in a deployment
//!; memory for a run in one process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::StoreError;
use crate::domain::RunId;

/// What a run's report is made of, each an object under `reports/<run id>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFile {
    /// The run summary, JSON.
    Summary,
    /// The report the merchant reads, HTML.
    Html,
    /// A note that the merchant was mailed the link, so a retried step mails once.
    Mailed,
}

impl ReportFile {
    pub fn name(self) -> &'static str {
        match self {
            ReportFile::Summary => "summary.json",
            ReportFile::Html => "report.html",
            ReportFile::Mailed => "mailed.json",
        }
    }

    /// The key of this part of `run`'s report.
    pub fn key(self, run: &RunId) -> String {
        format!("reports/{run}/{}", self.name())
    }
}

/// Objects by key; a put replaces what was there, so writing a phase's result again
/// (a retried phase) changes nothing.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError>;

    /// The object at `key`; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The reports the job stored, read by run: what the report function may do, and no
/// more (it writes nothing, and reads nothing of a run's intermediate results).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// `file` of run `run`'s report; `None` when there is none.
    async fn report_file(
        &self,
        run: &RunId,
        file: ReportFile,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Objects kept in the process, for a run that does every phase itself.
#[derive(Debug, Clone, Default)]
pub struct MemoryArtifacts {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemoryArtifacts {
    /// The keys stored so far, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock leaves a whole map behind: keep using it.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ArtifactStore for MemoryArtifacts {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        self.lock().insert(key.to_owned(), body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }
}

#[async_trait]
impl ReportStore for MemoryArtifacts {
    async fn report_file(
        &self,
        run: &RunId,
        file: ReportFile,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(&file.key(run)).await
    }
}

#[async_trait]
impl<T: ReportStore + ?Sized> ReportStore for Arc<T> {
    async fn report_file(
        &self,
        run: &RunId,
        file: ReportFile,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).report_file(run, file).await
    }
}

#[async_trait]
impl<T: ArtifactStore + ?Sized> ArtifactStore for Arc<T> {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        (**self).put(key, body, content_type).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key).await
    }
}
