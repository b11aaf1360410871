//! Operations: metrics, request limits and timeouts, logs, and the accept
//! loop (TLS, slow-client deadlines, graceful shutdown).

pub mod admission;
mod body;
pub mod failures;
mod headers;
mod listen;
pub mod metrics;
pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

pub use listen::{
    BACKLOG, ListenOptions, TlsError, bind, serve_until, shutdown_signal, tls_config,
};
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
    /// Requests in flight allowed per route family.
    pub concurrency: admission::Concurrency,
    /// How SCEP bodies, read before anything can be checked, are bounded.
    pub scep_bodies: admission::ScepBodyLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            auth_failures: failures::FailureQuota::default(),
            concurrency: admission::Concurrency::default(),
            scep_bodies: admission::ScepBodyLimits::default(),
        }
    }
}

/// Wraps `router` with per-route metrics and structured request logs
/// (see [`metrics::track`]), a request timeout (408, which also cuts off
/// clients that send their body slowly), a cap on requests in flight per
/// route family (503, [`admission`]), a body limit (413; bodies are read by
/// the handlers, after their credentials were checked, never before
/// routing), and the security headers of every answer (`no-store`,
/// `nosniff`, `no-referrer`, a CSP on HTML). `/metrics` is not among its
/// routes: it is served apart ([`metrics_router`]).
pub fn instrument(router: Router, metrics: Arc<Metrics>, limits: Limits) -> Router {
    let gates = Arc::new(admission::Gates::new(limits.concurrency, metrics.clone()));
    router
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gates,
            admission::admit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits.max_body,
            body::bounded,
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
