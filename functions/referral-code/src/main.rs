//! Lambda function for `GET /v1/customers/{id}/referral-code`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport::bootstrap::run_function(rapport::http::Operation::ReferralCode).await
}
