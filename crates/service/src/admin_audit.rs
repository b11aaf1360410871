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

use super::settings::{Settings, SettingsStore};
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

/// Records `event` in its own settings update (for changes made by another
/// module's update, such as the policy store's).
pub fn record(file: &SettingsStore, event: AdminEvent) -> Result<(), DataError> {
    file.update(|s| push(s, event))
}

/// The audit log use cases (Okta's System Log reads both trails).
impl crate::Service {
    /// One page of the device registry's audit trail.
    pub fn device_audit(
        &self,
        query: &devicetrust_devices::AuditQuery,
    ) -> Result<Vec<devicetrust_devices::AuditEvent>, devicetrust_store::Error> {
        self.registry.audit(&self.org, query)
    }

    /// The admin configuration events kept, oldest first.
    pub fn admin_events(&self) -> Result<Vec<AdminEvent>, DataError> {
        events(&self.settings.read())
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
