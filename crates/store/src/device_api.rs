//! What the device API keeps, engine-independent: each device's own public
//! key, one-time enrollment tokens (as digests), request nonces, the latest
//! management proof, and which device a management certificate is bound to.
//!
//! These live in the store, not in process memory, so that what may be used
//! once is used once across restarts (and, on a shared database, across
//! replicas), and so that a registration, a lifecycle transition or a
//! device deletion changes them in the same transaction as the device.

use devicetrust_devices::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Result, Tx};

/// A device's registered public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceKeyRecord {
    /// The key's public identifier (hex SHA-256 of the SPKI).
    pub key_id: String,
    /// The SubjectPublicKeyInfo, DER, hex.
    pub spki_hex: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// An enrollment token as stored: never the token, only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentTokenRecord {
    /// The token's public id (part of the token text, safe to log).
    pub id: String,
    /// The org it enrolls into.
    pub org: OrgId,
    /// The user it enrolls.
    pub user: UserId,
    /// Hex SHA-256 of the whole token.
    pub sha256: String,
    /// When it was minted.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What consuming an enrollment token found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenUse {
    /// The token was valid and is now used up.
    Consumed(EnrollmentTokenRecord),
    /// No live token has that id (never minted, already used, or pruned).
    Unknown,
    /// The token exists but has expired; it is deleted.
    Expired,
    /// The id matched but the caller's check (the secret) did not; the token stays.
    Mismatch,
}

/// Bounds on outstanding enrollment tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// Unexpired tokens per org.
    pub per_org: usize,
    /// Unexpired tokens per user.
    pub per_user: usize,
}

/// What recording a signed request's nonce found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonceUse {
    /// First use: recorded until its expiry.
    Fresh,
    /// Used before, and still remembered: a replay.
    Replayed,
    /// The device has this many live nonces already; refused rather than
    /// forgetting a live one (forgetting would allow a replay).
    DeviceFull {
        /// The per-device bound.
        limit: usize,
    },
}

/// One reason a management proof failed: a stable kind and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofReason {
    /// Machine-readable kind (`revoked`, `nonce_replayed`, `hint_mismatch`, ...).
    pub kind: String,
    /// What went wrong, for people.
    pub message: String,
}

/// A device's latest management proof.
///
/// Managed-ness is proved per authentication (a signed nonce with the MDM's
/// certificate, or the managementHint) and counts for a bounded time. A
/// failed proof replaces an earlier success, so a device that can no longer
/// prove management stops counting as managed at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagementProof {
    /// Whether it succeeded.
    pub managed: bool,
    /// The configuration that attested the device, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_id: Option<String>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why it failed (empty on success).
    #[serde(default)]
    pub reasons: Vec<ProofReason>,
}

impl ManagementProof {
    /// Until when a successful proof counts.
    pub fn managed_until(&self, max_age: Duration) -> Option<OffsetDateTime> {
        self.managed.then(|| self.at.saturating_add(max_age))
    }

    /// Whether the device counts as managed at `now`.
    pub fn is_fresh(&self, max_age: Duration, now: OffsetDateTime) -> bool {
        self.managed_until(max_age)
            .is_some_and(|until| now <= until)
            && self.at <= now
    }
}

/// One provider's latest EDR signal report for a device, as received: the
/// service re-reads (and, for signed tokens, re-verifies) it when its
/// parsed form is not cached, so reports outlive restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalReport {
    /// The provider (`"wsc"`, `"zta"`, ...).
    pub provider: String,
    /// When the signals were collected: a newer report replaces an older one, never the reverse.
    #[serde(with = "time::serde::rfc3339")]
    pub collected_at: OffsetDateTime,
    /// When the service received (and verified) it.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The report as sent: the provider's JSON, or the signed token.
    pub body: String,
}

/// A settings document (the service's configuration: admin tokens,
/// integrations, policies, ...) with its revision, which every change
/// raises by one: a reader that holds revision `r` knows it is current by
/// reading the revision alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsDocument {
    /// Raised by one on every change.
    pub revision: i64,
    /// The document, JSON.
    pub body: String,
}

/// Uses up the enrollment token `id` of `org` if `matches` accepts its
/// record (the caller compares the secret, in constant time) and it has not
/// expired. Run inside the transaction that acts on it, so a token is
/// consumed at most once and only together with what it was used for.
pub fn consume_enrollment_token(
    tx: &mut dyn Tx,
    org: &OrgId,
    id: &str,
    now: OffsetDateTime,
    matches: impl FnOnce(&EnrollmentTokenRecord) -> bool,
) -> Result<TokenUse> {
    let Some(record) = tx.enrollment_token(org, id)? else {
        return Ok(TokenUse::Unknown);
    };
    // The secret is checked before expiry, so a guess learns nothing about
    // whether a token with that id is still live.
    if !matches(&record) {
        return Ok(TokenUse::Mismatch);
    }
    tx.delete_enrollment_token(org, id)?;
    if record.expires_at <= now {
        return Ok(TokenUse::Expired);
    }
    Ok(TokenUse::Consumed(record))
}
