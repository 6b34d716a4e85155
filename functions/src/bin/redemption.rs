//! Lambda function for `POST /v1/customers/{id}/redemptions`.

rapport_shared::lambda_function!(redemption);
