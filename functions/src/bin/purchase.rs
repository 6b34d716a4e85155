//! Lambda function for `POST /v1/events/purchase`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport_shared::bootstrap::run_function(rapport_shared::http::Operation::Purchase).await
}
