//! Persistence for the device registry and the CA's issuance ledger.
//!
//! [`Registry`] holds the rules (enrollment, sign-in, lifecycle transitions
//! and their effects, queries) once, over the [`Store`] and [`Tx`] traits;
//! [`SqliteStore`] (embedded, WAL, fsync on commit, versioned migrations),
//! `PostgresStore` (feature `postgres`: one database shared by many
//! replicas, same schema versions) and [`MemoryStore`] implement them. A
//! transition and all its effects, certificate revocations included, commit
//! in one transaction, and either database store is also the CA's
//! [`devicetrust_pki::IssuanceLedger`].
//!
//! ```
//! use devicetrust_devices::{Actor, DeviceProfile, DeviceStatus, EnrollmentRequest, Operation, OrgId, Platform, UserId};
//! use devicetrust_store::{MemoryStore, Registry};
//!
//! let registry = Registry::new(MemoryStore::new());
//! let (org, admin) = (OrgId::new("acme")?, Actor::new("admin@acme")?);
//! let now = time::OffsetDateTime::now_utc();
//!
//! let mut profile = DeviceProfile::new("Alice's MacBook", Platform::Macos);
//! profile.udid = Some("UDID-1".into());
//! let alice = UserId::new("alice")?;
//! let device = registry.enroll(&org, &admin, &EnrollmentRequest::new(alice.clone(), profile), now)?;
//!
//! let out = registry.transition(&org, &admin, &device.id, Operation::Suspend, now)?;
//! assert_eq!(out.device.map(|d| d.status), Some(DeviceStatus::Suspended));
//!
//! // A suspended device cannot be activated (only unsuspended); the refusal is audited.
//! let refused = registry.transition(&org, &admin, &device.id, Operation::Activate, now);
//! assert!(refused.unwrap_err().to_string().contains("SUSPENDED"));
//! assert_eq!(registry.user_devices(&org, &alice)?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod auth_failures;
mod columns;
#[cfg(feature = "postgres")]
mod copy;
mod database;
pub mod device_api;
mod error;
mod ledger;
mod management;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod registration;
mod registry;
mod scep;
mod sqlite;
mod tx;

#[cfg(feature = "postgres")]
pub use copy::CopyReport;
pub use database::Database;
pub use device_api::{
    DeviceKeyRecord, EnrollmentTokenRecord, ManagementProof, NonceUse, ProofReason,
    SettingsDocument, SignalReport, TokenLimits, TokenUse,
};
pub use error::{Error, Result};
pub use management::{BOUND_ELSEWHERE, ProvingCertificate};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use registration::{DeviceRegistration, Registered, RegistrationRefused};
pub use registry::{Registry, TransitionOutcome};
pub use scep::{StoredChallenges, StoredScepTransactions};
pub use sqlite::{SqliteStore, latest_schema_version};
pub use tx::{DeviceSnapshot, Store, Tx};

/// The registry's database file inside a data folder.
pub fn database_path(data: &std::path::Path) -> std::path::PathBuf {
    data.join("devices.sqlite3")
}
