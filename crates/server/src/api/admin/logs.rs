//! `GET /api/v1/logs?since=&until=&filter=&limit=`: the device registry's
//! audit events (enrollments, lifecycle changes and refusals) merged with
//! the admin configuration changes, newest first, in the shape of Okta's
//! System Log events.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use devicetrust_devices::{AuditAction, AuditEvent, AuditOutcome, AuditQuery, DeviceId, MAX_PAGE};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::devices::store_error;
use super::search::{self, Clause};
use super::{now, query};
use crate::api::ApiError;
use crate::api::auth::Admin;
use crate::service::Service;
use crate::service::admin_audit::AdminEvent;

/// The default and largest `limit`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Without `since`, the last week, as Okta's System Log does.
const DEFAULT_WINDOW: Duration = Duration::days(7);
/// Registry pages one request may read; past it the caller must narrow the window.
const MAX_SCANNED_PAGES: usize = 250;

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

/// One event in the response, before it is rendered.
struct Entry {
    published: OffsetDateTime,
    json: Value,
    event_type: String,
    actor: String,
    target: String,
}

impl Entry {
    fn matches(&self, clauses: &[Clause]) -> bool {
        clauses.iter().all(|c| match c.field.as_str() {
            "eventType" => c.holds(&self.event_type),
            "actor.id" => c.holds(&self.actor),
            _ => c.holds(&self.target),
        })
    }
}

fn rfc3339(t: OffsetDateTime) -> Option<String> {
    t.format(&Rfc3339).ok()
}

fn device_entry(e: &AuditEvent) -> Entry {
    let event_type = match &e.action {
        AuditAction::Enroll { .. } => "device.enrollment.create".to_owned(),
        AuditAction::Lifecycle { operation } => format!("device.lifecycle.{}", operation.name()),
        _ => "device.other".to_owned(),
    };
    let (result, reason) = match &e.outcome {
        AuditOutcome::Applied => ("SUCCESS", None),
        AuditOutcome::Unchanged => ("SKIPPED", None),
        AuditOutcome::Refused { reason } => ("FAILURE", Some(reason.clone())),
        _ => ("UNKNOWN", None),
    };
    let json = json!({
        "uuid": format!("dev{}", e.seq),
        "published": rfc3339(e.at),
        "eventType": event_type,
        "actor": {"id": e.actor.as_str()},
        "outcome": {"result": result, "reason": reason},
        "target": [{"id": e.device_id.as_str(), "type": "Device"}],
        "debugContext": {"debugData": e},
    });
    Entry {
        published: e.at,
        json,
        event_type,
        actor: e.actor.as_str().to_owned(),
        target: e.device_id.as_str().to_owned(),
    }
}

fn admin_entry(e: AdminEvent) -> Entry {
    let json = json!({
        "uuid": e.id,
        "published": rfc3339(e.at),
        "eventType": e.event_type,
        "actor": {"id": e.actor, "type": "Token"},
        "outcome": {"result": "SUCCESS"},
        "target": [{"id": e.target_id, "type": e.target_type}],
        "debugContext": {"debugData": e.details},
    });
    Entry {
        published: e.at,
        json,
        event_type: e.event_type,
        actor: e.actor,
        target: e.target_id,
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

/// Keeps the newest `limit` of what it is given, oldest dropped first.
fn keep(newest: &mut VecDeque<Entry>, entry: Entry, limit: usize) {
    newest.push_back(entry);
    if newest.len() > limit {
        newest.pop_front();
    }
}

async fn logs(
    State(service): State<Arc<Service>>,
    _admin: Admin,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let q = query(q)?;
    let now = now();
    let since = time_param("since", q.since.as_deref())?.unwrap_or(now - DEFAULT_WINDOW);
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
    // A device id narrows the registry query; the clause is still applied below.
    let device_id = clauses
        .iter()
        .find(|c| c.field == "target.id")
        .and_then(|c| DeviceId::new(c.value.clone()).ok());
    let in_window = |t: OffsetDateTime| t >= since && until.is_none_or(|u| t < u);

    let mut device_events = VecDeque::new();
    let mut after_seq = None;
    let mut pages = 0;
    loop {
        if pages == MAX_SCANNED_PAGES {
            return Err(ApiError::invalid("Too many events")
                .with_cause("narrow the window with since and until".to_owned()));
        }
        pages += 1;
        let page = service
            .device_audit(&AuditQuery {
                device_id: device_id.clone(),
                since: Some(since),
                until,
                after_seq,
                limit: MAX_PAGE,
                ..AuditQuery::default()
            })
            .map_err(store_error)?;
        let done = page.len() < MAX_PAGE;
        after_seq = page.last().map(|e| e.seq).or(after_seq);
        for event in &page {
            let entry = device_entry(event);
            if entry.matches(&clauses) {
                keep(&mut device_events, entry, limit);
            }
        }
        if done {
            break;
        }
    }
    let admin_events = service
        .admin_events()
        .map_err(|e| ApiError::from_error(&e))?
        .into_iter()
        .filter(|e| in_window(e.at))
        .map(admin_entry)
        .filter(|e| e.matches(&clauses));
    let mut all: Vec<Entry> = device_events.into_iter().chain(admin_events).collect();
    // Newest first; stable, so events at the same instant keep their log order reversed.
    all.reverse();
    all.sort_by_key(|e| std::cmp::Reverse(e.published));
    all.truncate(limit);
    Ok(Json(all.into_iter().map(|e| e.json).collect()))
}
