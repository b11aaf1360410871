//! The mobile `managementHint` secret key (Android and iOS).
//!
//! The admin copies the secret key into the UEM's app configuration for Okta
//! Verify (key `managementHint`); a managed phone presents it. The key is:
//!
//! - 256 random bits, shown once as 43 base64url characters ([`SecretKey`]);
//! - stored only as a SHA-256 digest. A fast hash is enough here: the secret is
//!   256 uniformly random bits, so a leaked digest cannot be brute-forced, and
//!   a slow password hash (Argon2, scrypt) only helps low-entropy secrets
//!   while costing every check;
//! - compared in constant time ([`subtle`]) against the current and the
//!   previous digest alike, so timing reveals neither a match nor which key;
//! - replaced by [`ManagementHint::reset`], optionally keeping the old key
//!   valid for a grace period while the UEM's configuration catches up.
//!
//! Comparison is exact: base64url is case-sensitive, so a key that differs in
//! letter case is another key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// Random bytes in a secret key.
pub const SECRET_BYTES: usize = 32;

/// A freshly generated secret key, to show the admin once. Never logged:
/// its `Debug` is redacted, and it is zeroed on drop.
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// The key's text, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A stored digest of a secret key.
#[derive(Clone, PartialEq, Eq)]
struct Digest32([u8; 32]);

impl serde::Serialize for Digest32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Digest32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Self(out))
    }
}

impl std::fmt::Debug for Digest32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest32(..)")
    }
}

fn digest(text: &str) -> Digest32 {
    let mut h = Sha256::new();
    h.update(b"devicetrust managementHint v1\0");
    h.update(text.as_bytes());
    Digest32(h.finalize().into())
}

/// The old key during a grace period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Previous {
    digest: Digest32,
    #[serde(with = "time::serde::rfc3339")]
    valid_until: OffsetDateTime,
}

/// Which key a presented hint matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HintMatch {
    /// The current key.
    Current,
    /// The previous key, inside its grace period.
    Previous,
}

/// The stored form of a configuration's secret key: digests only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagementHint {
    current: Digest32,
    previous: Option<Previous>,
}

fn generate() -> Result<SecretKey, devicetrust_pki::Error> {
    let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|e| devicetrust_pki::Error::Random(e.to_string()))?;
    Ok(SecretKey(Zeroizing::new(
        URL_SAFE_NO_PAD.encode(bytes.as_slice()),
    )))
}

impl ManagementHint {
    /// A new key: the stored form, and the key to show once.
    pub fn generate() -> Result<(Self, SecretKey), devicetrust_pki::Error> {
        let secret = generate()?;
        let hint = Self {
            current: digest(secret.expose()),
            previous: None,
        };
        Ok((hint, secret))
    }

    /// "Reset secret key": a new key replaces the current one. With a grace
    /// period, the old key keeps working until `now + grace`; without one it
    /// stops at once (as does any older key still in grace).
    pub fn reset(
        &mut self,
        grace: Option<Duration>,
        now: OffsetDateTime,
    ) -> Result<SecretKey, devicetrust_pki::Error> {
        let secret = generate()?;
        let old = std::mem::replace(&mut self.current, digest(secret.expose()));
        // A grace period past the end of time saturates rather than overflows.
        self.previous = grace.filter(|g| g.is_positive()).map(|g| Previous {
            digest: old,
            valid_until: now
                .checked_add(g)
                .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc()),
        });
        Ok(secret)
    }

    /// Checks a presented `managementHint` at `now`, in constant time.
    pub fn check(&self, presented: &str, now: OffsetDateTime) -> Option<HintMatch> {
        let presented = digest(presented);
        let current = presented.0.ct_eq(&self.current.0);
        let (previous, in_grace) = match &self.previous {
            Some(p) => (presented.0.ct_eq(&p.digest.0), now <= p.valid_until),
            // Compare against something anyway, so both paths do the same work.
            None => (
                presented.0.ct_eq(&[0u8; 32]) & subtle::Choice::from(0),
                false,
            ),
        };
        if bool::from(current) {
            Some(HintMatch::Current)
        } else if bool::from(previous) && in_grace {
            Some(HintMatch::Previous)
        } else {
            None
        }
    }

    /// When the previous key stops working, if one is in its grace period at `now`.
    pub fn grace_until(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.previous
            .as_ref()
            .map(|p| p.valid_until)
            .filter(|until| now <= *until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_has_256_bits_and_is_not_stored() {
        let (hint, secret) = ManagementHint::generate().unwrap();
        assert_eq!(secret.expose().len(), 43);
        let stored = serde_json::to_string(&hint).unwrap();
        assert!(!stored.contains(secret.expose()));
        assert!(!format!("{secret:?}").contains(secret.expose()));
        let (_, other) = ManagementHint::generate().unwrap();
        assert_ne!(secret.expose(), other.expose());
        // The stored form round-trips and still matches.
        let back: ManagementHint = serde_json::from_str(&stored).unwrap();
        assert_eq!(
            back.check(secret.expose(), OffsetDateTime::UNIX_EPOCH),
            Some(HintMatch::Current)
        );
    }
}
