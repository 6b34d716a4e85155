//! Lambda function for `GET` and `POST /v1/unsubscribe` (one-click unsubscribe links).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::Unsubscribe).await
}
