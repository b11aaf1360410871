//! Management attestation: is this device managed?
//!
//! An organisation's [`Configurations`] say which devices count as managed.
//! A desktop (Windows, macOS) proves it with a client certificate that its
//! MDM fetched from a trusted CA, and a signature over a fresh nonce with
//! that certificate's key; a mobile (Android, iOS) presents the
//! `managementHint` secret key its UEM configured. The [`Attestor`] answers
//! [`Outcome::Managed`] with the configuration that attested the device, or
//! [`Outcome::NotManaged`] with every failed check and its evidence.
//!
//! ```
//! use devicetrust_attestation::{
//!     nonce, Attestor, Configurations, DesktopRequest, DesktopTrust, Outcome, Platform,
//! };
//! use devicetrust_pki::{default_backend, Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder};
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = default_backend();
//! let now = time::OffsetDateTime::now_utc();
//!
//! // Our CA, and a macOS configuration that trusts it.
//! let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca;
//! let mut configurations = Configurations::new();
//! let mac = configurations.add_desktop(Platform::MacOs, DesktopTrust::our_ca(&ca))?;
//!
//! // A Mac enrolls: its MDM gets a certificate naming the device.
//! let key = backend.generate(KeyAlgorithm::EcP256)?;
//! let signer = backend.signer(&key)?;
//! let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42").sign(signer.as_ref())?;
//! let leaf = ca.issue(&ca.parse_request(&csr)?, &IssueOptions::default())?;
//!
//! // At sign-on the server sends a nonce; the device signs it with the certificate's key.
//! let attestor = Attestor::new(configurations, backend)?;
//! let issued = attestor.issue_nonce("acme", "dev-42", now)?;
//! let proof = nonce::prove(signer.as_ref(), &issued.nonce)?;
//!
//! let request = DesktopRequest {
//!     hardware_id: None,
//!     platform: Platform::MacOs, org: "acme", device_id: "dev-42",
//!     leaf: &leaf, intermediates: &[], nonce: &issued.nonce, proof: &proof,
//! };
//! assert!(matches!(attestor.attest_desktop(&request, now), Outcome::Managed { configuration_id, .. } if configuration_id == mac));
//!
//! // The same nonce again is a replay.
//! let again = attestor.attest_desktop(&request, now);
//! assert_eq!(again.reasons()[0].error.kind(), "nonce_replayed");
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//!
//! - [`upload`]: checking an admin's CA upload (PEM or DER X.509 only).
//! - [`chain`]: path building and the per-certificate checks.
//! - [`revocation`]: CRLs and the issuance ledger.
//! - [`binding`]: the device ID a certificate names.
//! - [`nonce`]: nonce proof of possession, and its design.
//! - [`hint`]: the mobile `managementHint` secret key.
//! - [`cache`]: verified issuer signatures and parsed certificates, for the warm path.

#![forbid(unsafe_code)]

mod attest;
pub mod binding;
pub mod cache;
pub mod chain;
mod config;
mod desktop;
mod details;
mod error;
pub mod hint;
pub mod nonce;
mod platform;
pub mod revocation;
pub mod upload;

pub use attest::{Attestor, DesktopRequest, Enrollment, Outcome, PURPOSE, Reason};
pub use cache::{CertificateCache, SignatureCache};
pub use chain::{ChainOptions, ChainVerifier, VerifiedChain};
pub use config::{
    ConfigError, Configuration, ConfigurationId, ConfigurationKind, Configurations,
    MobileManagement,
};
pub use desktop::{CaSource, DesktopEvidence, DesktopTrust, Uploaded};
pub use details::CaDetails;
pub use error::{CheckError, RevocationSource};
pub use platform::Platform;
