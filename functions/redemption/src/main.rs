//! Lambda function for `POST /v1/customers/{id}/redemptions`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::Redemption).await
}
