//! `zta`: CrowdStrike Zero Trust Assessment, read from the device's signed
//! `data.zta` file, a compact JWS.
//!
//! [`ZtaVerifier::verify`] accepts a token only if, in this order: it is at
//! most [`MAX_TOKEN_BYTES`] (checked before decoding anything); it is three
//! base64url segments with nothing after them; its header names `RS256` or
//! `ES256` (never `none`), has `typ` `crowdstrike-zta+jwt`, a `kid`, and no
//! `crit`; the `kid` names a configured key of that algorithm; the signature
//! verifies; the claims are well formed (and name the configured customer,
//! if one is set); and `iat`/`exp` hold against the clock within the
//! configured skew. Keys embedded in the token (`jwk`,
//! `jku`, `x5u`) are never used: only the configured [`Jwks`] is trusted.
//! Each refusal is a typed [`ZtaError`] carrying its evidence.
//!
//! ```
//! use devicetrust_edr::zta::{Jwks, ZtaError, ZtaVerifier};
//! use devicetrust_edr::{Freshness, SignalSet, SignalSource, Lookup, DeviceRecord};
//! use time::{Duration, macros::datetime};
//!
//! // The test fixtures: a JWKS and a token issued 2026-01-01, valid 30 days.
//! let jwks = Jwks::parse(include_bytes!("../../tests/data/zta/jwks.json"))?;
//! let token = include_bytes!("../../tests/data/zta/es256.jwt");
//! let verifier = ZtaVerifier::new(jwks).with_skew(Duration::seconds(30));
//!
//! let zta = verifier.verify(token, datetime!(2026-01-02 00:00 UTC))?;
//! assert_eq!(zta.overall(), 90);
//!
//! // Collected at `iat`, and stale from `exp` on whatever the maximum age.
//! let mut device = DeviceRecord::new();
//! device.insert(SignalSet::from(zta));
//! let freshness = Freshness::default();
//! let view = device.view(datetime!(2026-02-01 00:00 UTC), &freshness);
//! assert!(matches!(view.lookup("zta", "overall"), Lookup::Stale { .. }));
//!
//! // Once expired, the token itself is refused, with the evidence.
//! let err = verifier.verify(token, datetime!(2026-02-01 00:00 UTC)).unwrap_err();
//! assert!(matches!(err, ZtaError::Expired { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod claims;
mod error;
mod jwk;
mod jws;
mod model;
mod verify;

use core::fmt;

pub use error::{JwksError, Segment, ZtaError};
pub use jwk::{Jwks, MAX_JWKS_BYTES, MAX_KEYS, PublicKey, RSA_BITS};
pub use jws::{MAX_TOKEN_BYTES, ZTA_TYP};
pub use model::{UnverifiedToken, ZtaSignals, parse_unverified};
pub use verify::ZtaVerifier;

use crate::providers::Ingest;
use crate::schema::{AttrType, AttributeSchema, ProviderSchema};

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
