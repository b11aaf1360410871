//! The service's HTTP API, as one axum [`Router`] you can serve or mount:
//!
//! - `/scep/{id}/pkiclient.exe` and `/scep/{id}/mscep_admin/`: SCEP ([`crate::scep_router`]);
//! - `/api/v1/...`: the admin API (Okta-shaped; `SSWS` or `Bearer` token);
//! - `/device/v1/...`: what Okta Verify does (request-signed with the device's key);
//! - `/api/v1/authorize`: the decision API;
//! - `/healthz` and `/metrics`.
//!
//! Every route is instrumented and limited by [`crate::ops::instrument`].

mod admin;
pub mod auth;
mod authorize;
pub(crate) mod body;
mod device;
mod error;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::ApiError;

use crate::service::Service;

/// Every route of the service.
pub fn router(service: Arc<Service>) -> Router {
    let api = Router::new()
        .merge(admin::routes())
        .merge(device::routes())
        .merge(authorize::routes())
        .route("/healthz", get(|| async { "ok" }))
        .with_state(service.clone());
    // SCEP first catches up with configurations another process changed.
    let scep = crate::scep_router(service.endpoints.clone()).layer(
        axum::middleware::from_fn_with_state(service.clone(), sync_first),
    );
    let all = scep.merge(api);
    crate::ops::instrument(all, service.metrics.clone(), service.options.limits)
}

async fn sync_first(
    axum::extract::State(service): axum::extract::State<Arc<Service>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Err(e) = service.sync() {
        // Serve with what is loaded rather than refuse: the next request retries.
        tracing::warn!(error = %e, "could not catch up with the stored configuration");
    }
    next.run(request).await
}
