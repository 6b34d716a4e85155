//! Lambda function for `POST /v1/events/referral`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::Referral).await
}
