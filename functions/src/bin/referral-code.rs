//! Lambda function for `GET /v1/customers/{id}/referral-code`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport_shared::bootstrap::run_function(rapport_shared::http::Operation::ReferralCode).await
}
