//! Lambda function for `GET /v1/customers/{id}/export` and `DELETE /v1/customers/{id}`
//! (data rights: export and erasure).

rapport_shared::lambda_function!(privacy);
