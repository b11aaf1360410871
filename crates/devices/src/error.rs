//! The registry's typed errors.

use crate::{DeviceId, DeviceStatus, OrgId, TransitionError, UserId};

/// Why the registry refused something. Nothing is changed when one is returned
/// (except the audit log, which records refused lifecycle operations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// A required field is empty.
    #[error("{field} must not be empty")]
    EmptyField {
        /// The field (API name).
        field: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{field} is {len} long, over the limit of {max}")]
    FieldTooLong {
        /// The field (API name).
        field: &'static str,
        /// The limit (bytes for ids, characters for text).
        max: usize,
        /// The length given.
        len: usize,
    },
    /// A field holds a control character.
    #[error("{field} holds a control character at position {position}")]
    ControlCharacter {
        /// The field (API name).
        field: &'static str,
        /// Its character index.
        position: usize,
    },
    /// A value outside an enumeration.
    #[error("{field}: unknown value {value:?}")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// The value (truncated).
        value: String,
    },
    /// No such device in this org. A device of another org is reported the
    /// same way, so that ids cannot be probed across tenants.
    #[error("device {device} not found in org {org}")]
    DeviceNotFound {
        /// The org asked about.
        org: OrgId,
        /// The id asked for.
        device: DeviceId,
    },
    /// The lifecycle does not allow the operation.
    #[error("device {device}: {source}")]
    Transition {
        /// The device.
        device: DeviceId,
        /// The refused transition.
        #[source]
        source: TransitionError,
    },
    /// An Okta Verify enrollment the device's state does not allow.
    #[error("device {device} is {status}: enrollment of user {user} refused ({reason})")]
    EnrollmentRefused {
        /// The device.
        device: DeviceId,
        /// Its state.
        status: DeviceStatus,
        /// The enrolling user.
        user: UserId,
        /// Why.
        reason: &'static str,
    },
    /// An Okta Verify sign-in the device's state or enrollments do not allow.
    #[error("device {device} ({status}): Okta Verify sign-in of user {user} refused ({reason})")]
    SignInRefused {
        /// The device.
        device: DeviceId,
        /// Its state.
        status: DeviceStatus,
        /// The user.
        user: UserId,
        /// Why.
        reason: &'static str,
    },
    /// A certificate bound to a device that may hold none.
    #[error("device {device} is {status}: it may not be given certificates")]
    CertificateRefused {
        /// The device.
        device: DeviceId,
        /// Its state.
        status: DeviceStatus,
    },
    /// A pagination cursor this registry did not hand out.
    #[error("invalid cursor")]
    BadCursor,
    /// The operating system's random generator failed.
    #[error("random generator: {0}")]
    Random(String),
}

impl devicetrust_errors::HasKind for DeviceError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::EmptyField { .. }
            | Self::FieldTooLong { .. }
            | Self::ControlCharacter { .. }
            | Self::UnknownValue { .. }
            | Self::BadCursor => K::Invalid,
            Self::DeviceNotFound { .. } => K::NotFound,
            Self::Transition { .. }
            | Self::EnrollmentRefused { .. }
            | Self::CertificateRefused { .. } => K::Conflict,
            Self::SignInRefused { .. } => K::Forbidden,
            Self::Random(_) => K::Internal,
        }
    }
}
