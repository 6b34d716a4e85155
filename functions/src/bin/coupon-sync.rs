//! Lambda function for the table's stream: creates each new coupon's code in the
//! stores' checkouts (Shopify, WooCommerce) where the merchant gave Rapport their API
//! credentials.

#[tokio::main]
async fn main() -> Result<(), rapport_shared::bootstrap::lambda_http::Error> {
    rapport_shared::bootstrap::run_code_sync().await
}
