//! The decision API: `POST /api/v1/authorize` and the policy simulator
//! `POST /api/v1/policies/{id}/simulate` (both admin). The service fills in
//! the device's state, management proof and fresh signals
//! ([`crate::service::context`]); simulate also takes a whole `context`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Extension, Router};
use time::OffsetDateTime;

use super::ApiError;
use super::auth::AdminToken;
use super::body::JsonBody;
use super::device::errors::from_decision;
use crate::ops::Metrics;
use crate::service::Service;
use crate::service::context::{DecisionError, DecisionRequest, DecisionResponse};

pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/authorize", post(authorize))
        .route("/api/v1/policies/{id}/simulate", post(simulate))
}

async fn decide(
    service: Arc<Service>,
    metrics: Arc<Metrics>,
    admin: AdminToken,
    policy: String,
    request: DecisionRequest,
) -> Result<Json<DecisionResponse>, ApiError> {
    // Inline, not on the blocking pool: a decision is microseconds of CPU
    // and reads on the store's read connection, which never waits for a
    // writer's fsync. The hop to a blocking thread cost more than the work.
    let response: DecisionResponse = service
        .decide_as_admin(admin.token(), &policy, &request, OffsetDateTime::now_utc())
        .map_err(|e| match e {
            DecisionError::Unauthenticated => admin.refused(),
            other => from_decision(other),
        })?;
    metrics.decision(match response.decision.access {
        devicetrust_policy::model::Access::Allow => "ALLOW",
        devicetrust_policy::model::Access::Deny => "DENY",
    });
    tracing::info!(access = ?response.decision.access,
        rule = response.decision.rule.as_ref().map(|r| r.id.as_str()), "decision");
    // Serialized once, straight to the body: no intermediate JSON tree.
    Ok(Json(response))
}

async fn authorize(
    State(service): State<Arc<Service>>,
    Extension(metrics): Extension<Arc<Metrics>>,
    admin: AdminToken,
    JsonBody(request): JsonBody<DecisionRequest>,
) -> Result<Json<DecisionResponse>, ApiError> {
    if request.context.is_some() {
        return Err(ApiError::invalid("Api validation failed").with_cause(
            "context: the decision API fills in the device itself; use simulate for a raw context",
        ));
    }
    let policy = request.policy_id.clone().ok_or_else(|| {
        ApiError::invalid("Api validation failed").with_cause("policyId is required")
    })?;
    decide(service, metrics, admin, policy, request).await
}

async fn simulate(
    State(service): State<Arc<Service>>,
    Extension(metrics): Extension<Arc<Metrics>>,
    admin: AdminToken,
    Path(policy): Path<String>,
    JsonBody(request): JsonBody<DecisionRequest>,
) -> Result<Json<DecisionResponse>, ApiError> {
    if request.policy_id.as_ref().is_some_and(|p| *p != policy) {
        return Err(ApiError::invalid("Api validation failed")
            .with_cause("policyId in the body differs from the path"));
    }
    decide(service, metrics, admin, policy, request).await
}
