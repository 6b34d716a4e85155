//! Lambda function for `POST /v1/customers/{id}/recovery`.

rapport_shared::lambda_function!(recovery);
