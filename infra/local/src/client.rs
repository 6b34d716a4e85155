//! A storefront's or a merchant's side of the API: signs each request with the key
//! whose scope the route needs — the events key for storefront routes, the admin key
//! for the rest — as a shop's systems would.

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use rapport_shared::auth::keys::{ApiKey, ApiKeys, Scope};
use rapport_shared::auth::signature::{self, SignedRequest};
use rapport_shared::http::operation_for;
use serde_json::Value;

/// The keys a client signs with.
#[derive(Debug, Clone)]
pub struct Signer {
    keys: ApiKeys,
}

impl Signer {
    pub fn new(keys: ApiKeys) -> Self {
        Self { keys }
    }

    /// The key for `method` on `path_and_query`: the one its route's scope needs (the
    /// events key where there is a choice); the events key for unknown routes.
    pub fn key_for(&self, method: &str, path_and_query: &str) -> Option<&ApiKey> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let scope = operation_for(method, path)
            .and_then(|o| o.scope())
            .unwrap_or(Scope::Events);
        self.keys
            .signer(scope)
            .or_else(|| self.keys.signer(Scope::Admin))
    }

    /// The `Rapport-Signature` header for a request, signed now.
    pub fn header(&self, method: &str, path_and_query: &str, body: &[u8]) -> Result<String> {
        let key = self
            .key_for(method, path_and_query)
            .ok_or_else(|| anyhow!("no key to sign {method} {path_and_query} with"))?;
        Ok(signature::sign(
            key,
            Utc::now().timestamp(),
            &SignedRequest {
                method,
                path_and_query,
                body,
            },
        ))
    }

    /// Sends a signed request and returns the status and JSON body.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        base_url: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let raw = body.map(Value::to_string).unwrap_or_default();
        let header = self.header(method, path, raw.as_bytes())?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).context("HTTP method")?;
        let response = client
            .request(method, format!("{base_url}{path}"))
            .header("Rapport-Signature", header)
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}
