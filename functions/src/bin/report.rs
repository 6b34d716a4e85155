//! Lambda function for a run's report: `GET /v1/reports/{run_id}` (the link mailed to
//! the merchant) and `GET /v1/admin/reports/{run_id}` (the summary, with a fresh link).

rapport_shared::lambda_function!(report);
