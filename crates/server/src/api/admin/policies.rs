//! Access policies and device assurances: CRUD over the
//! [`PolicyStore`](crate::service::policies::PolicyStore). Invalid
//! documents get 400 with their positioned causes; deleting an assurance a
//! policy uses gets 409.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use devicetrust_policy::PolicyDocument;
use devicetrust_policy::model::DeviceAssurance;
use serde_json::json;

use super::{body, json as parse_json, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::admin_audit::{self, AdminEvent};
use crate::service::policies::{PolicyStore, PolicyStoreError};

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

fn store_error(e: PolicyStoreError) -> ApiError {
    match e {
        PolicyStoreError::Invalid(load) => {
            ApiError::invalid("Api validation failed: policy").with_cause(load.to_string())
        }
        PolicyStoreError::Rejected(why) => {
            ApiError::invalid("Api validation failed: policy").with_cause(why)
        }
        e @ PolicyStoreError::UnknownAssurance { .. } => {
            ApiError::invalid("Api validation failed: policy").with_cause(e.to_string())
        }
        e @ PolicyStoreError::InUse { .. } => ApiError::conflict(e.to_string()),
        PolicyStoreError::NotFound { what, id } => ApiError::not_found(what, &id),
        other => ApiError::from_error(&other),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(&e)
}

fn audit(service: &Service, admin: &Admin, event_type: &str, kind: &str, id: &str, name: &str) {
    let recorded = AdminEvent::new(now(), &admin.token_id, event_type, kind, id)
        .map(|e| e.with_details(json!({ "name": name })))
        .and_then(|e| admin_audit::record(&service.settings, e));
    // The change is made; a failure to record it is logged, not hidden.
    if let Err(e) = recorded {
        tracing::error!(error = %e, event_type, "could not record an admin audit event");
    }
}

/// A policy document from a body: 400 with the JSON path, line and column.
fn policy_document(raw: &[u8]) -> Result<PolicyDocument, ApiError> {
    let text = std::str::from_utf8(raw).map_err(|e| {
        ApiError::invalid("Api validation failed: policy").with_cause(format!("not UTF-8: {e}"))
    })?;
    let doc = PolicyDocument::from_json(text).map_err(|e| store_error(e.into()))?;
    if !doc.device_assurances.is_empty() {
        return Err(ApiError::invalid("Api validation failed: policy").with_cause(
            "deviceAssurances are not embedded: create them at /api/v1/device-assurances and reference them by id",
        ));
    }
    Ok(doc)
}

fn find_policy(service: &Service, id: &str) -> Result<Option<PolicyDocument>, ApiError> {
    Ok(PolicyStore::policies(&service.settings.read())
        .map_err(internal)?
        .into_iter()
        .find(|p| p.policy.id == id))
}

async fn list_policies(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<PolicyDocument>>, ApiError> {
    Ok(Json(
        PolicyStore::policies(&service.settings.read()).map_err(internal)?,
    ))
}

async fn get_policy(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<PolicyDocument>, ApiError> {
    find_policy(&service, &id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Policy", &id))
}

async fn create_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let doc = policy_document(&body(raw)?)?;
    if find_policy(&service, &doc.policy.id)?.is_some() {
        return Err(ApiError::conflict(format!(
            "policy {} already exists: replace it with PUT",
            doc.policy.id
        )));
    }
    service
        .policies
        .put_policy(&service.settings, doc.clone())
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "policy.create",
        "Policy",
        &doc.policy.id,
        &doc.policy.name,
    );
    Ok((StatusCode::CREATED, Json(doc)).into_response())
}

async fn replace_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PolicyDocument>, ApiError> {
    let doc = policy_document(&body(raw)?)?;
    if doc.policy.id != id {
        return Err(ApiError::invalid("Api validation failed: policy")
            .with_cause("policy.id must be the id in the path"));
    }
    if find_policy(&service, &id)?.is_none() {
        return Err(ApiError::not_found("Policy", &id));
    }
    service
        .policies
        .put_policy(&service.settings, doc.clone())
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "policy.update",
        "Policy",
        &id,
        &doc.policy.name,
    );
    Ok(Json(doc))
}

async fn delete_policy(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let Some(doc) = find_policy(&service, &id)? else {
        return Err(ApiError::not_found("Policy", &id));
    };
    service
        .policies
        .delete_policy(&service.settings, &id)
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "policy.delete",
        "Policy",
        &id,
        &doc.policy.name,
    );
    Ok(StatusCode::NO_CONTENT)
}

/// A device assurance from a body, checked by compiling a policy that uses
/// it, so a bad OS version is refused here rather than when a policy
/// first references it.
fn assurance(raw: &[u8]) -> Result<DeviceAssurance, ApiError> {
    let assurance: DeviceAssurance = parse_json(raw)?;
    let refuse =
        |why: String| ApiError::invalid("Api validation failed: device assurance").with_cause(why);
    if assurance.id.is_empty() {
        return Err(refuse("id must not be empty".into()));
    }
    let probe = json!({
        "policy": {"id": "probe", "name": "probe", "type": "ACCESS_POLICY", "status": "ACTIVE"},
        "rules": [{
            "id": "probe", "name": "probe", "priority": 1, "status": "ACTIVE",
            "conditions": {"device": {"registered": true, "assurance": {"include": [assurance.id]}}},
            "actions": {"appSignOn": {"access": "ALLOW"}}
        }]
    });
    let mut doc = PolicyDocument::from_json(&probe.to_string()).map_err(internal)?;
    doc.device_assurances.push(assurance.clone());
    doc.compile().map_err(|e| refuse(e.to_string()))?;
    Ok(assurance)
}

fn find_assurance(service: &Service, id: &str) -> Result<Option<DeviceAssurance>, ApiError> {
    Ok(PolicyStore::assurances(&service.settings.read())
        .map_err(internal)?
        .into_iter()
        .find(|a| a.id == id))
}

async fn list_assurances(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<DeviceAssurance>>, ApiError> {
    Ok(Json(
        PolicyStore::assurances(&service.settings.read()).map_err(internal)?,
    ))
}

async fn get_assurance(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<DeviceAssurance>, ApiError> {
    find_assurance(&service, &id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("DeviceAssurance", &id))
}

async fn create_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let a = assurance(&body(raw)?)?;
    if find_assurance(&service, &a.id)?.is_some() {
        return Err(ApiError::conflict(format!(
            "device assurance {} already exists: replace it with PUT",
            a.id
        )));
    }
    service
        .policies
        .put_assurance(&service.settings, a.clone())
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "device.assurance.create",
        "DeviceAssurance",
        &a.id,
        &a.name,
    );
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

async fn replace_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<DeviceAssurance>, ApiError> {
    let a = assurance(&body(raw)?)?;
    if a.id != id {
        return Err(ApiError::invalid("Api validation failed: device assurance")
            .with_cause("id must be the id in the path"));
    }
    if find_assurance(&service, &id)?.is_none() {
        return Err(ApiError::not_found("DeviceAssurance", &id));
    }
    service
        .policies
        .put_assurance(&service.settings, a.clone())
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "device.assurance.update",
        "DeviceAssurance",
        &id,
        &a.name,
    );
    Ok(Json(a))
}

async fn delete_assurance(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let Some(a) = find_assurance(&service, &id)? else {
        return Err(ApiError::not_found("DeviceAssurance", &id));
    };
    service
        .policies
        .delete_assurance(&service.settings, &id)
        .map_err(store_error)?;
    audit(
        &service,
        &admin,
        "device.assurance.delete",
        "DeviceAssurance",
        &id,
        &a.name,
    );
    Ok(StatusCode::NO_CONTENT)
}
