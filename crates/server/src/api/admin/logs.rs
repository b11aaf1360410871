//! `GET /api/v1/logs?since=&until=&filter=&limit=`: the device registry's
//! audit events (enrollments, lifecycle changes and refusals) merged with
//! the admin configuration changes, newest first, in the shape of Okta's
//! System Log events.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use devicetrust_devices::{AuditOutcome, DeviceId};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::search::{self, Clause};
use super::{now, query};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::admin_audit::{LogError, LogEvent, LogQuery as SystemLogQuery};

/// The default and largest `limit`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Without `since`, the last week, as Okta's System Log does.
const DEFAULT_WINDOW: Duration = Duration::days(7);

pub(super) fn routes() -> Router<Arc<Service>> {
    Router::new().route("/api/v1/logs", get(logs))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    since: Option<String>,
    until: Option<String>,
    filter: Option<String>,
    limit: Option<String>,
}

fn matches(event: &LogEvent, clauses: &[Clause]) -> bool {
    clauses.iter().all(|c| match c.field.as_str() {
        "eventType" => c.holds(&event.event_type()),
        "actor.id" => c.holds(event.actor()),
        _ => c.holds(event.target()),
    })
}

fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

/// An event in the shape of Okta's System Log.
fn render(event: &LogEvent) -> Value {
    match event {
        LogEvent::Admin(e) => json!({
            "uuid": e.id,
            "published": rfc3339(e.at),
            "eventType": e.event_type,
            "actor": {"id": e.actor, "type": "Token"},
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": e.target_id, "type": e.target_type}],
            "debugContext": {"debugData": e.details},
        }),
        LogEvent::Device(e) => {
            let (result, reason) = match &e.outcome {
                AuditOutcome::Applied => ("SUCCESS", None),
                AuditOutcome::Unchanged => ("SKIPPED", None),
                AuditOutcome::Refused { reason } => ("FAILURE", Some(reason.clone())),
                _ => ("UNKNOWN", None),
            };
            json!({
                "uuid": format!("dev{}", e.seq),
                "published": rfc3339(e.at),
                "eventType": event.event_type(),
                "actor": {"id": e.actor.as_str()},
                "outcome": {"result": result, "reason": reason},
                "target": [{"id": e.device_id.as_str(), "type": "Device"}],
                "debugContext": {"debugData": e},
            })
        }
        LogEvent::AuthFailure(e) => {
            // Folded: one event per source, credential, route and reason a
            // minute, with its count; a throttled request was refused
            // before its credential was looked at.
            let throttled = e.reason == crate::service::auth_failures::THROTTLED;
            json!({
                "uuid": e.id,
                "published": rfc3339(e.last),
                "eventType": event.event_type(),
                "severity": "WARN",
                "displayMessage": format!(
                    "{} {} from {}",
                    e.failures.max(e.throttled),
                    if throttled { "requests throttled" } else { "failed authentications" },
                    e.source
                ),
                "actor": {"id": e.source, "type": "IpAddress"},
                "client": {"ipAddress": e.source},
                "outcome": {
                    "result": if throttled { "DENY" } else { "FAILURE" },
                    "reason": e.reason,
                },
                "target": [{"id": e.route, "type": "Route"}],
                "debugContext": {"debugData": {
                    "credential": e.credential,
                    "failures": e.failures,
                    "throttled": e.throttled,
                    "firstSeen": rfc3339(e.first),
                    "lastSeen": rfc3339(e.last),
                }},
            })
        }
        _ => json!({"published": rfc3339(event.published()), "eventType": event.event_type()}),
    }
}

fn time_param(name: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            ApiError::invalid(format!("Api validation failed: {name}"))
                .with_cause(format!("{name} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

fn clauses(filter: Option<&str>) -> Result<Vec<Clause>, ApiError> {
    let refuse = |why: String| ApiError::invalid("Invalid filter expression").with_cause(why);
    let Some(filter) = filter else {
        return Ok(Vec::new());
    };
    let clauses = search::parse(filter).map_err(refuse)?;
    for c in &clauses {
        match (c.field.as_str(), c.op) {
            ("eventType", _) | ("target.id" | "actor.id", search::Op::Eq) => {}
            _ => {
                return Err(refuse(
                    "filterable: eventType (eq, sw), target.id (eq), actor.id (eq)".into(),
                ));
            }
        }
    }
    Ok(clauses)
}

async fn logs(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let q = query(q)?;
    let since = time_param("since", q.since.as_deref())?.unwrap_or(now() - DEFAULT_WINDOW);
    let until = time_param("until", q.until.as_deref())?;
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid("Api validation failed: limit")
                .with_cause(format!("limit must be a number from 1 to {MAX_LIMIT}")));
        }
    };
    let clauses = clauses(q.filter.as_deref())?;
    // A device id narrows the registry query; the clause is still applied.
    let device = clauses
        .iter()
        .find(|c| c.field == "target.id")
        .and_then(|c| DeviceId::new(c.value.clone()).ok());
    let keep = |event: &LogEvent| matches(event, &clauses);
    let events = service
        .system_log(&SystemLogQuery {
            since,
            until,
            limit,
            device,
            matches: &keep,
        })
        .map_err(|e| match e {
            LogError::TooManyEvents { .. } => ApiError::invalid("Too many events")
                .with_cause("narrow the window with since and until"),
            other => ApiError::from_error(&other),
        })?;
    Ok(Json(events.iter().map(render).collect()))
}
