//! Operations: metrics, request limits and timeouts, logs, and the accept
//! loop (TLS, slow-client deadlines, graceful shutdown).

mod listen;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use listen::{ListenOptions, TlsError, serve_until, shutdown_signal, tls_config};
pub use metrics::Metrics;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest body any route accepts (routes may set lower limits).
    pub max_body: usize,
    /// Time allowed from the request's headers to the response, reading the body included.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Wraps `router` with `/metrics`, per-route metrics and structured request
/// logs (see [`metrics::track`]), a body limit (413) and a request timeout
/// (408, which also cuts off clients that send their body slowly).
pub fn instrument(router: Router, metrics: Arc<Metrics>, limits: Limits) -> Router {
    let exposition = metrics.clone();
    router
        .route(
            "/metrics",
            get(move || {
                let m = exposition.clone();
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
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body))
}
