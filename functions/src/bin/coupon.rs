//! Lambda function for `GET /v1/coupons/{code}` (whether a coupon code may be used).

rapport_shared::lambda_function!(coupon);
