//! Splitting and decoding a compact JWS (`header.claims.signature`) with
//! every check that needs no key: size cap first, then shape, then header.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Alg, Segment, ZtaError};
use crate::payload::clip;

/// The largest token accepted, checked before anything is decoded.
pub const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// The `typ` CrowdStrike puts in ZTA tokens.
pub const ZTA_TYP: &str = "crowdstrike-zta+jwt";

/// A token split and its header checked; the signature is not yet verified.
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    /// `header.claims`, the bytes the signature covers.
    pub(crate) signing_input: &'a [u8],
    /// The claims segment, still encoded.
    pub(crate) claims_b64: &'a [u8],
    /// The decoded signature (never empty).
    pub(crate) signature: Vec<u8>,
    pub(crate) alg: Alg,
    pub(crate) kid: String,
}

#[derive(Deserialize)]
struct HeaderWire {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<Vec<String>>,
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

pub(crate) fn decode_b64(segment: Segment, bytes: &[u8]) -> Result<Vec<u8>, ZtaError> {
    URL_SAFE_NO_PAD
        .decode(bytes)
        .map_err(|source| ZtaError::BadBase64 { segment, source })
}

/// Decode a base64url segment holding a JSON object into `T`.
pub(crate) fn decode_json<T: DeserializeOwned>(
    segment: Segment,
    bytes: &[u8],
) -> Result<T, ZtaError> {
    let raw = decode_b64(segment, bytes)?;
    // Serde's derived structs would also take a JSON array; no JOSE object is one.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ZtaError::NotAnObject { segment });
    }
    serde_json::from_slice(&raw).map_err(|source| ZtaError::BadJson { segment, source })
}

/// Split `token` and check its header. Checks run cheapest-first, and the
/// size cap runs before any decoding so a huge input costs nothing.
pub(crate) fn split(token: &[u8]) -> Result<Compact<'_>, ZtaError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ZtaError::Oversized {
            len: token.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    let mut parts = token.splitn(3, |b| *b == b'.');
    let (Some(header_b64), Some(claims_b64), Some(sig_b64)) =
        (parts.next(), parts.next(), parts.next())
    else {
        let dots = token.iter().filter(|b| **b == b'.').count();
        return Err(ZtaError::MalformedSegments {
            segments: dots.saturating_add(1),
        });
    };
    if let Some(pos) = sig_b64.iter().position(|b| !is_b64url(*b)) {
        if sig_b64.get(pos) == Some(&b'.') {
            let dots = token.iter().filter(|b| **b == b'.').count();
            return Err(ZtaError::MalformedSegments {
                segments: dots.saturating_add(1),
            });
        }
        let offset = token
            .len()
            .saturating_sub(sig_b64.len())
            .saturating_add(pos);
        return Err(ZtaError::TrailingData { offset });
    }
    let signing_input = token
        .get(
            ..header_b64
                .len()
                .saturating_add(1)
                .saturating_add(claims_b64.len()),
        )
        .ok_or(ZtaError::MalformedSegments { segments: 3 })?;

    let header: HeaderWire = decode_json(Segment::Header, header_b64)?;
    // `none` in any case: some libraries compared case-insensitively and
    // were tricked by "None" or "NONE".
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(ZtaError::AlgNone);
    }
    let alg = Alg::from_header(&header.alg).ok_or_else(|| ZtaError::UnsupportedAlg {
        alg: clip(&header.alg),
    })?;
    if !header.typ.as_deref().is_some_and(typ_is_zta) {
        return Err(ZtaError::WrongType {
            found: header.typ.as_deref().map(clip),
        });
    }
    if let Some(crit) = header.crit {
        return Err(ZtaError::CriticalHeader {
            names: crit.iter().take(8).map(|c| clip(c)).collect(),
        });
    }
    let kid = header.kid.ok_or(ZtaError::MissingKid)?;
    if sig_b64.is_empty() {
        return Err(ZtaError::Unsigned);
    }
    let signature = decode_b64(Segment::Signature, sig_b64)?;
    Ok(Compact {
        signing_input,
        claims_b64,
        signature,
        alg,
        kid,
    })
}

/// RFC 7515 4.1.9: `typ` is a media type, compared case-insensitively, and
/// may omit its `application/` prefix.
fn typ_is_zta(typ: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
        _ => typ,
    };
    bare.eq_ignore_ascii_case(ZTA_TYP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_forms() {
        assert!(typ_is_zta("crowdstrike-zta+jwt"));
        assert!(typ_is_zta("CrowdStrike-ZTA+JWT"));
        assert!(typ_is_zta("application/crowdstrike-zta+jwt"));
        assert!(!typ_is_zta("JWT"));
        assert!(!typ_is_zta("application/"));
        assert!(!typ_is_zta("crowdstrike-zta+jwt "));
        assert!(!typ_is_zta("é"), "non-ASCII must not panic on slicing");
    }
}
