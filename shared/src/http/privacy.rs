//! Data rights: `GET /v1/customers/{id}/export` answers everything stored about a
//! customer as one JSON document; `DELETE /v1/customers/{id}` erases their personal data
//! and answers the erasure's receipt (the same one every time).
//!
//! Both need a key with the admin scope: the merchant asks on the customer's behalf,
//! after verifying who is asking; a storefront's key cannot.

use chrono::Utc;
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use super::{Api, ApiError, Operation, customer_in_path, query_param, respond};
use crate::domain::privacy::{ExportCursor, ExportError, export_page};
use crate::service;
use crate::store::PrivacyStore;

impl<S: PrivacyStore> Api<S> {
    /// Both data-rights routes, told apart by method: what the privacy function serves.
    pub async fn privacy(&self, req: Request) -> Response<Body> {
        if req.method() == Method::DELETE {
            self.erase(req).await
        } else {
            self.export(req).await
        }
    }

    /// `GET /v1/customers/{id}/export`
    pub async fn export(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::Privacy).await?;
            let id = customer_in_path(&req)?;
            let tombstones = self.tombstones().await?;
            let data = self
                .store
                .export(&id, &tombstones)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("customer {id} does not exist")))?;
            let cursor = query_param(&req, "cursor")
                .map(|raw| ExportCursor::parse(&raw))
                .transpose()?;
            export_page(
                &data.value,
                self.config.rules.currency,
                Utc::now(),
                cursor,
                self.config.export_page_bytes,
            )
            .map_err(|e| match e {
                ExportError::Cursor(field) => ApiError::Invalid(field),
                other => {
                    tracing::error!(error = %other, "export serialisation failed");
                    ApiError::Internal
                }
            })
        }
        .await;
        respond(StatusCode::OK, result)
    }

    /// `DELETE /v1/customers/{id}`
    pub async fn erase(&self, req: Request) -> Response<Body> {
        let result = async {
            self.authenticate(&req, Operation::Privacy).await?;
            let id = customer_in_path(&req)?;
            let tombstones = self.tombstones().await?;
            let receipt =
                service::erase_customer(&self.store, &id, &tombstones, Utc::now()).await?;
            tracing::info!(customer = %id, receipt = %receipt.receipt_id, "customer erased");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}
