//! Lambda function for `GET /v1/customers/{id}`.

rapport_shared::lambda_function!(customer);
