//! One-time Okta Verify enrollment tokens: an admin mints one for a user and
//! hands it to them; the device presents it once to register.
//!
//! A token is `dtenr_<id>.<secret>`: the id (public, safe to log) finds the
//! stored record, and the SHA-256 of the whole token is compared with the
//! stored digest in constant time. Only the digest is stored, in SQLite, so
//! tokens survive restarts; the token is shown once. A token is valid for
//! [`DeviceApiOptions::token_ttl`](super::device_api::DeviceApiOptions)
//! and is used up by the first registration that presents it, whatever
//! that registration's outcome, so a token can never register twice.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_devices::UserId;
use devicetrust_store::{EnrollmentTokenRecord, Store as _, TokenUse};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Service;

/// Enrollment tokens start with this.
pub const ENROLLMENT_TOKEN_PREFIX: &str = "dtenr_";

/// Why a token could not be minted or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollmentTokenError {
    /// Unknown, wrong, used or expired: callers learn no more than that.
    #[error("the enrollment token is not valid (unknown, used or expired)")]
    Refused,
    /// Too many outstanding tokens.
    #[error("{0}")]
    Limit(String),
    /// The random generator failed.
    #[error("random generator: {0}")]
    Random(String),
    /// Storage failed.
    #[error("enrollment token storage: {0}")]
    Store(#[source] devicetrust_store::Error),
}

impl devicetrust_errors::HasKind for EnrollmentTokenError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        match self {
            Self::Refused => devicetrust_errors::ErrorKind::Unauthenticated,
            Self::Limit(_) => devicetrust_errors::ErrorKind::LimitReached,
            Self::Random(_) => devicetrust_errors::ErrorKind::Internal,
            // A database that cannot be reached is a 503, not a 500.
            Self::Store(e) => e.kind(),
        }
    }
}

/// A freshly minted token, to show once.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedToken {
    /// The token's public id.
    pub id: String,
    /// The token itself. Never logged; zeroed on drop.
    #[serde(serialize_with = "expose")]
    pub token: Zeroizing<String>,
    /// When it stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

fn expose<S: serde::Serializer>(t: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The public id of a presented token, when it is shaped like one.
pub fn parse_token_id(presented: &str) -> Option<&str> {
    let (id, _secret) = presented
        .strip_prefix(ENROLLMENT_TOKEN_PREFIX)?
        .split_once('.')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Whether a stored record is `presented`'s: its digest compared in constant time.
pub fn token_matches(presented: &str) -> impl FnOnce(&EnrollmentTokenRecord) -> bool + use<> {
    let digest = Sha256::digest(presented.as_bytes());
    move |record| {
        hex::decode(&record.sha256)
            .map(|stored| bool::from(stored.as_slice().ct_eq(digest.as_slice())))
            .unwrap_or(false)
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, EnrollmentTokenError> {
    let mut raw = Zeroizing::new([0u8; N]);
    getrandom::fill(raw.as_mut_slice()).map_err(|e| EnrollmentTokenError::Random(e.to_string()))?;
    Ok(raw)
}

impl Service {
    /// Mints a one-time enrollment token for `user`, valid from `now`.
    pub fn mint_enrollment_token(
        &self,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<MintedToken, EnrollmentTokenError> {
        let id = hex::encode(random::<8>()?.as_slice());
        let secret = random::<32>()?;
        let token = Zeroizing::new(format!(
            "{ENROLLMENT_TOKEN_PREFIX}{id}.{}",
            URL_SAFE_NO_PAD.encode(secret.as_slice())
        ));
        let expires_at = now.saturating_add(self.options.device_api.token_ttl);
        let record = EnrollmentTokenRecord {
            id: id.clone(),
            org: self.org.clone(),
            user: user.clone(),
            sha256: hex::encode(Sha256::digest(token.as_bytes())),
            created: now,
            expires_at,
        };
        self.store
            .insert_enrollment_token(&record, self.options.device_api.token_limits, now)
            .map_err(|e| match e {
                devicetrust_store::Error::LimitReached { .. } => {
                    EnrollmentTokenError::Limit(e.to_string())
                }
                other => EnrollmentTokenError::Store(other),
            })?;
        tracing::info!(token_id = %id, user = %user, "enrollment token minted");
        Ok(MintedToken {
            id,
            token,
            expires_at,
        })
    }

    /// Uses up `presented`, returning the user it enrolls.
    pub fn consume_enrollment_token(
        &self,
        presented: &str,
        now: OffsetDateTime,
    ) -> Result<UserId, EnrollmentTokenError> {
        let id = parse_token_id(presented).ok_or(EnrollmentTokenError::Refused)?;
        let matches = token_matches(presented);
        match self
            .store
            .consume_enrollment_token(&self.org, id, now, matches)
            .map_err(EnrollmentTokenError::Store)?
        {
            TokenUse::Consumed(record) => {
                tracing::info!(token_id = %id, user = %record.user, "enrollment token used");
                Ok(record.user)
            }
            outcome => {
                tracing::warn!(token_id = %id, ?outcome, "enrollment token refused");
                Err(EnrollmentTokenError::Refused)
            }
        }
    }
}
