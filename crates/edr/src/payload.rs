//! Bounded JSON decoding shared by the JSON-payload providers.

use serde::de::DeserializeOwned;

/// The largest JSON payload a device may send for one provider.
///
/// Real payloads are well under 4 KiB; the cap keeps a hostile device from
/// making us allocate for it.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Why a JSON signal payload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("{provider} payload is {len} bytes, over the {max}-byte cap")]
    Oversized {
        /// Provider id.
        provider: &'static str,
        /// Length received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// No provider of this id is registered.
    #[error("unknown provider {provider:?}")]
    UnknownProvider {
        /// The id asked for (clipped).
        provider: String,
    },
    /// The provider's signals arrive as signed tokens and need a verifier.
    #[error("{provider} signals are signed tokens: verify them, do not parse them")]
    NeedsVerifier {
        /// Provider id.
        provider: String,
    },
    /// The payload is not a JSON object.
    #[error("{provider} payload is not a JSON object")]
    NotAnObject {
        /// Provider id.
        provider: &'static str,
    },
    /// The payload is not JSON of the expected shape.
    #[error("{provider} payload is not valid: {source}")]
    Invalid {
        /// Provider id.
        provider: &'static str,
        /// What serde found wrong, with line and column.
        #[source]
        source: serde_json::Error,
    },
}

/// Decode `bytes` as `T`, refusing oversized input before parsing.
pub(crate) fn decode<T: DeserializeOwned>(
    provider: &'static str,
    bytes: &[u8],
) -> Result<T, PayloadError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::Oversized {
            provider,
            len: bytes.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    // Serde's derived structs also accept a JSON array (fields by position),
    // a shape no device sends; insist on an object so field names are checked.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(PayloadError::NotAnObject { provider });
    }
    // serde_json rejects trailing data and nests at most 128 levels deep.
    serde_json::from_slice(bytes).map_err(|source| PayloadError::Invalid { provider, source })
}

/// A device-supplied string clipped to 64 characters, for error values:
/// enough to recognise it, too little to flood a log.
pub(crate) fn clip(value: &str) -> String {
    value.chars().take(64).collect()
}

/// A device-supplied string made safe to log: at most 64 characters,
/// printed with `Debug` so control characters are escaped.
pub(crate) fn loggable(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    let clipped: String = value.chars().take(MAX_CHARS).collect();
    if clipped.len() < value.len() {
        format!("{clipped:?}…")
    } else {
        format!("{clipped:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_is_refused_before_parsing() {
        // Not JSON at all: the size check must fire first.
        let big = vec![b'x'; MAX_PAYLOAD_BYTES + 1];
        let err = decode::<serde_json::Value>("wsc", &big).unwrap_err();
        assert!(matches!(err, PayloadError::Oversized { len, .. } if len == MAX_PAYLOAD_BYTES + 1));
    }

    #[test]
    fn arrays_are_refused() {
        let err = decode::<serde_json::Value>("wsc", b" [1]").unwrap_err();
        assert!(matches!(err, PayloadError::NotAnObject { provider: "wsc" }));
    }

    #[test]
    fn trailing_data_is_refused() {
        let err = decode::<serde_json::Value>("wsc", b"{} {}").unwrap_err();
        assert!(matches!(err, PayloadError::Invalid { .. }));
    }

    #[test]
    fn loggable_clips_and_escapes() {
        assert_eq!(loggable("a\nb"), "\"a\\nb\"");
        let long = "y".repeat(100);
        let shown = loggable(&long);
        assert!(shown.ends_with('…'));
        assert_eq!(shown.matches('y').count(), 64);
    }
}
