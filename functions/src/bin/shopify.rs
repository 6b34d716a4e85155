//! Lambda function for `POST /v1/webhooks/shopify` (a Shopify shop's webhooks).

rapport_shared::lambda_function!(shopify);
