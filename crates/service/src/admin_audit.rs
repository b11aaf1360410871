//! The admin audit log: configuration changes (integrations, CAs, policies,
//! device assurances, token rotations), which the device registry's audit
//! model (one device per event) cannot hold.
//!
//! Events live in their own section of the settings file, recorded in the
//! same atomic update as the change they describe when possible, and only
//! the newest [`MAX_EVENTS`] are kept, so the file stays small. Secrets
//! never enter an event: only IDs, names and kinds.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::settings::Settings;
use crate::DataError;

const SECTION: &str = "adminAudit";

/// The most admin events kept; older ones are dropped first.
pub const MAX_EVENTS: usize = 1000;

/// One admin configuration change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminEvent {
    /// A random ID.
    pub id: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: the ID of the admin token used (never the token).
    pub actor: String,
    /// What, in Okta's System Log style (`device.integration.create`, ...).
    pub event_type: String,
    /// The kind of object changed (`DeviceIntegration`, `CertificateAuthority`, ...).
    pub target_type: String,
    /// Its ID.
    pub target_id: String,
    /// Non-secret details (platform, names).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl AdminEvent {
    /// An event at `at` by `actor`, with a fresh random ID.
    pub fn new(
        at: OffsetDateTime,
        actor: &str,
        event_type: &str,
        target_type: &str,
        target_id: &str,
    ) -> Result<Self, DataError> {
        let mut raw = [0u8; 10];
        getrandom::fill(&mut raw)
            .map_err(|e| DataError::Pki(devicetrust_pki::Error::Random(e.to_string())))?;
        Ok(Self {
            id: format!("adm{}", hex::encode(raw)),
            at,
            actor: actor.to_owned(),
            event_type: event_type.to_owned(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            details: serde_json::Value::Null,
        })
    }

    /// The same event with `details`.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The stored admin events, oldest first.
pub fn events(settings: &Settings) -> Result<Vec<AdminEvent>, DataError> {
    settings.section(SECTION)
}

/// Appends `event` inside a settings update, dropping the oldest past [`MAX_EVENTS`].
pub fn push(settings: &mut Settings, event: AdminEvent) -> Result<(), DataError> {
    let mut all = events(settings)?;
    all.push(event);
    let excess = all.len().saturating_sub(MAX_EVENTS);
    all.drain(..excess);
    settings.set_section(SECTION, &all)
}

/// Registry pages one System Log query may read; past it the caller must
/// narrow the window.
const MAX_SCANNED_PAGES: usize = 250;

/// One System Log event: a device registry audit event or an admin
/// configuration change.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LogEvent {
    /// An enrollment, a lifecycle change or a refusal, from the registry.
    Device(devicetrust_devices::AuditEvent),
    /// A configuration change through the admin API or the CLI.
    Admin(AdminEvent),
    /// Failed authentications from one source, folded.
    AuthFailure(crate::auth_failures::AuthFailureRecord),
}

impl LogEvent {
    /// When it happened.
    pub fn published(&self) -> OffsetDateTime {
        match self {
            Self::Device(e) => e.at,
            Self::Admin(e) => e.at,
            Self::AuthFailure(e) => e.last,
        }
    }

    /// Okta's event type (`device.lifecycle.suspend`, `policy.create`, ...).
    pub fn event_type(&self) -> std::borrow::Cow<'_, str> {
        use devicetrust_devices::AuditAction;
        match self {
            Self::Device(e) => match &e.action {
                AuditAction::Enroll { .. } => "device.enrollment.create".into(),
                AuditAction::Lifecycle { operation } => {
                    format!("device.lifecycle.{}", operation.name()).into()
                }
                _ => "device.other".into(),
            },
            Self::Admin(e) => e.event_type.as_str().into(),
            Self::AuthFailure(e) => {
                crate::auth_failures::Credential::event_type(&e.credential).into()
            }
        }
    }

    /// Who did it: an admin token's ID, the registry's actor, or the
    /// source address of failed authentications.
    pub fn actor(&self) -> &str {
        match self {
            Self::Device(e) => e.actor.as_str(),
            Self::Admin(e) => &e.actor,
            Self::AuthFailure(e) => &e.source,
        }
    }

    /// What it happened to: a device ID, the changed object's ID, or the
    /// route a failed authentication tried.
    pub fn target(&self) -> &str {
        match self {
            Self::Device(e) => e.device_id.as_str(),
            Self::Admin(e) => &e.target_id,
            Self::AuthFailure(e) => &e.route,
        }
    }
}

/// A System Log query.
pub struct LogQuery<'a> {
    /// From (inclusive).
    pub since: OffsetDateTime,
    /// To (exclusive); open when `None`.
    pub until: Option<OffsetDateTime>,
    /// The most events answered (the newest).
    pub limit: usize,
    /// Only this device's registry events (admin events are kept to `matches`).
    pub device: Option<devicetrust_devices::DeviceId>,
    /// Which events to keep.
    pub matches: &'a dyn Fn(&LogEvent) -> bool,
}

/// Why a System Log query was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The window holds more registry events than one query may scan.
    #[error("more than {pages} pages of events in the window: narrow it with since and until")]
    TooManyEvents {
        /// The pages scanned.
        pages: usize,
    },
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] devicetrust_store::Error),
    /// The settings failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl devicetrust_errors::HasKind for LogError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        match self {
            Self::TooManyEvents { .. } => devicetrust_errors::ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Data(e) => e.kind(),
        }
    }
}

/// The audit log use cases (Okta's System Log reads both trails).
impl crate::Service {
    /// The newest `query.limit` events of both trails in the window that
    /// `query.matches` keeps, newest first. The registry is read a bounded
    /// number of pages.
    pub fn system_log(&self, query: &LogQuery<'_>) -> Result<Vec<LogEvent>, LogError> {
        use devicetrust_devices::{AuditQuery, MAX_PAGE};
        let in_window = |t: OffsetDateTime| t >= query.since && query.until.is_none_or(|u| t < u);
        let mut newest = std::collections::VecDeque::new();
        let mut after_seq = None;
        for pages in 0.. {
            if pages == MAX_SCANNED_PAGES {
                return Err(LogError::TooManyEvents { pages });
            }
            let page = self.registry.audit(
                &self.org,
                &AuditQuery {
                    device_id: query.device.clone(),
                    since: Some(query.since),
                    until: query.until,
                    after_seq,
                    limit: MAX_PAGE,
                    ..AuditQuery::default()
                },
            )?;
            let done = page.len() < MAX_PAGE;
            after_seq = page.last().map(|e| e.seq).or(after_seq);
            for event in page.into_iter().map(LogEvent::Device) {
                if (query.matches)(&event) {
                    newest.push_back(event);
                    if newest.len() > query.limit {
                        newest.pop_front();
                    }
                }
            }
            if done {
                break;
            }
        }
        let admin = events(&self.settings.read())?
            .into_iter()
            .filter(|e| in_window(e.at))
            .map(LogEvent::Admin)
            .filter(|e| (query.matches)(e));
        // Folded, and bounded in the store: reading them all is bounded too.
        let failures = self
            .auth_failures
            .stored(query.since, query.until, crate::auth_failures::MAX_RECORDS)?
            .into_iter()
            .map(LogEvent::AuthFailure)
            .filter(|e| (query.matches)(e));
        let mut all: Vec<LogEvent> = newest.into_iter().chain(admin).chain(failures).collect();
        // Newest first; stable, so events at one instant keep their log order reversed.
        all.reverse();
        all.sort_by_key(|e| std::cmp::Reverse(e.published()));
        all.truncate(query.limit);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_events_are_kept() {
        let mut settings = Settings::default();
        let now = OffsetDateTime::now_utc();
        for i in 0..MAX_EVENTS + 5 {
            let e = AdminEvent::new(now, "tok1", "x.y", "T", &i.to_string()).unwrap();
            push(&mut settings, e).unwrap();
        }
        let all = events(&settings).unwrap();
        assert_eq!(all.len(), MAX_EVENTS);
        assert_eq!(all[0].target_id, "5");
        assert_eq!(all[MAX_EVENTS - 1].target_id, (MAX_EVENTS + 4).to_string());
    }
}
