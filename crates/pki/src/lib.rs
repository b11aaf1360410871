//! A pure-Rust certificate authority for device management attestation.
//!
//! Desktop device trust rests on one fact: a managed device holds a client
//! certificate that your MDM fetched from a CA you trust. This crate is that
//! CA: a root and an intermediate (RSA or ECDSA), client certificates issued
//! from PKCS#10 requests under a key policy, revocation and signed v2 CRLs,
//! all behind a small crypto [`Backend`] trait (pure Rust by default,
//! `aws-lc-rs` with the `aws-lc` feature).
//!
//! ```
//! use std::sync::Arc;
//! use devicetrust_pki::{
//!     default_backend, Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, RevocationReason,
//! };
//!
//! # fn main() -> Result<(), devicetrust_pki::Error> {
//! let backend = default_backend();
//! let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca;
//!
//! // A device makes a key and a request (PKCS#10), as an MDM's SCEP payload would.
//! let device_key = backend.generate(KeyAlgorithm::EcP256)?;
//! let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42")
//!     .sign(backend.signer(&device_key)?.as_ref())?;
//!
//! // The CA verifies the request and issues a client certificate.
//! let request = ca.parse_request(&csr)?;
//! let cert = ca.issue(&request, &IssueOptions::default())?;
//! let now = time::OffsetDateTime::now_utc();
//! ca.verify(&cert, None, now)?;
//!
//! // Revoked, it appears on the next CRL and no longer verifies.
//! ca.revoke(&cert.serial()?, RevocationReason::CessationOfOperation, now)?;
//! let crl = ca.crl(now)?;
//! assert!(crl.revocation(&cert.serial()?).is_some());
//! assert!(ca.verify(&cert, Some(&crl), now).is_err());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod algorithm;
pub mod backend;
mod ca;
mod ca_dir;
mod cert;
mod crl;
mod csr;
pub mod encoding;
mod error;
mod fs;
mod key;
mod key_policy;
mod ledger;
mod profile;
pub mod scep;
mod serial;
mod signed;
pub mod x509_time;

pub use algorithm::{HashAlgorithm, SignatureAlgorithm};
pub use backend::{Backend, Decrypter, Signer, backend_by_name, backends, default_backend};
pub use ca::{Ca, CaConfig, IssueOptions, NewCa};
pub use ca_dir::CaDir;
pub use cert::{Certificate, X509Certificate};
pub use crl::Crl;
pub use csr::{CertificateRequest, RequestBuilder};
pub use error::{Error, Result};
pub use key::{KeyAlgorithm, PrivateKey, PublicKey};
pub use key_policy::KeyPolicy;
pub use ledger::{
    FileLedger, IssuanceLedger, IssuedCertificate, LedgerError, LedgerState, MemoryLedger,
    Revocation, RevocationReason,
};
pub use serial::SerialNumber;
/// The X.509 types this crate builds on, for names and extensions.
pub use x509_cert;
