//! The configured verification keys: a JWKS holding RSA (RS256) and P-256
//! (ES256) public keys, chosen by `kid` so keys can rotate.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::BoxedUint;
use serde::Deserialize;

use super::{Alg, JwksError};
use crate::payload::clip;

/// The largest JWKS file accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The most keys one JWKS may hold (rotation needs two or three).
pub const MAX_KEYS: usize = 64;
/// RSA modulus sizes accepted, in bits: below 2048 is too weak, and the
/// upper bound keeps a hostile key from making each verification slow.
pub const RSA_BITS: core::ops::RangeInclusive<usize> = 2048..=8192;

/// One verification key.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PublicKey {
    /// An RSA key, for RS256.
    Rsa(rsa::PublicKey),
    /// A P-256 key, for ES256.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// The only algorithm this key verifies.
    #[must_use]
    pub const fn alg(&self) -> Alg {
        match self {
            Self::Rsa(_) => Alg::Rs256,
            Self::P256(_) => Alg::Es256,
        }
    }
}

/// Verification keys by `kid`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Jwks {
    keys: BTreeMap<String, PublicKey>,
}

/// One JWK as it appears in the file; members we do not use are ignored.
#[derive(Deserialize)]
struct JwkWire {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    // Private members: present only in a key that should never be here.
    d: Option<serde::de::IgnoredAny>,
    p: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct JwksWire {
    keys: Vec<JwkWire>,
}

impl Jwks {
    /// An empty key set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse a JWKS document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// [`JwksError`] if the document is oversized, malformed, has too many
    /// keys, or any key is unusable: the whole set is refused rather than
    /// silently dropping a key an operator expects to be trusted.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Oversized {
                len: bytes.len(),
                max: MAX_JWKS_BYTES,
            });
        }
        let wire: JwksWire =
            serde_json::from_slice(bytes).map_err(|source| JwksError::Invalid { source })?;
        if wire.keys.len() > MAX_KEYS {
            return Err(JwksError::TooManyKeys {
                count: wire.keys.len(),
                max: MAX_KEYS,
            });
        }
        let mut set = Self::new();
        for (index, jwk) in wire.keys.into_iter().enumerate() {
            let kid = jwk.kid.clone().ok_or(JwksError::MissingKid { index })?;
            let key = jwk_to_key(&kid, jwk)?;
            set.insert(kid, key)?;
        }
        Ok(set)
    }

    /// Add a key.
    ///
    /// # Errors
    /// [`JwksError::DuplicateKid`] if `kid` is already present, or
    /// [`JwksError::TooManyKeys`] if the set is full.
    pub fn insert(&mut self, kid: impl Into<String>, key: PublicKey) -> Result<(), JwksError> {
        let kid = kid.into();
        if self.keys.len() >= MAX_KEYS {
            return Err(JwksError::TooManyKeys {
                count: self.keys.len().saturating_add(1),
                max: MAX_KEYS,
            });
        }
        if self.keys.contains_key(&kid) {
            return Err(JwksError::DuplicateKid { kid: clip(&kid) });
        }
        self.keys.insert(kid, key);
        Ok(())
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&PublicKey> {
        self.keys.get(kid)
    }

    /// How many keys the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

fn jwk_to_key(kid: &str, jwk: JwkWire) -> Result<PublicKey, JwksError> {
    let bad = |reason| JwksError::BadKey {
        kid: clip(kid),
        reason,
    };
    if jwk.d.is_some() || jwk.p.is_some() {
        return Err(JwksError::PrivateKey { kid: clip(kid) });
    }
    if let Some(u) = jwk.use_.as_deref().filter(|u| *u != "sig") {
        return Err(JwksError::Restricted {
            kid: clip(kid),
            restriction: clip(u),
        });
    }
    let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("RSA", _) => {
            let n = member(jwk.n.as_deref()).ok_or_else(|| bad("n is missing or not base64url"))?;
            let e = member(jwk.e.as_deref()).ok_or_else(|| bad("e is missing or not base64url"))?;
            let n = BoxedUint::from_be_slice_vartime(&n);
            let e = BoxedUint::from_be_slice_vartime(&e);
            rsa::PublicKey::new_with_size_limits(n, e, RSA_BITS)
                .map(PublicKey::Rsa)
                .map_err(|_| bad("not an acceptable RSA public key (2048 to 8192 bits)"))?
        }
        ("EC", Some("P-256")) => {
            let x = member(jwk.x.as_deref()).ok_or_else(|| bad("x is missing or not base64url"))?;
            let y = member(jwk.y.as_deref()).ok_or_else(|| bad("y is missing or not base64url"))?;
            // RFC 7518 6.2.1.2: coordinates are exactly the field size.
            if x.len() != 32 || y.len() != 32 {
                return Err(bad("x and y must be 32 bytes each"));
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map(PublicKey::P256)
                .map_err(|_| bad("x, y is not a point on P-256"))?
        }
        (kty, crv) => {
            return Err(JwksError::UnsupportedKey {
                kid: clip(kid),
                kty: clip(kty),
                crv: crv.map(clip),
            });
        }
    };
    if let Some(alg) = jwk.alg.as_deref().filter(|a| *a != key.alg().as_str()) {
        return Err(JwksError::Restricted {
            kid: clip(kid),
            restriction: clip(alg),
        });
    }
    Ok(key)
}

fn member(value: Option<&str>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(value?)
        .ok()
        .filter(|v| !v.is_empty())
}

/// Encoding keys back to JWK form, for fixtures and tools.
impl PublicKey {
    /// This key as a JWK JSON object with the given `kid`.
    #[must_use]
    pub fn to_jwk(&self, kid: &str) -> serde_json::Value {
        use rsa::traits::PublicKeyParts as _;
        match self {
            Self::Rsa(k) => serde_json::json!({
                "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(k.n_bytes()),
                "e": URL_SAFE_NO_PAD.encode(k.e_bytes()),
            }),
            Self::P256(k) => {
                let point = k.to_sec1_point(false);
                serde_json::json!({
                    "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": point.x().map(|x| URL_SAFE_NO_PAD.encode(x)),
                    "y": point.y().map(|y| URL_SAFE_NO_PAD.encode(y)),
                })
            }
        }
    }
}
