//! Device integrations ("Security > Device Integrations"): add a desktop
//! platform (our CA over SCEP, or uploaded CAs) or a mobile one, list and
//! get them without secrets, reset a secret, activate and deactivate.

use zeroize::Zeroizing;

use crate::service::NewChallenge;
use crate::service::intune::IntuneSettings;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use devicetrust_attestation::ConfigurationId;
use devicetrust_pki::scep::{ContentEncryption, ScepConfig};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::{body, json as parse_json, json_body, now};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::integrations::{
    IntegrationError, IntegrationKind, IntegrationPlatform, NewSecret, StoredIntegration,
};

/// The longest grace period for an old mobile secret key: 30 days.
const MAX_GRACE_MINUTES: i64 = 30 * 24 * 60;

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/device-integrations", get(list).post(create))
        .route("/api/v1/device-integrations/{id}", get(one))
        .route(
            "/api/v1/device-integrations/{id}/lifecycle/{operation}",
            post(lifecycle),
        )
}

/// Maps integration errors to the API's.
pub(super) fn integration_error(e: IntegrationError) -> ApiError {
    match e {
        IntegrationError::NotFound { what, id } => ApiError::not_found(what, &id),
        IntegrationError::Invalid(why) => {
            ApiError::invalid("Api validation failed: device integration").with_cause(why)
        }
        IntegrationError::Upload(u) => ApiError::invalid("Api validation failed: certificate")
            .with_cause(format!("{}: {u}", u.kind())),
        other => ApiError::from_error(&other),
    }
}

/// `challenge`. No derived `Debug`: it may hold Intune's client secret.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChallengeBody {
    #[serde(rename = "type")]
    kind: String,
    /// INTUNE: the Entra ID tenant.
    tenant: Option<String>,
    /// INTUNE: the application's client ID.
    client_id: Option<String>,
    /// INTUNE: the application's client secret (kept in a 0600 file, never returned).
    client_secret: Option<Zeroizing<String>>,
    /// INTUNE: Entra ID's authority, when not Microsoft's public one.
    authority_url: Option<String>,
    /// INTUNE: Microsoft Graph, when not the public one.
    graph_url: Option<String>,
    /// INTUNE: a fixed validation-service URL (skips discovery).
    service_url: Option<String>,
    /// INTUNE: the resource tokens are asked for, when not Intune's public one.
    intune_resource_url: Option<String>,
}

impl std::fmt::Debug for ChallengeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeBody")
            .field("kind", &self.kind)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The Intune challenge a body asks for, checked.
fn intune_challenge(c: &ChallengeBody) -> Result<NewChallenge, ApiError> {
    let required = |v: &Option<String>, name: &str| {
        v.clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| refuse(format!("challenge.{name} is required for INTUNE")))
    };
    let mut settings = IntuneSettings::new(
        required(&c.tenant, "tenant")?,
        required(&c.client_id, "clientId")?,
    );
    if let Some(url) = &c.authority_url {
        settings.authority_url = url.clone();
    }
    if let Some(url) = &c.graph_url {
        settings.graph_url = url.clone();
    }
    if let Some(url) = &c.intune_resource_url {
        settings.intune_resource_url = url.clone();
    }
    settings.service_url = c.service_url.clone();
    let client_secret = c
        .client_secret
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| refuse("challenge.clientSecret is required for INTUNE"))?;
    Ok(NewChallenge::Intune {
        settings,
        client_secret,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScepBody {
    #[serde(default)]
    allow_sha1: bool,
    #[serde(default)]
    allow_des: bool,
    #[serde(default)]
    manual_approval: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateBody {
    platform: IntegrationPlatform,
    ca: Option<String>,
    challenge: Option<ChallengeBody>,
    scep: Option<ScepBody>,
    provider_name: Option<String>,
    enrollment_link: Option<String>,
}

fn refuse(why: impl Into<String>) -> ApiError {
    ApiError::invalid("Api validation failed: device integration").with_cause(why.into())
}

fn scep_config(body: Option<ScepBody>) -> ScepConfig {
    let body = body.unwrap_or_default();
    let mut config = ScepConfig::default();
    config.policy.key_policy.allow_sha1 = body.allow_sha1;
    if body.allow_des {
        config.policy.minimum_encryption = ContentEncryption::DesCbc;
    }
    config.manual_approval = body.manual_approval;
    config
}

fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

/// An integration as listed: never a secret.
fn view(i: &StoredIntegration, now: OffsetDateTime) -> Value {
    let mut v = json!({
        "id": i.id,
        "platform": i.platform,
        "status": if i.active { "ACTIVE" } else { "INACTIVE" },
        "created": rfc3339(i.created),
        "configurationId": ConfigurationId(i.configuration_id).to_string(),
    });
    let extra = match &i.kind {
        IntegrationKind::Scep {
            challenge,
            scep_url,
            challenge_url,
        } => json!({
            "ca": "OKTA",
            "challenge": {"type": challenge},
            "scepUrl": scep_url,
            "challengeUrl": challenge_url,
        }),
        IntegrationKind::Uploaded => json!({"ca": "UPLOADED"}),
        IntegrationKind::Mobile {
            provider_name,
            enrollment_link,
            hint,
        } => json!({
            "providerName": provider_name,
            "enrollmentLink": enrollment_link,
            "managementHint": {
                "previousKeyValidUntil": hint.grace_until(now).and_then(rfc3339),
            },
        }),
    };
    if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
        base.extend(extra.into_iter().filter(|(_, value)| !value.is_null()));
    }
    v
}

async fn create(
    State(service): State<Arc<Service>>,
    admin: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: CreateBody = json_body(raw)?;
    let now = now();
    let actor = &admin.token_id;
    let body = if b.platform.is_desktop() {
        if b.provider_name.is_some() || b.enrollment_link.is_some() {
            return Err(refuse(
                "providerName and enrollmentLink are for ANDROID and IOS",
            ));
        }
        match b.ca.as_deref().unwrap_or("OKTA") {
            "OKTA" => {
                let challenge = match b.challenge.as_ref() {
                    Some(c) if c.kind == "STATIC" || c.kind == "DYNAMIC" => {
                        if c.tenant.is_some() || c.client_id.is_some() || c.client_secret.is_some()
                        {
                            return Err(refuse("tenant, clientId and clientSecret are for INTUNE"));
                        }
                        if c.kind == "STATIC" {
                            NewChallenge::Static
                        } else {
                            NewChallenge::Dynamic
                        }
                    }
                    Some(c) if c.kind == "INTUNE" => intune_challenge(c)?,
                    Some(_) => return Err(refuse("challenge.type: STATIC, DYNAMIC or INTUNE")),
                    None => return Err(refuse("challenge is required with ca OKTA")),
                };
                let (stored, new) = service
                    .add_scep_integration(b.platform, challenge, scep_config(b.scep), actor, now)
                    .map_err(integration_error)?;
                let mut v = view(&stored, now);
                if let Value::Object(m) = &mut v {
                    for (key, value) in [
                        ("secretKey", new.secret_key),
                        ("username", new.username),
                        ("password", new.password),
                    ] {
                        if let Some(value) = value {
                            m.insert(key.to_owned(), Value::String(value));
                        }
                    }
                }
                v
            }
            "UPLOADED" => {
                if b.challenge.is_some() || b.scep.is_some() {
                    return Err(refuse(
                        "challenge and scep are for ca OKTA: uploaded CAs are not served over SCEP",
                    ));
                }
                let stored = service
                    .add_uploaded_integration(b.platform, actor, now)
                    .map_err(integration_error)?;
                view(&stored, now)
            }
            _ => return Err(refuse("ca: OKTA or UPLOADED")),
        }
    } else {
        if b.ca.is_some() || b.challenge.is_some() || b.scep.is_some() {
            return Err(refuse("ca, challenge and scep are for MACOS and WINDOWS"));
        }
        let provider = b
            .provider_name
            .ok_or_else(|| refuse("providerName is required"))?;
        let link = b
            .enrollment_link
            .ok_or_else(|| refuse("enrollmentLink is required"))?;
        let (stored, secret) = service
            .add_mobile_integration(b.platform, &provider, &link, actor, now)
            .map_err(integration_error)?;
        let mut v = view(&stored, now);
        if let Value::Object(m) = &mut v {
            m.insert(
                "managementHint".into(),
                json!({"secretKey": secret.expose()}),
            );
        }
        v
    };
    let id = body.get("id").cloned().unwrap_or_default();
    tracing::info!(actor = %admin.token_id, %id, "device integration added");
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list(
    State(service): State<Arc<Service>>,
    _admin: Admin,
) -> Result<Json<Vec<Value>>, ApiError> {
    let now = now();
    let all = service
        .list_integrations()
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(Json(all.iter().map(|i| view(i, now)).collect()))
}

async fn one(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let stored = service.integration(&id).map_err(integration_error)?;
    Ok(Json(view(&stored, now())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResetBody {
    grace_period_minutes: Option<i64>,
}

async fn lifecycle(
    State(service): State<Arc<Service>>,
    admin: Admin,
    Path((id, operation)): Path<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let now = now();
    let actor = &admin.token_id;
    let raw = body(raw)?;
    let stored = match operation.as_str() {
        "activate" | "deactivate" => service
            .set_integration_active(&id, operation == "activate", actor, now)
            .map_err(integration_error)?,
        "resetSecret" => {
            let reset: ResetBody = if raw.iter().all(u8::is_ascii_whitespace) {
                ResetBody::default()
            } else {
                parse_json(&raw)?
            };
            let grace = match reset.grace_period_minutes {
                None | Some(0) => None,
                Some(m) if (1..=MAX_GRACE_MINUTES).contains(&m) => Some(Duration::minutes(m)),
                Some(_) => {
                    return Err(refuse(format!(
                        "gracePeriodMinutes must be from 0 to {MAX_GRACE_MINUTES}"
                    )));
                }
            };
            let (stored, secret) = service
                .reset_integration_secret(&id, grace, actor, now)
                .map_err(integration_error)?;
            tracing::info!(actor = %admin.token_id, %id, "device integration secret reset");
            let mut v = view(&stored, now);
            if let Value::Object(m) = &mut v {
                match secret {
                    NewSecret::Mobile {
                        secret,
                        previous_valid_until,
                    } => {
                        m.insert(
                            "managementHint".into(),
                            json!({
                                "secretKey": secret.expose(),
                                "previousKeyValidUntil": previous_valid_until.and_then(rfc3339),
                            }),
                        );
                    }
                    NewSecret::Static { secret } => {
                        m.insert("secretKey".into(), Value::String(secret.to_string()));
                    }
                }
            }
            return Ok(Json(v).into_response());
        }
        _ => {
            return Err(ApiError::invalid("Unknown lifecycle operation")
                .with_cause("use activate, deactivate or resetSecret".to_owned()));
        }
    };
    tracing::info!(actor = %admin.token_id, %id, %operation, "device integration");
    Ok(Json(view(&stored, now)).into_response())
}
