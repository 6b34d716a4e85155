//! Lambda function for the merchant's program document: `GET`/`PUT /v1/admin/program`,
//! `GET /v1/admin/program/versions`, `POST /v1/admin/program/rollback`.

rapport_shared::lambda_function!(program);
