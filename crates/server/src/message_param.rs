//! Reading SCEP's GET parameters the way real clients send them.
//!
//! RFC 8894 section 4.1 says `message` is base64 and URL-escaped. Clients
//! differ: macOS and iOS leave `+` and `/` unescaped, some use the URL-safe
//! alphabet, some wrap lines. A `+` must stay a `+` (form decoding would turn
//! it into a space), so the raw query is parsed here rather than by a form decoder.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// No `operation=`.
    #[error("missing operation parameter")]
    MissingOperation,
    /// `operation=PKIOperation` by GET without `message=`.
    #[error("missing message parameter")]
    MissingMessage,
    /// The message is larger than allowed.
    #[error("message parameter of {len} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not base64 in any alphabet clients use.
    #[error("message parameter is not base64: {0}")]
    NotBase64(String),
    /// A parameter is not valid percent-encoded UTF-8.
    #[error("parameter {0} is not valid text")]
    NotText(&'static str),
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The raw (still percent-encoded) value of `name` in a query string.
fn raw_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The `operation` parameter.
pub fn operation(query: &str) -> Result<String, ParamError> {
    let raw = raw_param(query, "operation").ok_or(ParamError::MissingOperation)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ParamError::NotText("operation"))
}

/// Decodes the `message` parameter into DER, bounded by `limit` decoded bytes.
pub fn message(query: &str, limit: usize) -> Result<Vec<u8>, ParamError> {
    let raw = raw_param(query, "message").ok_or(ParamError::MissingMessage)?;
    // Base64 is 4/3 the size of what it encodes, plus escapes and line breaks.
    let encoded_limit = limit.saturating_mul(2).saturating_add(1024);
    if raw.len() > encoded_limit {
        return Err(ParamError::TooLarge {
            len: raw.len(),
            limit: encoded_limit,
        });
    }
    let unescaped: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    let normalised: Vec<u8> = unescaped
        .into_iter()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b'\t'))
        .map(|b| match b {
            // A space is a '+' that went through a form decoder somewhere.
            b' ' => b'+',
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    let der = LENIENT
        .decode(&normalised)
        .map_err(|e| ParamError::NotBase64(e.to_string()))?;
    if der.len() > limit {
        return Err(ParamError::TooLarge {
            len: der.len(),
            limit,
        });
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DER: &[u8] = &[0x30, 0x03, 0xfb, 0xff, 0xfe, 0x3e, 0x3f];

    #[test]
    fn every_client_spelling_decodes_to_the_same_bytes() {
        let standard = base64::engine::general_purpose::STANDARD.encode(DER);
        assert!(
            standard.contains('+') && standard.contains('/'),
            "{standard}"
        );
        let escaped: String =
            percent_encoding::utf8_percent_encode(&standard, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(DER);
        let wrapped = format!("{}%0A{}", &standard[..4], &standard[4..]);
        let spaced = standard.replace('+', " ");
        for spelling in [standard.clone(), escaped, url_safe, wrapped, spaced] {
            let query = format!("operation=PKIOperation&message={spelling}");
            assert_eq!(message(&query, 1024).unwrap(), DER, "{spelling}");
        }
    }

    #[test]
    fn bounds_and_errors() {
        assert_eq!(operation("message=x"), Err(ParamError::MissingOperation));
        assert_eq!(
            operation("operation=GetCACaps&message=CA"),
            Ok("GetCACaps".into())
        );
        assert_eq!(
            message("operation=PKIOperation", 10),
            Err(ParamError::MissingMessage)
        );
        assert!(matches!(
            message("message=!!!!", 10),
            Err(ParamError::NotBase64(_))
        ));
        let big = "A".repeat(10_000);
        assert!(matches!(
            message(&format!("message={big}"), 1000),
            Err(ParamError::TooLarge { .. })
        ));
        assert!(matches!(
            message("message=AAAAAAAAAAAA", 4),
            Err(ParamError::TooLarge { .. })
        ));
    }
}
