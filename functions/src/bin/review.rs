//! Lambda function for `POST /v1/events/review`.

rapport_shared::lambda_function!(review);
