//! The lifecycle: a pure state machine that says what a change does.
//!
//! [`plan`] takes a device's state and an admin operation and returns the
//! new state with the effects the registry must apply, or a
//! [`TransitionError`]. It touches nothing, so it is easy to test
//! exhaustively, and every store applies the same rules.
//!
//! | from \ op   | suspend   | unsuspend | deactivate  | activate | delete  |
//! |-------------|-----------|-----------|-------------|----------|---------|
//! | ACTIVE      | SUSPENDED | no-op     | DEACTIVATED | no-op    | refused |
//! | SUSPENDED   | no-op     | ACTIVE    | DEACTIVATED | refused  | refused |
//! | DEACTIVATED | refused   | refused   | no-op       | ACTIVE   | deleted |
//!
//! A no-op is an operation whose target is the state the device is already
//! in: repeating a change is idempotent and has no effects.

use std::fmt;
use std::str::FromStr;

use devicetrust_pki::RevocationReason;
use serde::{Deserialize, Serialize};

/// A device's lifecycle state (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum DeviceStatus {
    /// Registered and usable.
    Active,
    /// Paused: Okta Verify unusable, certificates kept.
    Suspended,
    /// Lost or compromised: factors deactivated, certificates revoked, users unlinked.
    Deactivated,
}

impl DeviceStatus {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Active, Self::Suspended, Self::Deactivated];

    /// The API name (`ACTIVE`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Deactivated => "DEACTIVATED",
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceStatus {
    type Err = crate::DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::DeviceError::UnknownValue {
                field: "status",
                value: s.chars().take(32).collect(),
            })
    }
}

/// Where a device ends up: a state, or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Target {
    /// The record is removed.
    Deleted,
    /// A lifecycle state.
    #[serde(untagged)]
    Status(DeviceStatus),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(s) => s.fmt(f),
            Self::Deleted => f.write_str("DELETED"),
        }
    }
}

/// An admin's lifecycle operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Operation {
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Unsuspend,
    /// ACTIVE or SUSPENDED → DEACTIVATED.
    Deactivate,
    /// DEACTIVATED → ACTIVE.
    Activate,
    /// DEACTIVATED → removed.
    Delete,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 5] = [
        Self::Suspend,
        Self::Unsuspend,
        Self::Deactivate,
        Self::Activate,
        Self::Delete,
    ];

    /// The state this operation leads to.
    pub fn target(self) -> Target {
        match self {
            Self::Suspend => Target::Status(DeviceStatus::Suspended),
            Self::Unsuspend | Self::Activate => Target::Status(DeviceStatus::Active),
            Self::Deactivate => Target::Status(DeviceStatus::Deactivated),
            Self::Delete => Target::Deleted,
        }
    }

    /// The states it may start from.
    pub fn sources(self) -> &'static [DeviceStatus] {
        match self {
            Self::Suspend => &[DeviceStatus::Active],
            Self::Unsuspend => &[DeviceStatus::Suspended],
            Self::Deactivate => &[DeviceStatus::Active, DeviceStatus::Suspended],
            Self::Activate | Self::Delete => &[DeviceStatus::Deactivated],
        }
    }

    /// The name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Unsuspend => "unsuspend",
            Self::Deactivate => "deactivate",
            Self::Activate => "activate",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = crate::DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::DeviceError::UnknownValue {
                field: "operation",
                value: s.chars().take(32).collect(),
            })
    }
}

/// Something a transition does besides changing `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
#[non_exhaustive]
pub enum Effect {
    /// End every session established with Okta Verify on the device; others stay.
    EndOktaVerifySessions,
    /// Deactivate the device's factor enrollments: users enroll again after activate.
    DeactivateFactorEnrollments,
    /// Revoke the device's certificates in the CA's issuance ledger.
    RevokeCertificates {
        /// The CRL reason.
        reason: RevocationReason,
    },
    /// Remove the device–user links.
    RemoveUserLinks,
    /// Retire the key the device registered, and what it proved with it
    /// (management proof, request nonces): the device must register again.
    RetireDeviceKey,
    /// Remove the device record and everything that belongs to it.
    DeleteRecord,
}

/// What an accepted operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The state before.
    pub from: DeviceStatus,
    /// The state after.
    pub to: Target,
    /// The effects, in the order to apply them. Empty for a no-op.
    pub effects: Vec<Effect>,
}

impl Plan {
    /// Whether the operation changes nothing (a repeat).
    pub fn is_noop(&self) -> bool {
        self.to == Target::Status(self.from)
    }
}

/// An operation the lifecycle does not allow from the device's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot {operation} a {from} device: {from} -> {to} is not a lifecycle transition (allowed from {allowed})"
)]
pub struct TransitionError {
    /// The state the device is in.
    pub from: DeviceStatus,
    /// The operation asked for.
    pub operation: Operation,
    /// Where it would have led.
    pub to: Target,
    /// The states it is allowed from, for the message.
    pub allowed: AllowedStates,
}

/// The states an operation is allowed from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedStates(&'static [DeviceStatus]);

impl fmt::Display for AllowedStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

/// Decides what `operation` does to a device in state `from`.
pub fn plan(from: DeviceStatus, operation: Operation) -> Result<Plan, TransitionError> {
    let to = operation.target();
    if to == Target::Status(from) {
        return Ok(Plan {
            from,
            to,
            effects: Vec::new(),
        });
    }
    if !operation.sources().contains(&from) {
        return Err(TransitionError {
            from,
            operation,
            to,
            allowed: AllowedStates(operation.sources()),
        });
    }
    let effects = match operation {
        // Suspend pauses Okta Verify only: certificates and factor enrollments stay.
        Operation::Suspend => vec![Effect::EndOktaVerifySessions],
        Operation::Deactivate => vec![
            Effect::EndOktaVerifySessions,
            Effect::DeactivateFactorEnrollments,
            Effect::RevokeCertificates {
                reason: RevocationReason::CessationOfOperation,
            },
            Effect::RemoveUserLinks,
            Effect::RetireDeviceKey,
        ],
        Operation::Delete => vec![Effect::DeleteRecord],
        // Coming back does not restore factors or links: users enroll again.
        Operation::Unsuspend | Operation::Activate => Vec::new(),
    };
    Ok(Plan { from, to, effects })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_guide() {
        use DeviceStatus::{Active as A, Deactivated as D, Suspended as S};
        use Operation::*;
        let legal = [
            (A, Suspend, Target::Status(S)),
            (S, Unsuspend, Target::Status(A)),
            (A, Deactivate, Target::Status(D)),
            (S, Deactivate, Target::Status(D)),
            (D, Activate, Target::Status(A)),
            (D, Delete, Target::Deleted),
        ];
        for from in DeviceStatus::ALL {
            for op in Operation::ALL {
                let result = plan(from, op);
                let expected = legal.iter().find(|(f, o, _)| *f == from && *o == op);
                match (result, expected) {
                    (Ok(p), Some((_, _, to))) => {
                        assert_eq!(p.to, *to);
                        assert!(!p.effects.is_empty() || matches!(op, Unsuspend | Activate));
                    }
                    (Ok(p), None) => assert!(p.is_noop() && p.effects.is_empty(), "{from} {op}"),
                    (Err(e), None) => {
                        assert_eq!((e.from, e.operation, e.to), (from, op, op.target()));
                        let msg = e.to_string();
                        assert!(
                            msg.contains(from.name()) && msg.contains(op.name()),
                            "{msg}"
                        );
                    }
                    (Err(e), Some(_)) => panic!("legal transition refused: {e}"),
                }
            }
        }
    }

    #[test]
    fn deactivate_revokes_with_cessation_and_suspend_keeps_certificates() {
        let p = plan(DeviceStatus::Active, Operation::Deactivate).unwrap();
        assert!(p.effects.contains(&Effect::RevokeCertificates {
            reason: RevocationReason::CessationOfOperation
        }));
        assert!(p.effects.contains(&Effect::RetireDeviceKey));
        let s = plan(DeviceStatus::Active, Operation::Suspend).unwrap();
        assert_eq!(s.effects, vec![Effect::EndOktaVerifySessions]);
    }
}
