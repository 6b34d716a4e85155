//! Lambda function for `POST /v1/events/purchase`.

rapport_shared::lambda_function!(purchase);
