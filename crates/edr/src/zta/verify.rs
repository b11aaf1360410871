//! Checking a token against the configured keys and the clock.

use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use super::claims::Claims;
use super::model::decode_claims;
use super::{Jwks, PublicKey, ZtaError, ZtaSignals, jws};

/// Verifies ZTA tokens against configured keys and the clock.
#[derive(Debug, Clone)]
pub struct ZtaVerifier {
    keys: Jwks,
    skew: Duration,
    customer: Option<String>,
}

impl ZtaVerifier {
    /// Clock skew allowed by default on `iat`, `nbf` and `exp`.
    pub const DEFAULT_SKEW: Duration = Duration::seconds(60);

    /// A verifier trusting `keys`, with [`DEFAULT_SKEW`](Self::DEFAULT_SKEW).
    #[must_use]
    pub const fn new(keys: Jwks) -> Self {
        Self {
            keys,
            skew: Self::DEFAULT_SKEW,
            customer: None,
        }
    }

    /// Accept only tokens for CrowdStrike customer `cid`.
    ///
    /// CrowdStrike signs every tenant's tokens with the same keys, so
    /// without this a device enrolled in someone else's tenant could present
    /// its own, genuinely signed, assessment.
    #[must_use]
    pub fn with_customer_id(mut self, cid: impl Into<String>) -> Self {
        self.customer = Some(cid.into());
        self
    }

    /// Allow `skew` of clock difference (its sign is ignored).
    #[must_use]
    pub const fn with_skew(mut self, skew: Duration) -> Self {
        self.skew = skew.abs();
        self
    }

    /// The allowed clock skew.
    #[must_use]
    pub const fn skew(&self) -> Duration {
        self.skew
    }

    /// The trusted keys.
    #[must_use]
    pub const fn keys(&self) -> &Jwks {
        &self.keys
    }

    /// Verify `token` at time `now`.
    ///
    /// # Errors
    /// The [`ZtaError`] of the first check that fails (see the module docs
    /// for the order).
    pub fn verify(&self, token: &[u8], now: OffsetDateTime) -> Result<ZtaSignals, ZtaError> {
        let compact = jws::split(token)?;
        self.check_signature(&compact)?;
        // Claims are parsed only once the signature has vouched for them.
        let claims = decode_claims(compact.claims_b64)?;
        if let Some(expected) = self.customer.as_deref().filter(|c| *c != claims.cid) {
            return Err(ZtaError::WrongCustomer {
                expected: expected.to_owned(),
                found: crate::payload::clip(&claims.cid),
            });
        }
        self.check_clock(&claims, now)?;
        Ok(ZtaSignals { claims })
    }

    fn check_signature(&self, c: &jws::Compact<'_>) -> Result<(), ZtaError> {
        let kid = crate::payload::clip(&c.kid);
        let key = self
            .keys
            .get(&c.kid)
            .ok_or_else(|| ZtaError::UnknownKid { kid: kid.clone() })?;
        if key.alg() != c.alg {
            return Err(ZtaError::KeyMismatch {
                kid,
                alg: c.alg,
                key_alg: key.alg(),
            });
        }
        let bad = |kid| ZtaError::BadSignature { kid, alg: c.alg };
        match key {
            PublicKey::Rsa(k) => k
                .pkcs1v15_verify::<Sha256>(c.signing_input, &c.signature)
                .map_err(|_| bad(kid)),
            PublicKey::P256(k) => {
                use p256::ecdsa::signature::Verifier as _;
                const ES256_LEN: usize = 64;
                if c.signature.len() != ES256_LEN {
                    return Err(ZtaError::SignatureLength {
                        alg: c.alg,
                        len: c.signature.len(),
                        expected: ES256_LEN,
                    });
                }
                let sig = p256::ecdsa::Signature::from_slice(&c.signature)
                    .map_err(|_| bad(kid.clone()))?;
                k.verify(c.signing_input, &sig).map_err(|_| bad(kid))
            }
        }
    }

    fn check_clock(&self, c: &Claims, now: OffsetDateTime) -> Result<(), ZtaError> {
        let skew = self.skew;
        // `None` means the sum is past the end of time: then it is not expired.
        if c.expires_at.checked_add(skew).is_some_and(|end| now > end) {
            return Err(ZtaError::Expired {
                exp: c.expires_at,
                now,
                skew,
            });
        }
        if now
            .checked_add(skew)
            .is_some_and(|latest| c.issued_at > latest)
        {
            return Err(ZtaError::IssuedInFuture {
                iat: c.issued_at,
                now,
                skew,
            });
        }
        if let Some(nbf) = c.not_before
            && now.checked_add(skew).is_some_and(|latest| nbf > latest)
        {
            return Err(ZtaError::NotYetValid { nbf, now, skew });
        }
        Ok(())
    }
}
