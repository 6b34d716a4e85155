//! The scheduled job as a Lambda function (EventBridge schedule in template.yaml).
//!
//! Each invocation is one run. New messages stop two minutes before the function's
//! deadline so the scores and message history are always written back; whatever was
//! left is sent by the next run. The summary is the invocation's result and one JSON
//! log line.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::Duration;

/// Time kept for writing scores and message history back after the last send.
const WRITE_BACK_MARGIN: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Error> {
    rapport::telemetry::init();
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            let send_until = event.context.deadline().checked_sub(WRITE_BACK_MARGIN);
            let report = rapport_jobs::run::run_from_env(true, send_until).await?;
            tracing::info!(summary = %serde_json::to_string(&report.summary)?, "run finished");
            Ok::<_, Error>(report.summary)
        },
    ))
    .await
}
