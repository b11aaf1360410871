//! Certificate serial numbers.
//!
//! ```text
//! CertificateSerialNumber  ::=  INTEGER
//! ```
//! RFC 5280, section 4.1.2.2: positive, at most 20 octets. CA/Browser Forum
//! practice adds at least 64 bits from a CSPRNG; ours have 127.

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A positive serial number of 1 to 20 octets, kept as its magnitude (no sign octet).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SerialNumber(Vec<u8>);

impl SerialNumber {
    /// A fresh random serial: 16 octets, the first in 0x01..=0x7f, so the
    /// encoding is always 16 octets and positive (127 bits of entropy).
    pub fn random() -> Result<Self> {
        let mut bytes = vec![0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
        if let Some(first) = bytes.first_mut() {
            *first = (*first & 0x7f).max(1);
        }
        Ok(Self(bytes))
    }

    /// From the DER INTEGER contents of a certificate's serial (two's complement).
    pub fn from_der_integer(bytes: &[u8]) -> Result<Self> {
        let bad = |reason| Error::BadSerial {
            input: hex::encode(bytes),
            reason,
        };
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(bad("negative"));
        }
        let magnitude: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        if magnitude.is_empty() {
            return Err(bad("zero"));
        }
        Self::checked(magnitude).map_err(bad)
    }

    /// RFC 5280 counts the sign octet: a 20-octet magnitude with its top bit
    /// set would need 21 octets, so it is refused here, not at encoding time.
    fn checked(magnitude: Vec<u8>) -> std::result::Result<Self, &'static str> {
        let encoded_len =
            magnitude.len() + usize::from(magnitude.first().is_some_and(|b| b & 0x80 != 0));
        if encoded_len > 20 {
            return Err("longer than 20 octets when encoded");
        }
        Ok(Self(magnitude))
    }

    /// The magnitude, big-endian, without leading zeros.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// As the x509-cert type (adds the sign octet when needed).
    pub fn to_x509(&self) -> Result<x509_cert::serial_number::SerialNumber> {
        let mut contents = Vec::with_capacity(self.0.len() + 1);
        if self.0.first().is_some_and(|b| b & 0x80 != 0) {
            contents.push(0);
        }
        contents.extend_from_slice(&self.0);
        x509_cert::serial_number::SerialNumber::new(&contents).map_err(Error::der("serial number"))
    }
}

impl fmt::Display for SerialNumber {
    /// Upper-case hex, as `openssl x509 -serial` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(&self.0))
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SerialNumber({self})")
    }
}

impl FromStr for SerialNumber {
    type Err = Error;

    /// Hex, either case, with optional `0x` prefix and `:` separators.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason| Error::BadSerial {
            input: s.chars().take(64).collect(),
            reason,
        };
        let trimmed = s.trim();
        let digits: String = trimmed
            .strip_prefix("0x")
            .unwrap_or(trimmed)
            .chars()
            .filter(|c| *c != ':')
            .collect();
        if digits.is_empty() || digits.len() > 42 {
            return Err(bad("expected 1 to 20 octets of hex"));
        }
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits
        };
        let bytes = hex::decode(padded).map_err(|_| bad("not hex"))?;
        let magnitude: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
        if magnitude.is_empty() {
            return Err(bad("zero"));
        }
        Self::checked(magnitude).map_err(bad)
    }
}

impl serde::Serialize for SerialNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SerialNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
