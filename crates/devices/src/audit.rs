//! Audit events: one for every change and every refused change.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use devicetrust_pki::SerialNumber;

use crate::{
    Actor, DeviceId, DeviceStatus, Effect, EnrollmentId, Operation, OrgId, SessionId, Target,
    UserId,
};

/// What was attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum AuditAction {
    /// An Okta Verify enrollment (registration) by a user.
    Enroll {
        /// The enrolling user.
        user: UserId,
    },
    /// An admin's lifecycle operation.
    Lifecycle {
        /// The operation.
        operation: Operation,
    },
}

/// How it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum AuditOutcome {
    /// Applied with its effects.
    Applied,
    /// A repeat of the operation that led to the current state: nothing changed.
    Unchanged,
    /// Refused; nothing changed.
    Refused {
        /// The error's message.
        reason: String,
    },
}

/// An effect as applied: what it touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedEffect {
    /// The effect.
    pub effect: Effect,
    /// Sessions ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionId>,
    /// Factor enrollments deactivated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrollments: Vec<EnrollmentId>,
    /// Certificates revoked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<SerialNumber>,
    /// Users unlinked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserId>,
}

impl AppliedEffect {
    /// An effect that touched nothing yet.
    pub fn new(effect: Effect) -> Self {
        Self {
            effect,
            sessions: Vec::new(),
            enrollments: Vec::new(),
            certificates: Vec::new(),
            users: Vec::new(),
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Position in the org's log, assigned by the store (0 until stored).
    pub seq: u64,
    /// The org.
    pub org_id: OrgId,
    /// Who.
    pub actor: Actor,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The device acted on (as given, for a refused operation on an unknown id).
    pub device_id: DeviceId,
    /// The users linked to the device before the change (and the enrolling
    /// user), so that events can be found by user.
    pub users: Vec<UserId>,
    /// What was attempted.
    pub action: AuditAction,
    /// The state before (`None`: no such device).
    pub before: Option<DeviceStatus>,
    /// The state after (`None`: no such device).
    pub after: Option<Target>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// What the change did.
    pub effects: Vec<AppliedEffect>,
}

/// Which audit events to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this device's.
    pub device_id: Option<DeviceId>,
    /// Only events naming this user.
    pub user_id: Option<UserId>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// After this sequence number (cursor).
    pub after_seq: Option<u64>,
    /// At most this many (capped at [`crate::MAX_PAGE`]).
    pub limit: usize,
}
