//! `POST /v1/events/activity`: what a customer did besides buying, and its points.

use chrono::Utc;
use http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{Api, Operation, parse_json, respond};
use crate::domain::events::activity::ActivityInput;
use crate::service;
use crate::store::{ProgramReadStore, RewardStore};

impl<S: RewardStore + ProgramReadStore> Api<S> {
    /// `POST /v1/events/activity`
    pub async fn activity(&self, req: Request) -> Response<Body> {
        let result = async {
            let body = self.authenticate(&req, Operation::Activity).await?;
            let event = parse_json::<ActivityInput>(body)?.validate()?;
            let rules = self.rules().await?;
            let receipt = service::record_activity(&self.store, &rules, &event, Utc::now()).await?;
            tracing::info!(event_id = %event.event_id, activity = %event.activity,
                duplicate = receipt.duplicate, points = receipt.points_delta, "activity event");
            Ok(receipt)
        }
        .await;
        respond(StatusCode::OK, result)
    }
}
