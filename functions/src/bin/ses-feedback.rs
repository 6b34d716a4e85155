//! Lambda function for SES bounce and complaint notifications (SNS): suppresses the
//! addresses they name.

#[tokio::main]
async fn main() -> Result<(), rapport_shared::bootstrap::lambda_http::Error> {
    rapport_shared::bootstrap::run_feedback().await
}
