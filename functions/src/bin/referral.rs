//! Lambda function for `POST /v1/events/referral`.

rapport_shared::lambda_function!(referral);
