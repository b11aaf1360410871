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
    Actor, Cursor, DeviceFilter, DeviceId, DeviceStatus, MAX_PAGE, Operation, Platform, UserId,
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::okta_device::{Embedded, OktaDevice};
use super::search::{self, Clause};
use super::{now, query};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::devices::UserDevice;

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
    expand: Option<String>,
}

/// `expand=user` or `expand=userSummary`: each device with its users in
/// `_embedded.users`. We know users by id only, so both give the same.
fn expands_users(expand: Option<&str>) -> Result<bool, ApiError> {
    match expand {
        None => Ok(false),
        Some("user" | "userSummary") => Ok(true),
        Some(other) => Err(ApiError::invalid("Api validation failed: expand")
            .with_cause(format!("expand is user or userSummary, not {other:?}"))),
    }
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

fn next_link(service: &Service, q: &ListQuery, limit: usize, next: &Cursor) -> Option<HeaderValue> {
    let base = service.options().base_url.trim_end_matches('/');
    let mut url = format!(
        "{base}/api/v1/devices?limit={limit}&after={}",
        utf8_percent_encode(next.as_str(), NON_ALPHANUMERIC)
    );
    if let Some(search) = &q.search {
        url.push_str("&search=");
        url.extend(utf8_percent_encode(search, NON_ALPHANUMERIC));
    }
    if let Some(expand) = &q.expand {
        url.push_str("&expand=");
        url.extend(utf8_percent_encode(expand, NON_ALPHANUMERIC));
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
    let expand = expands_users(q.expand.as_deref())?;
    let after = q
        .after
        .as_deref()
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| ApiError::from_store(e.into()))?;
    let matches = |name: &str| names.iter().all(|c| c.holds(name));
    let by_name: Option<&dyn Fn(&str) -> bool> = (!names.is_empty()).then_some(&matches);
    let page = service
        .list_devices(&filter, by_name, after, limit)
        .map_err(store_error)?;
    let users: Vec<Option<Embedded>> = if expand {
        service
            .users_of_each(&page.devices)
            .map_err(store_error)?
            .into_iter()
            .map(|users| Some(Embedded { users }))
            .collect()
    } else {
        page.devices.iter().map(|_| None).collect()
    };
    let base = &service.options().base_url;
    let listed: Vec<OktaDevice<'_>> = page
        .devices
        .iter()
        .zip(users)
        .map(|(device, embedded)| OktaDevice::new(device, base, embedded))
        .collect();
    let mut response = Json(listed).into_response();
    if let Some(link) = page.next.and_then(|n| next_link(&service, &q, limit, &n)) {
        response.headers_mut().insert(LINK, link);
    }
    Ok(response)
}

async fn device(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = device_id(&id)?;
    let device = service.device(&id).map_err(store_error)?;
    Ok(Json(OktaDevice::new(&device, &service.options().base_url, None)).into_response())
}

async fn users(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = device_id(&id)?;
    let users = service.device_users(&id).map_err(store_error)?;
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
        .transition_device(&actor(&admin)?, &id, operation, now())
        .map_err(store_error)?;
    // Okta's Devices API answers every lifecycle operation with 204.
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&id)?;
    service
        .transition_device(&actor(&admin)?, &id, Operation::Delete, now())
        .map_err(store_error)?;
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
    let devices = service.user_devices(&user).map_err(store_error)?;
    let mut out = Vec::with_capacity(devices.len());
    for UserDevice {
        device,
        linked: created,
    } in devices
    {
        out.push(serde_json::json!({
            "created": created.format(&time::format_description::well_known::Rfc3339).ok(),
            "deviceUserId": device_user_id(&device.id, &user),
            "device": OktaDevice::new(&device, &service.options().base_url, None),
        }));
    }
    Ok(Json(out).into_response())
}
