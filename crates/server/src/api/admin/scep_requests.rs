//! SCEP requests held for approval (docs/api.md, "SCEP requests held for
//! approval"). Okta has no such route: the shapes follow its conventions
//! (camelCase, `status`, `lifecycle/{operation}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use devicetrust_pki::scep::PendingRequest;
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::{body, json as parse_json, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;

/// The longest rejection reason kept (it is stored with the transaction and audited).
const MAX_REASON: usize = 512;

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/device-integrations/{id}/scep-requests", get(list))
        .route(
            "/api/v1/device-integrations/{id}/scep-requests/{transaction}/lifecycle/{operation}",
            post(lifecycle),
        )
}

fn view(request: &PendingRequest) -> Value {
    json!({
        "transactionId": request.transaction_id,
        "status": "PENDING",
        "subject": request.subject,
        "publicKeySha256": request.key_sha256,
        "created": request.created.format(&Rfc3339).ok(),
    })
}

async fn list(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pending = service
        .pending_scep_requests(&id)
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(Json(Value::Array(pending.iter().map(view).collect())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RejectBody {
    reason: Option<String>,
}

async fn lifecycle(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path((id, transaction, operation)): Path<(String, String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let raw = body(raw)?;
    let actor = &admin.token_id;
    match operation.as_str() {
        "approve" => {
            if !raw.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::invalid(
                    "Api validation failed: approve takes no body",
                ));
            }
            let approved = service
                .approve_scep_request(&id, &transaction, actor, now())
                .map_err(|e| ApiError::from_error(&e))?;
            tracing::info!(actor = %actor, integration = %id, transaction_id = %transaction,
                serial = %approved.serial, "scep request approved");
            Ok(Json(json!({
                "transactionId": approved.transaction_id,
                "status": "ISSUED",
                "subject": approved.subject,
                "serialNumber": approved.serial,
                "notAfter": approved.not_after.format(&Rfc3339).ok(),
            })))
        }
        "reject" => {
            let reject: RejectBody = if raw.iter().all(u8::is_ascii_whitespace) {
                RejectBody::default()
            } else {
                parse_json(&raw)?
            };
            let reason = reject
                .reason
                .unwrap_or_else(|| "rejected by an admin".to_owned());
            if reason.len() > MAX_REASON || reason.chars().any(char::is_control) {
                return Err(
                    ApiError::invalid("Api validation failed: reason").with_cause(format!(
                        "reason must be at most {MAX_REASON} bytes, without control characters"
                    )),
                );
            }
            service
                .reject_scep_request(&id, &transaction, &reason, actor, now())
                .map_err(|e| ApiError::from_error(&e))?;
            tracing::info!(actor = %actor, integration = %id, transaction_id = %transaction,
                "scep request rejected");
            Ok(Json(json!({
                "transactionId": transaction,
                "status": "REJECTED",
                "reason": reason,
            })))
        }
        _ => Err(ApiError::invalid("Unknown lifecycle operation")
            .with_cause("use approve or reject".to_owned())),
    }
}
