//! Lambda function for `POST /v1/webhooks/woocommerce` (a WooCommerce shop's webhooks).

rapport_shared::lambda_function!(woocommerce);
