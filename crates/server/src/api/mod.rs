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
    let all = crate::scep_router(service.endpoints.clone()).merge(api);
    crate::ops::instrument(all, service.metrics.clone(), service.options.limits)
}
