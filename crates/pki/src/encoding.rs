//! Bounded DER and PEM decoding shared by every parser in this crate.
//!
//! Every input that crosses a trust boundary passes through here: it is
//! size-checked before any allocation, must be one complete value with no
//! trailing bytes, and PEM must be UTF-8 with the label the caller expects.

use der::{Decode, Reader, SliceReader};

use crate::{Error, Result};

/// Default upper bound for one DER object (certificate, request, CRL, key).
pub const MAX_DER_LEN: usize = 64 * 1024;

/// Most PEM blocks accepted in one input (a chain file, say).
pub const MAX_PEM_BLOCKS: usize = 16;

/// Decodes exactly one `T` from `bytes`, refusing oversize input and trailing bytes.
pub fn decode_der<'a, T: Decode<'a, Error = der::Error>>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<T> {
    if bytes.len() > MAX_DER_LEN {
        return Err(Error::TooLarge {
            what,
            len: bytes.len(),
            limit: MAX_DER_LEN,
        });
    }
    let mut reader = SliceReader::new(bytes).map_err(Error::der(what))?;
    let value = T::decode(&mut reader).map_err(Error::der(what))?;
    let trailing = reader.remaining_len().try_into().unwrap_or(usize::MAX);
    if trailing != 0 {
        return Err(Error::TrailingData { what, trailing });
    }
    Ok(value)
}

/// One PEM block: its label and its decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`.
    pub label: String,
    /// The decoded DER.
    pub der: Vec<u8>,
}

/// Splits PEM text into its blocks. Text outside blocks (comments such as
/// OpenSSL's `Bag Attributes`) is ignored, as OpenSSL does; inside a block
/// everything must be valid.
pub fn pem_blocks(input: &[u8]) -> Result<Vec<PemBlock>> {
    const LIMIT: usize = MAX_DER_LEN * 2 * MAX_PEM_BLOCKS;
    if input.len() > LIMIT {
        return Err(Error::TooLarge {
            what: "pem input",
            len: input.len(),
            limit: LIMIT,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| Error::Pem {
        reason: format!("not utf-8 (at byte {})", e.valid_up_to()),
    })?;
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from_begin = rest.get(start..).unwrap_or_default();
        let label_end = from_begin
            .get(11..)
            .and_then(|s| s.find("-----"))
            .ok_or_else(|| Error::Pem {
                reason: "unterminated BEGIN line".into(),
            })?;
        let label = from_begin.get(11..11 + label_end).unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let end = from_begin.find(&end_marker).ok_or_else(|| Error::Pem {
            reason: format!("no END line for {label:?}"),
        })?;
        let block_text = from_begin.get(..end + end_marker.len()).unwrap_or_default();
        if blocks.len() == MAX_PEM_BLOCKS {
            return Err(Error::Pem {
                reason: format!("more than {MAX_PEM_BLOCKS} blocks"),
            });
        }
        let (found, der) = der::pem::decode_vec(block_text.as_bytes()).map_err(|e| Error::Pem {
            reason: format!("block {label:?}: {e}"),
        })?;
        if der.len() > MAX_DER_LEN {
            return Err(Error::TooLarge {
                what: "pem block",
                len: der.len(),
                limit: MAX_DER_LEN,
            });
        }
        blocks.push(PemBlock {
            label: found.to_owned(),
            der,
        });
        rest = from_begin.get(end + end_marker.len()..).unwrap_or_default();
    }
    if blocks.is_empty() {
        return Err(Error::Pem {
            reason: "no PEM block found".into(),
        });
    }
    Ok(blocks)
}

/// Decodes input that is either one DER value or one PEM block with one of `labels`.
///
/// DER is recognised by its leading SEQUENCE tag; anything else must be PEM.
pub fn der_or_pem(input: &[u8], labels: &'static [&'static str]) -> Result<Vec<u8>> {
    if input.first() == Some(&0x30) {
        return Ok(input.to_vec());
    }
    let mut blocks = pem_blocks(input)?;
    if blocks.len() != 1 {
        return Err(Error::Pem {
            reason: format!("expected one PEM block, found {}", blocks.len()),
        });
    }
    let Some(block) = blocks.pop() else {
        return Err(Error::Pem {
            reason: "no PEM block found".into(),
        });
    };
    if !labels.contains(&block.label.as_str()) {
        return Err(Error::PemLabel {
            expected: labels.first().copied().unwrap_or_default(),
            found: block.label,
        });
    }
    Ok(block.der)
}

/// Encodes DER as one PEM block with LF line endings.
pub fn to_pem(label: &'static str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).map_err(|e| Error::Pem {
        reason: format!("encoding {label}: {e}"),
    })
}
