//! Lambda function for `POST /v1/customers/{id}/recovery`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport_shared::bootstrap::run_function(rapport_shared::http::Operation::Recovery).await
}
