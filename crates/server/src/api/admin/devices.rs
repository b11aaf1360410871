//! Okta's Devices API: list (search, limit, cursor with a `Link` header),
//! get, users, lifecycle operations, delete, and a user's devices.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::LINK;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use devicetrust_devices::{
    Actor, Cursor, Device, DeviceFilter, DeviceId, DeviceStatus, MAX_PAGE, Operation, PageRequest,
    Platform, UserId,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::search::{self, Clause};
use super::{now, query};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;

/// Pages of the registry one listing with a `displayName` filter may scan
/// before answering with what it found and a cursor to continue.
const MAX_SCANNED_PAGES: usize = 50;

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/devices", get(list))
        .route("/api/v1/devices/{id}", get(device).delete(delete))
        .route("/api/v1/devices/{id}/users", get(users))
        .route(
            "/api/v1/devices/{id}/lifecycle/{operation}",
            post(lifecycle),
        )
        .route("/api/v1/users/{id}/devices", get(user_devices))
}

/// Maps the registry's errors to the API's: refusals keep their evidence.
pub(super) fn store_error(e: devicetrust_store::Error) -> ApiError {
    ApiError::from_store(e)
}

fn device_id(id: &str) -> Result<DeviceId, ApiError> {
    // An id that cannot exist cannot be found.
    DeviceId::new(id).map_err(|_| ApiError::not_found("Device", id))
}

fn actor(admin: &Admin) -> Result<Actor, ApiError> {
    Actor::new(admin.token_id.clone()).map_err(|e| ApiError::internal(&e))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    search: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The registry filter, and the display-name clauses the registry cannot apply.
fn filter(search: Option<&str>) -> Result<(DeviceFilter, Vec<Clause>), ApiError> {
    let mut filter = DeviceFilter::default();
    let mut names = Vec::new();
    let Some(search) = search else {
        return Ok((filter, names));
    };
    let refuse = |why: String| ApiError::invalid("Invalid search expression").with_cause(why);
    for clause in search::parse(search).map_err(refuse)? {
        let exact = clause.op == search::Op::Eq;
        match clause.field.as_str() {
            "status" if exact && filter.status.is_none() => {
                let status =
                    DeviceStatus::from_str(&clause.value).map_err(|e| refuse(e.to_string()))?;
                filter.status = Some(status);
            }
            "profile.platform" if exact && filter.platform.is_none() => {
                let platform: Platform =
                    serde_json::from_value(serde_json::Value::String(clause.value.clone()))
                        .map_err(|_| {
                            refuse(
                        "profile.platform: expected one of ANDROID, IOS, MACOS, WINDOWS, CHROMEOS"
                            .into(),
                    )
                        })?;
                filter.platform = Some(platform);
            }
            "profile.displayName" => names.push(clause),
            "status" | "profile.platform" => {
                return Err(refuse(format!("{} takes one `eq` clause", clause.field)));
            }
            _ => {
                return Err(refuse(
                    "searchable: status, profile.platform (eq), profile.displayName (eq, sw)"
                        .into(),
                ));
            }
        }
    }
    Ok((filter, names))
}

fn limit(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(MAX_PAGE),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid("Api validation failed: limit")
                .with_cause(format!("limit must be a number from 1 to {MAX_PAGE}"))),
        },
    }
}

/// One page of devices and where the next starts. With display-name clauses
/// the registry's pages are filtered here, a bounded number per request.
fn page(
    service: &Service,
    filter: &DeviceFilter,
    names: &[Clause],
    after: Option<Cursor>,
    limit: usize,
) -> Result<(Vec<Device>, Option<Cursor>), ApiError> {
    if names.is_empty() {
        let page = service
            .registry
            .list(&service.org, filter, &PageRequest { after, limit })
            .map_err(store_error)?;
        return Ok((page.devices, page.next));
    }
    let mut found = Vec::new();
    let mut after = after;
    for _ in 0..MAX_SCANNED_PAGES {
        let page = service
            .registry
            .list(
                &service.org,
                filter,
                &PageRequest {
                    after: after.clone(),
                    limit: MAX_PAGE,
                },
            )
            .map_err(store_error)?;
        for device in page.devices {
            after = Some(Cursor::after(&device.id));
            if names.iter().all(|c| c.holds(&device.profile.display_name)) {
                found.push(device);
                if found.len() == limit {
                    return Ok((found, after));
                }
            }
        }
        if page.next.is_none() {
            return Ok((found, None));
        }
    }
    Ok((found, after))
}

fn next_link(service: &Service, q: &ListQuery, limit: usize, next: &Cursor) -> Option<HeaderValue> {
    let base = service.options.base_url.trim_end_matches('/');
    let mut url = format!(
        "{base}/api/v1/devices?limit={limit}&after={}",
        utf8_percent_encode(next.as_str(), NON_ALPHANUMERIC)
    );
    if let Some(search) = &q.search {
        url.push_str("&search=");
        url.extend(utf8_percent_encode(search, NON_ALPHANUMERIC));
    }
    HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).ok()
}

async fn list(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (filter, names) = filter(q.search.as_deref())?;
    let limit = limit(q.limit.as_deref())?;
    let after = q
        .after
        .as_deref()
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| ApiError::from_store(e.into()))?;
    let (devices, next) = page(&service, &filter, &names, after, limit)?;
    let mut response = Json(devices).into_response();
    if let Some(link) = next.and_then(|n| next_link(&service, &q, limit, &n)) {
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

async fn device(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Device>, ApiError> {
    let id = device_id(&id)?;
    service
        .registry
        .device(&service.org, &id)
        .map(Json)
        .map_err(store_error)
}

async fn users(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = device_id(&id)?;
    let users = service
        .registry
        .users(&service.org, &id)
        .map_err(store_error)?;
    Ok(Json(users).into_response())
}

async fn lifecycle(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path((id, operation)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let operation = match operation.as_str() {
        "suspend" => Operation::Suspend,
        "unsuspend" => Operation::Unsuspend,
        "deactivate" => Operation::Deactivate,
        "activate" => Operation::Activate,
        _ => {
            return Err(ApiError::invalid("Unknown lifecycle operation")
                .with_cause("use suspend, unsuspend, deactivate or activate".to_owned()));
        }
    };
    let id = device_id(&id)?;
    service
        .registry
        .transition(&service.org, &actor(&admin)?, &id, operation, now())
        .map_err(store_error)?;
    tracing::info!(device = %id, %operation, actor = %admin.token_id, "device lifecycle");
    Ok(Json(serde_json::json!({})).into_response())
}

async fn delete(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&id)?;
    service
        .registry
        .transition(&service.org, &actor(&admin)?, &id, Operation::Delete, now())
        .map_err(store_error)?;
    service.forget_device_signals(id.as_str());
    tracing::info!(device = %id, actor = %admin.token_id, "device deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Okta has a `deviceUserId` per link; ours is derived from the pair, so
/// it is stable without being stored.
fn device_user_id(device: &DeviceId, user: &UserId) -> String {
    let mut h = Sha256::new();
    h.update(device.as_str().as_bytes());
    h.update([0]);
    h.update(user.as_str().as_bytes());
    format!(
        "dvu{}",
        hex::encode(h.finalize().get(..10).unwrap_or_default())
    )
}

async fn user_devices(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = UserId::new(id).map_err(|e| ApiError::from_store(e.into()))?;
    let devices = service
        .registry
        .user_devices(&service.org, &user)
        .map_err(store_error)?;
    let mut out = Vec::with_capacity(devices.len());
    for device in devices {
        let created = service
            .registry
            .users(&service.org, &device.id)
            .map_err(store_error)?
            .into_iter()
            .find(|link| link.user.id == user)
            .map_or(device.created, |link| link.created);
        out.push(serde_json::json!({
            "created": created.format(&time::format_description::well_known::Rfc3339).ok(),
            "deviceUserId": device_user_id(&device.id, &user),
            "device": device,
        }));
    }
    Ok(Json(out).into_response())
}
