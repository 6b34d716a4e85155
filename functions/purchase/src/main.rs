//! Lambda function for `POST /v1/events/purchase`.

use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let api = rapport::bootstrap::dynamo_api().await?;
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.purchase(req).await)
    }))
    .await
}
