//! Why a ZTA token or key set was refused. Every variant carries the
//! evidence an operator needs; strings taken from the token are clipped to
//! 64 characters.

use core::fmt;

use time::{Duration, OffsetDateTime};

use super::Alg;

/// A part of a compact JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Segment {
    /// The protected header.
    Header,
    /// The claims (payload).
    Claims,
    /// The signature.
    Signature,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "header",
            Self::Claims => "claims",
            Self::Signature => "signature",
        })
    }
}

/// Why a ZTA token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZtaError {
    /// Longer than [`MAX_TOKEN_BYTES`](super::MAX_TOKEN_BYTES); nothing was decoded.
    #[error("token is {len} bytes, over the {max}-byte cap")]
    Oversized {
        /// Length received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not three dot-separated segments.
    #[error("token has {segments} dot-separated segments, not 3")]
    MalformedSegments {
        /// How many segments were found.
        segments: usize,
    },
    /// Bytes after the signature segment that are not base64url (a newline,
    /// a space, a second token...).
    #[error("token has trailing data at byte {offset}")]
    TrailingData {
        /// Offset of the first byte after the signature.
        offset: usize,
    },
    /// A segment is not unpadded base64url.
    #[error("{segment} segment is not unpadded base64url: {source}")]
    BadBase64 {
        /// Which segment.
        segment: Segment,
        /// What the decoder found.
        #[source]
        source: base64::DecodeError,
    },
    /// A segment is not a JSON object of the expected shape.
    #[error("{segment} segment is not valid: {source}")]
    BadJson {
        /// Which segment.
        segment: Segment,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A segment decodes to JSON that is not an object.
    #[error("{segment} segment is not a JSON object")]
    NotAnObject {
        /// Which segment.
        segment: Segment,
    },
    /// The header says `alg: none` (in any letter case).
    #[error("token declares alg \"none\"")]
    AlgNone,
    /// The signature segment is empty.
    #[error("token is unsigned: the signature segment is empty")]
    Unsigned,
    /// An algorithm other than RS256 or ES256.
    #[error("token algorithm {alg:?} is not RS256 or ES256")]
    UnsupportedAlg {
        /// The `alg` the header gave (clipped).
        alg: String,
    },
    /// The header's `typ` is missing or not `crowdstrike-zta+jwt`.
    #[error("token type is {found:?}, not \"crowdstrike-zta+jwt\"")]
    WrongType {
        /// The `typ` the header gave, if any (clipped).
        found: Option<String>,
    },
    /// The header has no `kid`, so no key can be chosen.
    #[error("token header has no kid")]
    MissingKid,
    /// The header lists critical extensions, which we do not implement, so
    /// RFC 7515 requires refusing the token.
    #[error("token header marks extensions critical: {names:?}")]
    CriticalHeader {
        /// The `crit` names (clipped, at most 8).
        names: Vec<String>,
    },
    /// No configured key has this `kid`.
    #[error("no configured key has kid {kid:?}")]
    UnknownKid {
        /// The `kid` the header gave (clipped).
        kid: String,
    },
    /// The key named by `kid` is for a different algorithm; refusing this
    /// closes algorithm-confusion attacks.
    #[error("key {kid:?} is a {key_alg} key, but the token says {alg}")]
    KeyMismatch {
        /// The key id.
        kid: String,
        /// The token's algorithm.
        alg: Alg,
        /// The key's algorithm.
        key_alg: Alg,
    },
    /// The signature has the wrong length for its algorithm.
    #[error("{alg} signature is {len} bytes, expected {expected}")]
    SignatureLength {
        /// The algorithm.
        alg: Alg,
        /// Length received.
        len: usize,
        /// Length required.
        expected: usize,
    },
    /// The signature does not verify.
    #[error("signature does not verify under key {kid:?} ({alg})")]
    BadSignature {
        /// The key id.
        kid: String,
        /// The algorithm.
        alg: Alg,
    },
    /// The token is for another CrowdStrike customer than the one configured.
    #[error("token is for customer {found:?}, not {expected:?}")]
    WrongCustomer {
        /// The configured customer id.
        expected: String,
        /// The token's `cid` (clipped).
        found: String,
    },
    /// `exp` is in the past, beyond the allowed skew.
    #[error("token expired at {exp} (now {now}, allowed skew {skew})")]
    Expired {
        /// The token's `exp`.
        exp: OffsetDateTime,
        /// The time it was checked at.
        now: OffsetDateTime,
        /// The allowed clock skew.
        skew: Duration,
    },
    /// `iat` is in the future, beyond the allowed skew.
    #[error("token issued at {iat}, in the future (now {now}, allowed skew {skew})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: OffsetDateTime,
        /// The time it was checked at.
        now: OffsetDateTime,
        /// The allowed clock skew.
        skew: Duration,
    },
    /// `nbf` is in the future, beyond the allowed skew.
    #[error("token not valid before {nbf} (now {now}, allowed skew {skew})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: OffsetDateTime,
        /// The time it was checked at.
        now: OffsetDateTime,
        /// The allowed clock skew.
        skew: Duration,
    },
    /// A claim is present but unusable.
    #[error("claim {claim} is invalid: {reason}")]
    BadClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a JWKS (the configured verification keys) was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// Longer than [`MAX_JWKS_BYTES`](super::MAX_JWKS_BYTES).
    #[error("key set is {len} bytes, over the {max}-byte cap")]
    Oversized {
        /// Length received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not a JSON object with a `keys` array of JWKs.
    #[error("key set is not valid: {source}")]
    Invalid {
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// More keys than [`MAX_KEYS`](super::MAX_KEYS).
    #[error("key set has {count} keys, over the limit of {max}")]
    TooManyKeys {
        /// Keys found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A key has no `kid`; tokens choose keys by `kid`, so it could never be used.
    #[error("key number {index} has no kid")]
    MissingKid {
        /// Position in `keys`.
        index: usize,
    },
    /// Two keys share a `kid`, so a token's choice would be ambiguous.
    #[error("kid {kid:?} appears more than once")]
    DuplicateKid {
        /// The repeated id.
        kid: String,
    },
    /// A key type or curve we do not verify with.
    #[error("key {kid:?} has unsupported kty {kty:?} / crv {crv:?}")]
    UnsupportedKey {
        /// The key id.
        kid: String,
        /// Its `kty`.
        kty: String,
        /// Its `crv`, if any.
        crv: Option<String>,
    },
    /// The key's `alg` or `use` does not allow verifying ZTA tokens.
    #[error("key {kid:?} is restricted to {restriction:?}")]
    Restricted {
        /// The key id.
        kid: String,
        /// The `alg` or `use` value that excludes it.
        restriction: String,
    },
    /// The key carries private members; a verifier must never hold them.
    #[error("key {kid:?} contains private key material")]
    PrivateKey {
        /// The key id.
        kid: String,
    },
    /// A key member is missing, not base64url, or not a valid key.
    #[error("key {kid:?} is invalid: {reason}")]
    BadKey {
        /// The key id.
        kid: String,
        /// What is wrong.
        reason: &'static str,
    },
}
