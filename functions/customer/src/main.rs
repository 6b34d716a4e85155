//! Lambda function for `GET /v1/customers/{id}`.

use lambda_http::{Error, Request, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let api = rapport::bootstrap::dynamo_api().await?;
    let api = &api;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(api.customer(req).await)
    }))
    .await
}
