//! The merchant's program document (admin scope):
//!
//! - `GET /v1/admin/program`: the version in force, with its number as the `ETag`;
//! - `PUT /v1/admin/program` with `If-Match: "<version read>"`: a new version;
//! - `GET /v1/admin/program/versions`: every saved version, newest first;
//! - `GET /v1/admin/program/stats`: the program's figures as the scheduled job last
//!   computed them;
//! - `POST /v1/admin/program/rollback` `{"version": n}` with `If-Match`: version `n`'s
//!   content (0: the deployment's settings) in force again, as a new version.
//!
//! A change without `If-Match` is `428`; one over a version no longer in force is `412`
//! with the current `ETag`, and changes nothing; a document that breaks rules is `422`
//! listing every problem by its JSON path.

use chrono::Utc;
use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use super::{Api, ApiError, Operation, json_response, parse_json, query_param};
use crate::domain::program::{Program, ProgramRules, ProgramVersion, read_program};
use crate::mail::wording::wording_problems;
use crate::service::program::{self, ProgramError};
use crate::store::{ProgramReadStore, ProgramStatsStore, ProgramStore};
use std::sync::Arc;
use std::time::Instant;

/// The rules of the program version last read, and when it was read.
#[derive(Default)]
pub(crate) struct ProgramCache {
    read: tokio::sync::RwLock<Option<(Instant, Arc<ProgramRules>)>>,
}

impl<S: ProgramReadStore> Api<S> {
    /// The rules in force: the program's latest version (the deployment's settings
    /// before one is saved), read again once `RAPPORT_PROGRAM_CACHE_SECS` have passed.
    /// One request decides under one version. A read that fails keeps the version
    /// last read, if any; with none it is a 503.
    pub(crate) async fn rules(&self) -> Result<Arc<ProgramRules>, ApiError> {
        if let Some((at, rules)) = self.program.read.read().await.as_ref()
            && at.elapsed() < self.config.program_cache
        {
            return Ok(rules.clone());
        }
        let mut cached = self.program.read.write().await;
        if let Some((at, rules)) = cached.as_ref()
            && at.elapsed() < self.config.program_cache
        {
            return Ok(rules.clone());
        }
        let fresh = match self.store.current_program().await {
            Ok(Some(version)) => version.rules(&self.config.rules).map_err(|e| {
                // Saved versions were checked before they were accepted.
                tracing::error!(version = version.version, error = %e, "a stored program does not read back");
                ApiError::Internal
            })?,
            Ok(None) => self.config.settings_rules(),
            Err(e) => match cached.as_ref() {
                Some((_, rules)) => {
                    tracing::warn!(error = %e, version = rules.version, "program unreadable; deciding by the version last read");
                    return Ok(rules.clone());
                }
                None => return Err(e.into()),
            },
        };
        let fresh = Arc::new(fresh);
        *cached = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// Most versions one history page lists.
const HISTORY_LIMIT: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: u64,
}

impl From<ProgramError> for ApiError {
    fn from(e: ProgramError) -> Self {
        match e {
            ProgramError::Invalid(problems) => ApiError::InvalidDocument(problems),
            ProgramError::Stale { current, .. } => ApiError::StaleVersion { current },
            ProgramError::UnknownVersion(n) => {
                ApiError::NotFound(format!("the program has no version {n}"))
            }
            ProgramError::Store(e) => e.into(),
        }
    }
}

/// The version `If-Match` names: `"3"` (or a weak `W/"3"`, or a bare 3).
fn if_match(req: &Request) -> Result<u64, ApiError> {
    let raw = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?
        .to_str()
        .map_err(|_| ApiError::PreconditionRequired)?;
    let tag = raw.trim().trim_start_matches("W/").trim_matches('"');
    tag.parse().map_err(|_| {
        ApiError::Invalid(crate::domain::FieldError::new(
            "If-Match",
            "must be the ETag of a program version, e.g. \"3\"",
        ))
    })
}

/// A version as the answer, with its number as the `ETag`.
fn version_response(status: StatusCode, version: &ProgramVersion) -> Response<Body> {
    let mut response = json_response(status, version);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", version.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

impl<S: ProgramStore + ProgramStatsStore> Api<S> {
    /// After a change: this instance reads the new version on its next decision (the
    /// others within `RAPPORT_PROGRAM_CACHE_SECS`).
    async fn forget_program(&self) {
        *self.program.read.write().await = None;
    }

    /// The deployment's settings as a program (version 0).
    fn settings_program(&self) -> Program {
        self.config.settings_program()
    }

    /// Every program route, told apart by method and path: what the program function
    /// serves.
    pub async fn program(&self, req: Request) -> Response<Body> {
        let result = async {
            let (body, key) = self.authenticate_key(&req, Operation::Program).await?;
            let settings = self.settings_program();
            let path = req.uri().path().trim_end_matches('/').to_owned();
            let now = Utc::now();
            match (req.method().clone(), path.as_str()) {
                (Method::GET, "/v1/admin/program") => {
                    let version = program::program_in_force(&self.store, &settings).await?;
                    Ok(version_response(StatusCode::OK, &version))
                }
                (Method::PUT, "/v1/admin/program") => {
                    let expected = if_match(&req)?;
                    let document = read_program(body, |p| wording_problems(&p.wording))
                        .map_err(ApiError::InvalidDocument)?;
                    let saved =
                        program::save_program(&self.store, &settings, expected, document, &key, now)
                            .await?;
                    tracing::info!(version = saved.version, key = %key, "program saved");
                    self.forget_program().await;
                    Ok(version_response(StatusCode::OK, &saved))
                }
                (Method::GET, "/v1/admin/program/stats") => {
                    let stats = self.store.program_stats().await?.ok_or_else(|| {
                        ApiError::NotFound(
                            "the scheduled job has not computed the program's figures yet".into(),
                        )
                    })?;
                    Ok(json_response(StatusCode::OK, &stats))
                }
                (Method::GET, "/v1/admin/program/versions") => {
                    let limit = query_param(&req, "limit")
                        .map(|raw| {
                            raw.parse::<usize>()
                                .ok()
                                .filter(|n| (1..=HISTORY_LIMIT).contains(n))
                                .ok_or_else(|| {
                                    ApiError::Invalid(crate::domain::FieldError::new(
                                        "limit",
                                        format!("must be between 1 and {HISTORY_LIMIT}"),
                                    ))
                                })
                        })
                        .transpose()?
                        .unwrap_or(HISTORY_LIMIT);
                    let versions = self.store.program_history(limit).await?;
                    let body = serde_json::json!({ "versions": versions });
                    Ok(json_response(StatusCode::OK, &body))
                }
                (Method::POST, "/v1/admin/program/rollback") => {
                    let expected = if_match(&req)?;
                    let rollback = parse_json::<Rollback>(body)?;
                    let restored = program::restore_program(
                        &self.store,
                        &settings,
                        expected,
                        rollback.version,
                        &key,
                        now,
                    )
                    .await?;
                    tracing::info!(version = restored.version, from = rollback.version, key = %key, "program restored");
                    self.forget_program().await;
                    Ok(version_response(StatusCode::OK, &restored))
                }
                _ => Err(ApiError::NotFound(format!("no route for {path}"))),
            }
        }
        .await;
        result.unwrap_or_else(ApiError::into_response)
    }
}
