//! `zta`: CrowdStrike Zero Trust Assessment, read from the device's signed
//! `data.zta` file, a compact JWS.
//!
//! [`ZtaVerifier::verify`] accepts a token only if, in this order: it is at
//! most [`MAX_TOKEN_BYTES`] (checked before decoding anything); it is three
//! base64url segments with nothing after them; its header names `RS256` or
//! `ES256` (never `none`), has `typ` `crowdstrike-zta+jwt`, a `kid`, and no
//! `crit`; the `kid` names a configured key of that algorithm; the signature
//! verifies; the claims are well formed (and name the configured customer,
//! if one is set); and `iat`/`exp` hold against the
//! clock within the configured skew. Keys embedded in the token (`jwk`,
//! `jku`, `x5u`) are never used: only the configured [`Jwks`] is trusted.
//! Each refusal is a typed [`ZtaError`] carrying its evidence.

mod claims;
mod error;
mod jwk;
mod jws;

use core::fmt;

use sha2::Sha256;
use time::{Duration, OffsetDateTime};

pub use error::{JwksError, Segment, ZtaError};
pub use jwk::{Jwks, MAX_JWKS_BYTES, MAX_KEYS, PublicKey, RSA_BITS};
pub use jws::{MAX_TOKEN_BYTES, ZTA_TYP};

use crate::providers::Ingest;
use crate::schema::{AttrType, AttributeSchema, ProviderSchema};
use crate::signals::ProviderSignals;
use crate::view::SignalValue;
use claims::{Claims, ClaimsWire};

const fn attr(name: &'static str, ty: AttrType, doc: &'static str) -> AttributeSchema {
    AttributeSchema { name, ty, doc }
}

/// Assessments arrive as signed tokens; only [`ZtaVerifier`] turns one into signals.
pub const INGEST: Ingest = Ingest::SignedToken;

/// Published schema of `device.provider.zta.*`.
pub static SCHEMA: ProviderSchema = ProviderSchema {
    id: "zta",
    name: "CrowdStrike Zero Trust Assessment",
    attributes: &[
        attr(
            "overall",
            AttrType::Number,
            "overall score, 1-100, higher is better",
        ),
        attr("os", AttrType::Number, "operating-system score, 1-100"),
        attr(
            "sensorConfig",
            AttrType::Number,
            "Falcon sensor configuration score, 1-100",
        ),
        attr(
            "aid",
            AttrType::String,
            "Falcon agent id (the token's `sub`)",
        ),
        attr("cid", AttrType::String, "CrowdStrike customer id"),
        attr(
            "csPlatform",
            AttrType::String,
            "OS platform as CrowdStrike reports it",
        ),
        attr(
            "csSerialNumber",
            AttrType::String,
            "device serial number as CrowdStrike reports it",
        ),
        attr(
            "issuedDateTime",
            AttrType::Timestamp,
            "when the assessment was issued (`iat`)",
        ),
        attr(
            "expirationDateTime",
            AttrType::Timestamp,
            "when the assessment expires (`exp`)",
        ),
    ],
};

/// A JWS algorithm we verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256 (signature is raw `r || s`, 64 bytes).
    Es256,
}

impl Alg {
    /// The JOSE name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    /// Exact, case-sensitive match: RFC 7515 `alg` values are case-sensitive.
    fn from_header(alg: &str) -> Option<Self> {
        [Self::Rs256, Self::Es256]
            .into_iter()
            .find(|a| a.as_str() == alg)
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified Zero Trust Assessment. Only [`ZtaVerifier::verify`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZtaSignals {
    claims: Claims,
}

impl ZtaSignals {
    /// `overall` score.
    #[must_use]
    pub const fn overall(&self) -> u8 {
        self.claims.overall
    }
    /// `os` score.
    #[must_use]
    pub const fn os(&self) -> u8 {
        self.claims.os
    }
    /// `sensorConfig` score.
    #[must_use]
    pub const fn sensor_config(&self) -> u8 {
        self.claims.sensor_config
    }
    /// `aid`, the Falcon agent id (JWT `sub`).
    #[must_use]
    pub fn aid(&self) -> &str {
        &self.claims.aid
    }
    /// `cid`, the CrowdStrike customer id.
    #[must_use]
    pub fn cid(&self) -> &str {
        &self.claims.cid
    }
    /// `csPlatform`.
    #[must_use]
    pub fn platform(&self) -> Option<&str> {
        self.claims.platform.as_deref()
    }
    /// `csSerialNumber`.
    #[must_use]
    pub fn serial_number(&self) -> Option<&str> {
        self.claims.serial_number.as_deref()
    }
    /// The scoring model version, if given.
    #[must_use]
    pub fn assessment_version(&self) -> Option<&str> {
        self.claims.version.as_deref()
    }
    /// `issuedDateTime` (`iat`).
    #[must_use]
    pub const fn issued_at(&self) -> OffsetDateTime {
        self.claims.issued_at
    }
    /// `expirationDateTime` (`exp`).
    #[must_use]
    pub const fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at
    }

    /// The claims as CrowdStrike lays them out (a JSON object), ready to be
    /// signed again; used by tests and fixture tools.
    ///
    /// # Errors
    /// Only if serialisation fails, which it does not for this type.
    pub fn claims_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&ClaimsWire::from(&self.claims))
    }
}

impl ProviderSignals for ZtaSignals {
    fn schema(&self) -> &'static ProviderSchema {
        &SCHEMA
    }

    fn value(&self, attribute: &str) -> Option<SignalValue<'_>> {
        let c = &self.claims;
        Some(match attribute {
            "overall" => SignalValue::Number(f64::from(c.overall)),
            "os" => SignalValue::Number(f64::from(c.os)),
            "sensorConfig" => SignalValue::Number(f64::from(c.sensor_config)),
            "aid" => SignalValue::String(&c.aid),
            "cid" => SignalValue::String(&c.cid),
            "csPlatform" => SignalValue::String(c.platform.as_deref()?),
            "csSerialNumber" => SignalValue::String(c.serial_number.as_deref()?),
            "issuedDateTime" => SignalValue::Timestamp(c.issued_at),
            "expirationDateTime" => SignalValue::Timestamp(c.expires_at),
            _ => return None,
        })
    }
}

/// A token decoded without checking its signature or the clock: for
/// diagnostics and fuzzing only. It deliberately offers no signal values, so
/// it cannot reach a policy decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedToken {
    alg: Alg,
    kid: String,
    claims: Claims,
}

impl UnverifiedToken {
    /// The header's algorithm.
    #[must_use]
    pub const fn alg(&self) -> Alg {
        self.alg
    }
    /// The header's key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The claimed agent id (`sub`).
    #[must_use]
    pub fn aid(&self) -> &str {
        &self.claims.aid
    }
    /// The claimed expiry.
    #[must_use]
    pub const fn expires_at(&self) -> OffsetDateTime {
        self.claims.expires_at
    }
}

/// Decode a token and run every check that needs neither key nor clock.
///
/// # Errors
/// The [`ZtaError`] of the first check that fails.
pub fn parse_unverified(token: &[u8]) -> Result<UnverifiedToken, ZtaError> {
    let compact = jws::split(token)?;
    let claims = decode_claims(compact.claims_b64)?;
    Ok(UnverifiedToken {
        alg: compact.alg,
        kid: compact.kid,
        claims,
    })
}

fn decode_claims(claims_b64: &[u8]) -> Result<Claims, ZtaError> {
    let wire: ClaimsWire = jws::decode_json(Segment::Claims, claims_b64)?;
    Claims::try_from(wire)
}

/// Verifies ZTA tokens against configured keys and the clock.
#[derive(Debug, Clone)]
pub struct ZtaVerifier {
    keys: Jwks,
    skew: Duration,
    customer: Option<String>,
}

impl ZtaVerifier {
    /// Clock skew allowed by default on `iat` and `exp`.
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
        Ok(())
    }
}
