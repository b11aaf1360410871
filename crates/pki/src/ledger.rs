//! The issuance ledger: every certificate the CA issued, and its revocations.
//!
//! The CA writes to it on every issuance and revocation and reads it to build
//! CRLs, so it is the CA's whole mutable state. [`MemoryLedger`] keeps it in
//! memory (and serialises to JSON for the file-backed CA folder); the store
//! crate persists it in a database, in the same transaction as the device
//! change that caused a revocation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::SerialNumber;

/// Why a certificate was revoked: RFC 5280 `CRLReason` (section 5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum RevocationReason {
    /// `unspecified (0)`.
    Unspecified,
    /// `keyCompromise (1)`.
    KeyCompromise,
    /// `cACompromise (2)`.
    CaCompromise,
    /// `affiliationChanged (3)`.
    AffiliationChanged,
    /// `superseded (4)`.
    Superseded,
    /// `cessationOfOperation (5)`: what a deactivated device gets.
    CessationOfOperation,
    /// `certificateHold (6)`.
    CertificateHold,
    /// `privilegeWithdrawn (9)`.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    const ALL: [(Self, &'static str); 8] = [
        (Self::Unspecified, "unspecified"),
        (Self::KeyCompromise, "keyCompromise"),
        (Self::CaCompromise, "cACompromise"),
        (Self::AffiliationChanged, "affiliationChanged"),
        (Self::Superseded, "superseded"),
        (Self::CessationOfOperation, "cessationOfOperation"),
        (Self::CertificateHold, "certificateHold"),
        (Self::PrivilegeWithdrawn, "privilegeWithdrawn"),
    ];

    /// The RFC 5280 name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("unspecified", |(_, n)| n)
    }

    pub(crate) fn to_x509(self) -> x509_cert::ext::pkix::crl::CrlReason {
        use x509_cert::ext::pkix::crl::CrlReason as R;
        match self {
            Self::Unspecified => R::Unspecified,
            Self::KeyCompromise => R::KeyCompromise,
            Self::CaCompromise => R::CaCompromise,
            Self::AffiliationChanged => R::AffiliationChanged,
            Self::Superseded => R::Superseded,
            Self::CessationOfOperation => R::CessationOfOperation,
            Self::CertificateHold => R::CertificateHold,
            Self::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        }
    }

    pub(crate) fn from_x509(r: x509_cert::ext::pkix::crl::CrlReason) -> Self {
        use x509_cert::ext::pkix::crl::CrlReason as R;
        match r {
            R::KeyCompromise => Self::KeyCompromise,
            R::CaCompromise => Self::CaCompromise,
            R::AffiliationChanged => Self::AffiliationChanged,
            R::Superseded => Self::Superseded,
            R::CessationOfOperation => Self::CessationOfOperation,
            R::CertificateHold => Self::CertificateHold,
            R::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            _ => Self::Unspecified,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = String;

    /// The RFC 5280 name, case-insensitively, with or without dashes
    /// (`keyCompromise`, `key-compromise`).
    fn from_str(s: &str) -> Result<Self, String> {
        let wanted: String = s.chars().filter(|c| *c != '-' && *c != '_').collect();
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(&wanted))
            .map(|(r, _)| *r)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "unknown revocation reason {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A revocation: when and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// Why.
    pub reason: RevocationReason,
    /// When (whole seconds, as a CRL holds it).
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCertificate {
    /// Its serial number.
    pub serial: SerialNumber,
    /// Its subject, RFC 4514 text.
    pub subject: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Set once revoked.
    pub revocation: Option<Revocation>,
}

/// Ledger failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A serial number was issued twice (a random collision, or a replay).
    #[error("serial {serial} is already in the ledger")]
    DuplicateSerial {
        /// The serial.
        serial: SerialNumber,
    },
    /// Revoking a serial this CA never issued.
    #[error("serial {serial} is not in the ledger")]
    UnknownSerial {
        /// The serial.
        serial: SerialNumber,
    },
    /// The storage behind the ledger failed.
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl devicetrust_errors::HasKind for LedgerError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        match self {
            Self::DuplicateSerial { .. } => devicetrust_errors::ErrorKind::Conflict,
            Self::UnknownSerial { .. } => devicetrust_errors::ErrorKind::NotFound,
            Self::Storage(_) => devicetrust_errors::ErrorKind::Internal,
        }
    }
}

/// Where the CA keeps what it issued and revoked. Implementations must make
/// each call atomic and durable before returning.
pub trait IssuanceLedger: Send + Sync + fmt::Debug {
    /// Records a newly issued certificate. A duplicate serial is an error.
    fn record_issued(&self, cert: IssuedCertificate) -> Result<(), LedgerError>;

    /// Looks a certificate up.
    fn get(&self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>, LedgerError>;

    /// Revokes a certificate. Revoking again keeps the first revocation and returns it.
    fn revoke(
        &self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation, LedgerError>;

    /// Every revoked certificate that has not expired at `now`, in serial order.
    /// (Expired ones may leave the CRL: RFC 5280, section 3.3.)
    fn revoked(&self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>, LedgerError>;

    /// Takes the next CRL number: strictly greater than any returned before.
    fn next_crl_number(&self) -> Result<u64, LedgerError>;
}

/// The ledger's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerState {
    /// Issued certificates by serial.
    pub certificates: BTreeMap<SerialNumber, IssuedCertificate>,
    /// The last CRL number handed out (0: none yet).
    pub last_crl_number: u64,
}

impl LedgerState {
    fn record_issued(&mut self, cert: IssuedCertificate) -> Result<(), LedgerError> {
        if self.certificates.contains_key(&cert.serial) {
            return Err(LedgerError::DuplicateSerial {
                serial: cert.serial,
            });
        }
        self.certificates.insert(cert.serial.clone(), cert);
        Ok(())
    }

    fn revoke(
        &mut self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation, LedgerError> {
        let cert = self
            .certificates
            .get_mut(serial)
            .ok_or_else(|| LedgerError::UnknownSerial {
                serial: serial.clone(),
            })?;
        Ok(*cert.revocation.get_or_insert(revocation))
    }

    fn revoked(&self, now: OffsetDateTime) -> Vec<(SerialNumber, Revocation)> {
        self.certificates
            .values()
            .filter(|c| c.not_after >= now)
            .filter_map(|c| c.revocation.map(|r| (c.serial.clone(), r)))
            .collect()
    }
}

/// An in-memory ledger, thread-safe.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<LedgerState>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger holding `state`.
    pub fn from_state(state: LedgerState) -> Self {
        Self {
            state: Mutex::new(state),
        }
    }

    /// A copy of the contents.
    pub fn snapshot(&self) -> Result<LedgerState, LedgerError> {
        self.with(|s| Ok(s.clone()))
    }

    /// Runs `f` on the locked state. `f` must leave the state consistent
    /// even when it fails, which every method here does by checking first.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut LedgerState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| LedgerError::Storage("ledger lock poisoned".into()))?;
        f(&mut guard)
    }
}

impl IssuanceLedger for MemoryLedger {
    fn record_issued(&self, cert: IssuedCertificate) -> Result<(), LedgerError> {
        self.with(|s| s.record_issued(cert))
    }

    fn get(&self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>, LedgerError> {
        self.with(|s| Ok(s.certificates.get(serial).cloned()))
    }

    fn revoke(
        &self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation, LedgerError> {
        self.with(|s| s.revoke(serial, revocation))
    }

    fn revoked(&self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>, LedgerError> {
        self.with(|s| Ok(s.revoked(now)))
    }

    fn next_crl_number(&self) -> Result<u64, LedgerError> {
        self.with(|s| {
            s.last_crl_number = s.last_crl_number.saturating_add(1);
            Ok(s.last_crl_number)
        })
    }
}

/// A ledger kept in one JSON file, rewritten atomically (write, fsync, rename)
/// on every change. For the command line and small deployments; the store
/// crate's database ledger is the one for a service.
#[derive(Debug)]
pub struct FileLedger {
    path: std::path::PathBuf,
    memory: MemoryLedger,
}

/// Upper bound on a ledger file we are willing to read.
const MAX_LEDGER_FILE: u64 = 256 * 1024 * 1024;

impl FileLedger {
    /// Opens the ledger at `path`, or starts an empty one if the file does not exist.
    pub fn open(path: &std::path::Path) -> crate::Result<Self> {
        let state = match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::default(),
            Err(e) => return Err(crate::Error::io(path)(e)),
            Ok(meta) if meta.len() > MAX_LEDGER_FILE => {
                return Err(crate::Error::CaDir {
                    path: path.to_path_buf(),
                    reason: format!("ledger file of {} bytes is over the limit", meta.len()),
                });
            }
            Ok(_) => {
                let bytes = std::fs::read(path).map_err(crate::Error::io(path))?;
                serde_json::from_slice(&bytes).map_err(|e| crate::Error::CaDir {
                    path: path.to_path_buf(),
                    reason: format!("corrupt ledger: {e}"),
                })?
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            memory: MemoryLedger::from_state(state),
        })
    }

    fn change<T>(
        &self,
        f: impl FnOnce(&mut LedgerState) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.memory.with(|state| {
            let mut next = state.clone();
            let out = f(&mut next)?;
            let json =
                serde_json::to_vec_pretty(&next).map_err(|e| LedgerError::Storage(Box::new(e)))?;
            crate::fs::write_atomic(&self.path, &json, true)
                .map_err(|e| LedgerError::Storage(Box::new(e)))?;
            *state = next;
            Ok(out)
        })
    }
}

impl IssuanceLedger for FileLedger {
    fn record_issued(&self, cert: IssuedCertificate) -> Result<(), LedgerError> {
        self.change(|s| s.record_issued(cert))
    }

    fn get(&self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>, LedgerError> {
        self.memory.get(serial)
    }

    fn revoke(
        &self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation, LedgerError> {
        self.change(|s| s.revoke(serial, revocation))
    }

    fn revoked(&self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>, LedgerError> {
        self.memory.revoked(now)
    }

    fn next_crl_number(&self) -> Result<u64, LedgerError> {
        self.change(|s| {
            s.last_crl_number = s.last_crl_number.saturating_add(1);
            Ok(s.last_crl_number)
        })
    }
}
