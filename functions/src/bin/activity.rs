//! Lambda function for `POST /v1/events/activity`.

rapport_shared::lambda_function!(activity);
