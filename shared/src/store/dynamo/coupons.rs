//! Coupons as a checkout sees them: read by code, marked used by the one order that
//! uses them (a conditional update, so two orders racing for one code cannot both
//! have it), and the latest refused use recorded beside.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::items::{Item, key, parse, to_attr};
use super::keys::{self, expr};
use super::{DynamoStore, classify};
use crate::access::{Grants, port};
use crate::domain::{Coupon, CouponRefusal, CouponUse};
use crate::store::{CommitError, CouponStore, CouponUseStore, StoreError};

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
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(coupon_key(code)))
            .update_expression("SET used = :used")
            .condition_expression(format!(
                "{} AND (attribute_not_exists(used) OR attribute_type(used, :null))",
                expr::PRESENT
            ))
            .expression_attribute_values(":used", to_attr(used)?)
            .expression_attribute_values(
                ":null",
                aws_sdk_dynamodb::types::AttributeValue::S("NULL".into()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(CommitError::Conflict)
            }
            Err(e) => Err(CommitError::Store(classify(e))),
        }
    }

    async fn refuse_coupon(&self, code: &str, refusal: &CouponRefusal) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(coupon_key(code)))
            .update_expression("SET refused = :refused")
            .condition_expression(expr::PRESENT)
            .expression_attribute_values(":refused", to_attr(refusal)?)
            .send()
            .await;
        match result {
            // A code that is not there has nothing to record a refusal on.
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }
}
