//! The program document: the latest version under `CURRENT`, every version under
//! `VERSION#<n>`, both written in one transaction whose condition is the version the
//! writer read — two merchants saving at once cannot both win.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put};

use super::items::{item, key, parse};
use super::keys;
use super::transaction::{Role, Transaction};
use super::{DynamoStore, classify};
use crate::access::{Grants, port};
use crate::domain::program::ProgramVersion;
use crate::domain::stats::ProgramStats;
use crate::store::{CommitError, ProgramReadStore, ProgramStatsStore, ProgramStore, StoreError};

#[async_trait]
impl<W: Grants<port::ProgramReadStore>> ProgramReadStore for DynamoStore<W> {
    async fn current_program(&self) -> Result<Option<ProgramVersion>, StoreError> {
        let found = self
            .get(key(keys::program_pk(), keys::PROGRAM_CURRENT), true)
            .await?;
        found.map(parse).transpose()
    }
}

#[async_trait]
impl<W> ProgramStore for DynamoStore<W>
where
    W: Grants<port::ProgramStore> + Grants<port::ProgramReadStore>,
{
    async fn program_version(&self, version: u64) -> Result<Option<ProgramVersion>, StoreError> {
        let found = self
            .get(
                key(keys::program_pk(), keys::program_version_sk(version)),
                true,
            )
            .await?;
        found.map(parse).transpose()
    }

    async fn program_history(&self, limit: usize) -> Result<Vec<ProgramVersion>, StoreError> {
        let limit = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :version)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::program_pk()))
            .expression_attribute_values(
                ":version",
                AttributeValue::S(keys::prefix::VERSION.into()),
            )
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(parse)
            .collect()
    }

    async fn save_program(&self, next: &ProgramVersion) -> Result<(), CommitError> {
        let previous = next.version.saturating_sub(1);
        let kept = item(
            keys::program_pk(),
            keys::program_version_sk(next.version),
            next,
        )?;
        let latest = item(keys::program_pk(), keys::PROGRAM_CURRENT, next)?;
        let condition = match previous {
            0 => Put::builder().condition_expression("attribute_not_exists(PK)"),
            _ => Put::builder()
                .condition_expression("version = :previous")
                .expression_attribute_values(":previous", AttributeValue::N(previous.to_string())),
        };
        let latest = condition
            .table_name(self.table())
            .set_item(Some(latest))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Transaction::new(self)
            .insert(kept)?
            .push(Role::Check, latest)
            .commit()
            .await
    }
}

#[async_trait]
impl<W: Grants<port::ProgramStatsStore>> ProgramStatsStore for DynamoStore<W> {
    async fn program_stats(&self) -> Result<Option<ProgramStats>, StoreError> {
        let found = self
            .get(key(keys::program_pk(), keys::PROGRAM_STATS), true)
            .await?;
        found.map(parse).transpose()
    }

    async fn save_program_stats(&self, stats: &ProgramStats) -> Result<(), StoreError> {
        let item = item(keys::program_pk(), keys::PROGRAM_STATS, stats)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
