//! Lambda function for `GET /v1/customers/{id}/export` and `DELETE /v1/customers/{id}`
//! (data rights: export and erasure).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    rapport_shared::bootstrap::run_function(rapport_shared::http::Operation::Privacy).await
}
