//! Coupons as a checkout sees them: read by code, marked used by the one order that
//! uses them (a conditional update, so two orders racing for one code cannot both
//! have it), and the latest refused use recorded beside.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{Item, key, parse, to_attr};
use super::keys::{self, expr};
use super::{DynamoStore, classify};
use crate::access::{Grants, port};
use crate::domain::storefront::codes::{Platform, StoreSync};
use crate::domain::{Coupon, CouponRefusal, CouponUse, CustomerId, Email};
use crate::store::{
    CodeRepairStore, CodeSyncStore, CommitError, CouponStore, CouponUseStore, ScanCursor,
    StoreError,
};

fn coupon_key(code: &str) -> Item {
    key(keys::coupon_pk(code), keys::COUPON)
}

#[async_trait]
impl<W: Grants<port::CouponStore>> CouponStore for DynamoStore<W> {
    async fn coupon(&self, code: &str) -> Result<Option<Coupon>, StoreError> {
        let Some(found) = self.get(coupon_key(code), true).await? else {
            return Ok(None);
        };
        let mut coupon: Coupon = parse(found)?;
        // Claims written before coupons carried their terms hold no code of their own.
        code.clone_into(&mut coupon.code);
        Ok(Some(coupon))
    }
}

#[async_trait]
impl<W> CouponUseStore for DynamoStore<W>
where
    W: Grants<port::CouponUseStore> + Grants<port::CouponStore>,
{
    async fn use_coupon(&self, code: &str, used: &CouponUse) -> Result<(), CommitError> {
        let condition = format!(
            "{} AND (attribute_not_exists(used) OR attribute_type(used, :null))",
            expr::PRESENT
        );
        let values = [
            (":used", to_attr(used)?),
            (":null", AttributeValue::S("NULL".into())),
        ];
        match self
            .set_if(code, "SET used = :used", &condition, values)
            .await?
        {
            true => Ok(()),
            false => Err(CommitError::Conflict),
        }
    }

    async fn refuse_coupon(&self, code: &str, refusal: &CouponRefusal) -> Result<(), StoreError> {
        // A code that is not there has nothing to record a refusal on.
        let values = [(":refused", to_attr(refusal)?)];
        self.set_if(code, "SET refused = :refused", expr::PRESENT, values)
            .await
            .map(drop)
    }
}

#[async_trait]
impl<W> CodeSyncStore for DynamoStore<W>
where
    W: Grants<port::CodeSyncStore> + Grants<port::CouponStore>,
{
    async fn holder_email(&self, customer: &CustomerId) -> Result<Option<Email>, StoreError> {
        // The address alone: a profile carries the customer's whole history summary.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::customer_pk(customer), keys::PROFILE)))
            .projection_expression("email")
            .send()
            .await
            .map_err(classify)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct Contact {
            #[serde(default)]
            email: Option<Email>,
        }
        let contact: Contact = parse(item)?;
        Ok(contact.email)
    }

    async fn mark_synced(
        &self,
        code: &str,
        platform: Platform,
        sync: &StoreSync,
    ) -> Result<(), StoreError> {
        let attribute = platform.sync_attribute();
        let update = format!("SET {attribute} = :sync");
        let condition = format!("{} AND attribute_not_exists({attribute})", expr::PRESENT);
        // `false`: confirmed before (a redelivery), or erased meanwhile; either way
        // nothing is left to record.
        self.set_if(code, &update, &condition, [(":sync", to_attr(sync)?)])
            .await
            .map(drop)
    }
}

#[async_trait]
impl<W: Grants<port::CodeRepairStore>> CodeRepairStore for DynamoStore<W> {
    async fn unconfirmed_codes(
        &self,
        platforms: &[Platform],
        after: Option<&ScanCursor>,
    ) -> Result<(Vec<String>, Option<ScanCursor>), StoreError> {
        let start = after
            .map(|cursor| {
                let (pk, sk): (String, String) = serde_json::from_str(cursor.as_token())
                    .map_err(|_| StoreError::Internal("not a cursor of this scan".into()))?;
                Ok::<_, StoreError>(key(pk, &sk))
            })
            .transpose()?;
        let missing: Vec<String> = platforms
            .iter()
            .map(|p| format!("attribute_not_exists({})", p.sync_attribute()))
            .collect();
        let filter = match missing.is_empty() {
            true => "begins_with(PK, :coupon) AND SK = :sk".to_owned(),
            false => format!(
                "begins_with(PK, :coupon) AND SK = :sk AND ({})",
                missing.join(" OR ")
            ),
        };
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(filter)
            .projection_expression("PK")
            .expression_attribute_values(":coupon", AttributeValue::S(keys::prefix::COUPON.into()))
            .expression_attribute_values(":sk", AttributeValue::S(keys::COUPON.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let codes = out
            .items()
            .iter()
            .filter_map(|item| match item.get(keys::PK) {
                Some(AttributeValue::S(pk)) => {
                    pk.strip_prefix(keys::prefix::COUPON).map(str::to_owned)
                }
                _ => None,
            })
            .collect();
        let next = out
            .last_evaluated_key()
            .map(|last| {
                let text = |name: &str| match last.get(name) {
                    Some(AttributeValue::S(s)) => Ok(s.clone()),
                    _ => Err(StoreError::Internal(
                        "a scan key without its string keys".into(),
                    )),
                };
                let token = serde_json::to_string(&(text(keys::PK)?, text(keys::SK)?))
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok::<_, StoreError>(ScanCursor::from_token(token))
            })
            .transpose()?;
        Ok((codes, next))
    }
}

impl<W> DynamoStore<W> {
    /// One conditional `UpdateItem` of the coupon `code`; `false` when the condition
    /// failed.
    async fn set_if<const N: usize>(
        &self,
        code: &str,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); N],
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(coupon_key(code)))
            .update_expression(update)
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(e)),
        }
    }
}
