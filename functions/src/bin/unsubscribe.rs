//! Lambda function for `GET` and `POST /v1/unsubscribe` (one-click unsubscribe links).

rapport_shared::lambda_function!(unsubscribe);
