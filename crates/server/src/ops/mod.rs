//! Operations: metrics, request limits and timeouts, logs, and the accept
//! loop (TLS, slow-client deadlines, graceful shutdown).

pub mod failures;
mod headers;
mod listen;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use crate::api::ApiError;
pub use listen::{ListenOptions, TlsError, serve_until, shutdown_signal, tls_config};
pub use metrics::Metrics;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest body any route accepts (routes may set lower limits).
    pub max_body: usize,
    /// Time allowed from the request's headers to the response, reading the body included.
    pub request_timeout: Duration,
    /// Failed authentications allowed per source (admin tokens).
    pub auth_failures: failures::FailureQuota,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            auth_failures: failures::FailureQuota::default(),
        }
    }
}

/// Wraps `router` with per-route metrics and structured request
/// logs (see [`metrics::track`]), a body limit (413, read in full before
/// routing), a request timeout (408, which also cuts off clients that
/// send their body slowly), and the security headers of every answer
/// (`no-store`, `nosniff`, `no-referrer`, a CSP on HTML). `/metrics` is
/// not among its routes: it is served apart ([`metrics_router`]).
pub fn instrument(router: Router, metrics: Arc<Metrics>, limits: Limits) -> Router {
    router
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits.max_body,
            read_whole_body,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(headers::on_every_answer))
}

/// `GET /metrics`, the Prometheus exposition of `metrics`, for a listener
/// of its own (`serve --metrics-listen`, loopback by default): request
/// counts per route, enrollment outcomes and decisions are for the
/// operator, not for whoever can reach the API.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .layer(axum::middleware::map_response(headers::on_every_answer))
}

/// Reads each request body in full (within the body limit) before routing.
///
/// A handler that answers without reading the body (an auth failure, a
/// lifecycle POST that takes none) would otherwise leave bytes on the
/// connection, and hyper then closes it after the response; clients that
/// pooled the connection fail their next request on it. Reading first also
/// puts every body under one limit and one timeout.
async fn read_whole_body(
    axum::extract::State(max_body): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return ApiError::too_large(max_body).into_response();
    }
    match axum::body::to_bytes(body, max_body).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::too_large(max_body).into_response()
            } else {
                ApiError::invalid("the request body could not be read").into_response()
            }
        }
    }
}
