//! The service's HTTP API, as one axum [`Router`] you can serve or mount:
//!
//! - `/scep/{id}/pkiclient.exe` and `/scep/{id}/mscep_admin/`: SCEP ([`crate::scep_router`]);
//! - `/api/v1/...`: the admin API (Okta-shaped; `SSWS` or `Bearer` token);
//! - `/device/v1/...`: what Okta Verify does (request-signed with the device's key);
//! - `/api/v1/authorize`: the decision API;
//! - `/healthz`.
//!
//! Every route is instrumented and limited by [`crate::ops::instrument`].
//! The metrics are served apart, by [`crate::ops::metrics_router`].

mod admin;
pub mod auth;
mod authorize;
pub(crate) mod body;
mod device;
mod error;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use error::{ApiError, UNAVAILABLE};

use crate::ops::{Limits, Metrics};
use crate::service::{ScepEndpoints, Service};

/// Every route of the service, with default request limits.
pub fn router(service: Arc<Service>) -> Router {
    router_with(service, Arc::new(Metrics::new()), Limits::default())
}

/// Every route of the service, counted in `metrics` and under `limits`.
pub fn router_with(service: Arc<Service>, metrics: Arc<Metrics>, limits: Limits) -> Router {
    let endpoints = service.endpoints().clone();
    metrics.add_enrollment_source(Box::new(move || scep_counts(&endpoints)));
    let counted = service.clone();
    metrics.set_round_trip_source(Box::new(move || {
        counted.database_round_trips().map(|n| ("postgres", n))
    }));
    let api = Router::new()
        .merge(admin::routes())
        .merge(device::routes())
        .merge(authorize::routes())
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::Extension(metrics.clone()))
        .with_state(service.clone());
    // SCEP first catches up with configurations another process changed.
    let bodies =
        crate::ops::admission::ScepBodies::new(limits.scep_bodies).counted(metrics.clone());
    let scep =
        crate::scep_routes::router_with(service.endpoints().clone(), Arc::new(bodies)).layer(
            axum::middleware::from_fn_with_state(service.clone(), sync_first),
        );
    let limiters = Arc::new(
        crate::ops::failures::AuthLimiters::new(limits.auth_failures)
            .audited(service.auth_failures().clone()),
    );
    let counted = limiters.clone();
    metrics.set_auth_failure_source(Box::new(move || counted.counts()));
    let all = scep.merge(api).layer(axum::Extension(limiters));
    crate::ops::instrument(all, metrics, limits)
}

/// SCEP outcomes summed over every configuration ever served.
fn scep_counts(endpoints: &ScepEndpoints) -> Vec<(&'static str, &'static str, u64)> {
    let total = endpoints.outcome_totals();
    vec![
        ("scep", "issued", total.issued),
        ("scep", "pending", total.pending),
        ("scep", "refused", total.refused),
    ]
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
