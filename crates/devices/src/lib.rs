//! The device registry's model and lifecycle, without storage.
//!
//! An Okta Verify enrollment registers a device and binds it to a user; an
//! admin then suspends, deactivates, reactivates or deletes it, and each
//! change has effects on sessions, factor enrollments, certificates and
//! user links. This crate holds the records (in the JSON shapes of Okta's
//! Devices API), their validation, and the lifecycle as a pure state machine
//! ([`plan`]) that returns the effects for a store to apply. The
//! `devicetrust-store` crate applies them, in one transaction, on SQLite or
//! in memory.
//!
//! ```
//! use devicetrust_devices::{plan, DeviceProfile, DeviceStatus, Effect, Operation, Platform, Target};
//!
//! // Profiles are validated before they reach storage.
//! let mut profile = DeviceProfile::new("Alice's MacBook", Platform::Macos);
//! profile.validate()?;
//! profile.display_name = "x".repeat(300);
//! assert!(profile.validate().is_err());
//!
//! // Deactivating revokes certificates, among other effects...
//! let deactivate = plan(DeviceStatus::Active, Operation::Deactivate)?;
//! assert_eq!(deactivate.to, Target::Status(DeviceStatus::Deactivated));
//! assert!(deactivate.effects.contains(&Effect::RemoveUserLinks));
//!
//! // ...repeating it does nothing, and a deactivated device cannot be suspended.
//! assert!(plan(DeviceStatus::Deactivated, Operation::Deactivate)?.effects.is_empty());
//! let refused = plan(DeviceStatus::Deactivated, Operation::Suspend).unwrap_err();
//! assert_eq!(refused.to, Target::Status(DeviceStatus::Suspended));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod audit;
mod enrollment;
mod error;
mod ids;
mod lifecycle;
pub mod limits;
mod link;
mod model;
mod query;
mod session;

pub use audit::{AppliedEffect, AuditAction, AuditEvent, AuditOutcome, AuditQuery};
pub use enrollment::EnrollmentRequest;
pub use error::DeviceError;
pub use ids::{Actor, DeviceId, EnrollmentId, OrgId, SessionId, UserId, random_id};
pub use lifecycle::{
    AllowedStates, DeviceStatus, Effect, Operation, Plan, Target, TransitionError, plan,
};
pub use link::{DeviceUser, LinkedUser, ManagementStatus, ScreenLockType};
pub use model::{
    Device, DeviceProfile, DiskEncryptionType, HardwareKey, Platform, ResourceDisplayName,
    from_unix_millis, to_millis, unix_millis,
};
pub use query::{Cursor, DeviceFilter, MAX_PAGE, Page, PageRequest};
pub use session::{FactorEnrollment, FactorStatus, Session, SessionMethod};
