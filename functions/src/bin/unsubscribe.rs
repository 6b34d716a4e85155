//! Lambda function for `GET` and `POST /v1/unsubscribe` (one-click unsubscribe links).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport_shared::bootstrap::run_function(rapport_shared::http::Operation::Unsubscribe).await
}
