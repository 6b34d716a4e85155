//! Lambda function for `GET /v1/customers/{id}/referral-code`.

rapport_shared::lambda_function!(referral_code);
