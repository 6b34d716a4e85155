//! Lambda function for `POST /v1/events/purchase`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::Purchase).await
}
