//! A job run's report, as the job stored it in the run bucket:
//!
//! - `GET /v1/reports/{run_id}?token=…`: the HTML report, for the link the job mails the
//!   merchant. Like the unsubscribe link it carries no request signature (a browser
//!   opens it); the token in the link is the credential, it names the run and it
//!   expires ([`crate::auth::report_link`]).
//! - `GET /v1/admin/reports/{run_id}` (admin scope): the run summary, with a fresh link
//!   to the HTML report for a merchant whose mailed link has expired.

use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{Api, ApiError, Operation, json_response, percent_decode, query_param};
use crate::auth::report_link::{self, ReportLink};
use crate::domain::{FieldError, RunId};
use crate::store::{ReportFile, ReportStore};

const PUBLIC_PREFIX: &str = "/v1/reports/";
const ADMIN_PREFIX: &str = "/v1/admin/reports/";

/// The headers of the HTML report: never cached or framed, no sniffing, nothing loaded
/// from elsewhere (the report is one self-contained page), and no `Referer` that would
/// carry the link's token to a site the report links to.
const HTML_HEADERS: &[(header::HeaderName, &str)] = &[
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
    ),
];

/// `GET /v1/admin/reports/{run_id}`.
#[derive(Serialize)]
struct ReportView {
    run_id: RunId,
    /// The run summary as the job stored it.
    summary: serde_json::Value,
    /// A link to the HTML report; `null` where no public URL or link key is configured.
    link: Option<ReportLink>,
}

/// The run id after `prefix` in the request's path.
fn run_in_path(req: &Request, prefix: &str) -> Result<RunId, ApiError> {
    let raw = req
        .uri()
        .path()
        .strip_prefix(prefix)
        .unwrap_or_default()
        .trim_end_matches('/');
    let decoded = percent_decode(raw).ok_or_else(|| {
        ApiError::Invalid(FieldError::new("run_id", "is not valid percent-encoding"))
    })?;
    Ok(RunId::parse("run_id", &decoded)?)
}

impl<S> Api<S> {
    /// Both report routes, told apart by path: what the report function serves.
    pub async fn report(&self, req: Request) -> Response<Body> {
        let result = if req.uri().path().starts_with(ADMIN_PREFIX) {
            self.report_summary(&req).await
        } else {
            self.report_page(&req).await
        };
        result.unwrap_or_else(ApiError::into_response)
    }

    fn reports(&self) -> Result<&dyn ReportStore, ApiError> {
        self.reports.as_deref().ok_or_else(|| {
            ApiError::NotFound("this deployment keeps no reports (no run bucket)".into())
        })
    }

    /// The stored `file` of `run`, or a 404 naming the run.
    async fn report_file(&self, run: &RunId, file: ReportFile) -> Result<Vec<u8>, ApiError> {
        self.reports()?
            .report_file(run, file)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("run {run} has no report")))
    }

    /// `GET /v1/reports/{run_id}?token=…`
    async fn report_page(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        let run = run_in_path(req, PUBLIC_PREFIX)?;
        let token = query_param(req, "token").ok_or(ApiError::InvalidToken)?;
        let keys = self.unsubscribe_keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "link keys unavailable");
            ApiError::Internal
        })?;
        if !report_link::verify(&keys, &run, &token, Utc::now()) {
            return Err(ApiError::InvalidToken);
        }
        let html = self.report_file(&run, ReportFile::Html).await?;
        let mut response = Response::new(Body::from(html));
        for (name, value) in HTML_HEADERS {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        Ok(response)
    }

    /// `GET /v1/admin/reports/{run_id}`
    async fn report_summary(&self, req: &Request) -> Result<Response<Body>, ApiError> {
        self.authenticate(req, Operation::Report).await?;
        let run = run_in_path(req, ADMIN_PREFIX)?;
        let bytes = self.report_file(&run, ReportFile::Summary).await?;
        let summary = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(run = %run, error = %e, "a stored run summary is not JSON");
            ApiError::Internal
        })?;
        let link = match (&self.config.public_url, self.unsubscribe_keys.get().await) {
            (Some(base), Ok(keys)) => Some(report_link::link(
                base,
                &keys,
                &run,
                Utc::now(),
                self.config.report_link_days,
            )),
            _ => None,
        };
        Ok(json_response(
            StatusCode::OK,
            &ReportView {
                run_id: run,
                summary,
                link,
            },
        ))
    }
}
