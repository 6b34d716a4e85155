//! The whole v1 API on 127.0.0.1 without Docker or SAM: a small hyper server that turns
//! each HTTP request into the `lambda_http::Request` API Gateway would deliver and calls
//! the same handler the Lambda function calls.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rapport_shared::http::{Api, ApiError, MAX_BODY_BYTES, OPENAPI};
use rapport_shared::store::Store;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

async fn handle<S>(api: Arc<Api<S>>, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>>
where
    S: Store,
{
    if req.method() == hyper::Method::GET && req.uri().path() == "/openapi.yaml" {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/yaml"),
        );
        return response;
    }
    let (parts, body) = req.into_parts();
    // Reading one byte past the limit is enough to know the body is too large.
    let response = match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let body = match String::from_utf8(bytes.to_vec()) {
                Ok(text) if text.is_empty() => lambda_http::Body::Empty,
                Ok(text) => lambda_http::Body::Text(text),
                Err(e) => lambda_http::Body::Binary(e.into_bytes()),
            };
            api.route(lambda_http::Request::from_parts(parts, body))
                .await
        }
        Err(_) => ApiError::TooLarge {
            limit: MAX_BODY_BYTES,
        }
        .into_response(),
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Serves `api` on `listener` until `shutdown` completes.
pub async fn serve<S>(listener: TcpListener, api: Arc<Api<S>>, shutdown: impl Future<Output = ()>)
where
    S: Store + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the others.
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let api = Arc::clone(&api);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let api = Arc::clone(&api);
                async move { Ok::<_, Infallible>(handle(api, req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}
