//! Access policies and device assurances: CRUD over the service's policy
//! use cases. Invalid documents get 400 with their positioned causes;
//! deleting an assurance a policy uses gets 409.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use devicetrust_policy::PolicyDocument;
use devicetrust_policy::model::DeviceAssurance;

use super::{body, json_body, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::policies::PolicyStoreError;
use devicetrust_errors::{ErrorKind, HasKind as _};

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/policies", get(list_policies).post(create_policy))
        .route(
            "/api/v1/policies/{id}",
            get(get_policy).put(replace_policy).delete(delete_policy),
        )
        .route(
            "/api/v1/device-assurances",
            get(list_assurances).post(create_assurance),
        )
        .route(
            "/api/v1/device-assurances/{id}",
            get(get_assurance)
                .put(replace_assurance)
                .delete(delete_assurance),
        )
}

/// A policy document from a body: 400 with the JSON path, line and column.
fn policy_document(raw: Result<Bytes, BytesRejection>) -> Result<PolicyDocument, ApiError> {
    let raw = body(raw)?;
    let text = std::str::from_utf8(&raw).map_err(|e| {
        ApiError::invalid("Api validation failed: policy").with_cause(format!("not UTF-8: {e}"))
    })?;
    PolicyDocument::from_json(text)
        .map_err(|e| ApiError::invalid("Api validation failed: policy").with_cause(e.to_string()))
}

fn refused_as(what: &str, e: &PolicyStoreError) -> ApiError {
    match e.kind() {
        ErrorKind::Invalid => {
            ApiError::invalid(format!("Api validation failed: {what}")).with_cause(e.to_string())
        }
        _ => ApiError::from_error(e),
    }
}

fn refused(e: PolicyStoreError) -> ApiError {
    refused_as("policy", &e)
}

fn refused_assurance(e: PolicyStoreError) -> ApiError {
    refused_as("device assurance", &e)
}

async fn list_policies(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<PolicyDocument>>, ApiError> {
    service.list_policies().map(Json).map_err(refused)
}

async fn get_policy(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<PolicyDocument>, ApiError> {
    service.policy(&id).map(Json).map_err(refused)
}

async fn create_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PolicyDocument>), ApiError> {
    let doc = policy_document(raw)?;
    let created = service
        .create_policy(&admin.token_id, doc, now())
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn replace_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PolicyDocument>, ApiError> {
    let doc = policy_document(raw)?;
    service
        .replace_policy(&admin.token_id, &id, doc, now())
        .map(Json)
        .map_err(refused)
}

async fn delete_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_policy(&admin.token_id, &id, now())
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_assurances(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<DeviceAssurance>>, ApiError> {
    service
        .list_assurances()
        .map(Json)
        .map_err(refused_assurance)
}

async fn get_assurance(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<DeviceAssurance>, ApiError> {
    service.assurance(&id).map(Json).map_err(refused_assurance)
}

async fn create_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DeviceAssurance>), ApiError> {
    let assurance: DeviceAssurance = json_body(raw)?;
    let created = service
        .create_assurance(&admin.token_id, assurance, now())
        .map_err(refused_assurance)?;
    // Okta's description answers this create with 200, not 201.
    Ok((StatusCode::OK, Json(created)))
}

async fn replace_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DeviceAssurance>, ApiError> {
    let assurance: DeviceAssurance = json_body(raw)?;
    service
        .replace_assurance(&admin.token_id, &id, assurance, now())
        .map(Json)
        .map_err(refused_assurance)
}

async fn delete_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_assurance(&admin.token_id, &id, now())
        .map_err(refused_assurance)?;
    Ok(StatusCode::NO_CONTENT)
}
