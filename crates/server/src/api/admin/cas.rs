//! Uploaded CAs (`/api/v1/certificate-authorities`), the intermediate to
//! download, and the public CRL.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::integrations::integration_error;
use super::{body, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::uploaded_cas::StoredCa;

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/certificate-authorities", get(list).post(upload))
        .route(
            "/api/v1/certificate-authorities/{id}",
            delete(remove).get(one),
        )
        .route("/api/v1/pki/intermediate", get(intermediate))
}

/// Routes without authentication: relying parties fetch the CRL.
pub(super) fn public_routes() -> Router<Arc<Service>> {
    Router::new().route("/pki/crl", get(crl))
}

fn view(ca: &StoredCa) -> Result<Value, ApiError> {
    let d = ca.details().map_err(|e| ApiError::internal(&e))?;
    Ok(json!({
        "id": ca.id,
        "subject": d.subject,
        "issuer": d.issuer,
        "sha256": d.fingerprint,
        "serial": d.serial,
        "notBefore": d.not_before.format(&Rfc3339).ok(),
        "notAfter": d.not_after.format(&Rfc3339).ok(),
        "key": d.key,
        "selfIssued": d.self_issued,
        "created": ca.created.format(&Rfc3339).ok(),
    }))
}

async fn upload(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let raw = body(raw)?;
    let stored = service
        .upload_ca(&raw, &admin.token_id, now())
        .map_err(integration_error)?;
    let mut views = stored
        .iter()
        .map(|(ca, _)| view(ca))
        .collect::<Result<Vec<_>, _>>()?;
    tracing::info!(actor = %admin.token_id, count = views.len(), "certificate authorities uploaded");
    // One certificate answers as one object, as docs/api.md shows; a bundle as a list.
    let body = match views.len() {
        1 => views.pop().unwrap_or_default(),
        _ => Value::Array(views),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<Value>>, ApiError> {
    let all = service.list_cas().map_err(|e| ApiError::from_error(&e))?;
    Ok(Json(all.iter().map(view).collect::<Result<_, _>>()?))
}

async fn one(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ca = service.uploaded_ca(&id).map_err(integration_error)?;
    Ok(Json(view(&ca)?))
}

async fn remove(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service
        .delete_ca(&id, &admin.token_id, now())
        .map_err(integration_error)?;
    tracing::info!(actor = %admin.token_id, %id, "certificate authority deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn intermediate(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let pem = service
        .intermediate_pem()
        .map_err(|e| ApiError::internal(&e))?;
    Ok(([(CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

async fn crl(State(service): State<Arc<Service>>) -> Result<Response, ApiError> {
    let der = service
        .current_crl(now())
        .map_err(|e| ApiError::from_error(&e))?;
    Ok((
        [
            (CONTENT_TYPE, "application/pkix-crl"),
            (CACHE_CONTROL, "no-cache"),
        ],
        der.as_ref().clone(),
    )
        .into_response())
}
