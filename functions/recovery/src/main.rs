//! Lambda function for `POST /v1/customers/{id}/recovery`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::Recovery).await
}
