//! Checking an admin's CA upload ("use my own" certificate authority).
//!
//! Accepted: one or more X.509 CA certificates, as PEM (`CERTIFICATE`
//! blocks) or one DER certificate. Refused, with a message naming what was
//! given: PKCS#7 / CMS bundles (`.p7b`, `.p7c`), PKCS#12 / PFX files, other
//! PEM blocks (keys, requests), end-entity certificates, and CA certificates
//! without keyUsage keyCertSign.
//!
//! Containers are recognised by their structure, not by a file name:
//! PKCS#7 is a `ContentInfo` whose first field is an OID under
//! 1.2.840.113549.1.7; PKCS#12 is a `PFX`, `SEQUENCE { INTEGER 3, ContentInfo
//! authSafe, ... }`. Only the first few headers are read, with a small bounded
//! TLV reader that accepts BER's indefinite lengths, because PFX files from
//! Windows are often BER, and such a file should still get the right message.

use devicetrust_pki::Certificate;
use devicetrust_pki::encoding::{MAX_DER_LEN, MAX_PEM_BLOCKS, pem_blocks};

use crate::details::CaDetails;

/// How the refused file was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// PEM text.
    Pem,
    /// Binary DER (or BER).
    Der,
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pem => "PEM",
            Self::Der => "DER",
        })
    }
}

/// What is accepted, for every refusal message.
const ACCEPTED: &str = "upload X.509 CA certificates as PEM or DER";

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// Nothing was uploaded.
    #[error("the upload is empty; {ACCEPTED}")]
    Empty,
    /// The upload is larger than any certificate file we accept.
    #[error("the upload is {len} bytes, over the {limit}-byte limit; {ACCEPTED}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A PKCS#7 / CMS bundle.
    #[error(
        "the upload is PKCS#7 ({encoding}), which is not accepted (nor PKCS#12 or PFX); {ACCEPTED}"
    )]
    Pkcs7 {
        /// How it was encoded.
        encoding: Encoding,
    },
    /// A PKCS#12 / PFX file.
    #[error(
        "the upload is PKCS#12/PFX ({encoding}), which is not accepted (nor PKCS#7); {ACCEPTED}"
    )]
    Pkcs12 {
        /// How it was encoded.
        encoding: Encoding,
    },
    /// A PEM block that is not a certificate (a key, a request...).
    #[error("the upload holds a PEM block {label:?}, which is not accepted; {ACCEPTED}")]
    UnexpectedPem {
        /// The block's label.
        label: String,
    },
    /// Not a certificate at all, or a malformed one.
    #[error("the upload is not an X.509 certificate ({source}); {ACCEPTED}")]
    NotACertificate {
        /// The parser's reason.
        #[source]
        source: devicetrust_pki::Error,
    },
    /// An end-entity certificate: basicConstraints absent or `cA` false.
    #[error("certificate {subject} is not a ca (basicConstraints {basic_constraints}); {ACCEPTED}")]
    NotCa {
        /// Its subject.
        subject: String,
        /// What its basicConstraints say (`absent` or `CA:FALSE`).
        basic_constraints: &'static str,
    },
    /// The configuration uses our own CA, which takes no uploads.
    #[error("this configuration uses our own ca; uploads are for \"use my own\" configurations")]
    OwnCa,
    /// A CA certificate whose keyUsage does not allow signing certificates.
    #[error("ca certificate {subject} lacks keyUsage keyCertSign; {ACCEPTED}")]
    NoKeyCertSign {
        /// Its subject.
        subject: String,
    },
}

impl UploadError {
    /// A stable short name (`pkcs7`, `pkcs12`, `not_ca`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too_large",
            Self::Pkcs7 { .. } => "pkcs7",
            Self::Pkcs12 { .. } => "pkcs12",
            Self::UnexpectedPem { .. } => "unexpected_pem",
            Self::NotACertificate { .. } => "not_a_certificate",
            Self::NotCa { .. } => "not_ca",
            Self::NoKeyCertSign { .. } => "no_key_cert_sign",
            Self::OwnCa => "own_ca",
        }
    }
}

/// Checks an upload and returns its CA certificates, in file order.
///
/// ```
/// # use devicetrust_attestation::upload::{check_upload, UploadError};
/// let p7_header = [0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// assert!(matches!(check_upload(&p7_header), Err(UploadError::Pkcs7 { .. })));
/// ```
pub fn check_upload(input: &[u8]) -> Result<Vec<Certificate>, UploadError> {
    let limit = MAX_DER_LEN * 2 * MAX_PEM_BLOCKS;
    if input.len() > limit {
        return Err(UploadError::TooLarge {
            len: input.len(),
            limit,
        });
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(UploadError::Empty);
    }
    let ders = if looks_like_pem(input) {
        pem_certificates(input)?
    } else {
        match sniff_der(input) {
            Container::Pkcs7 => {
                return Err(UploadError::Pkcs7 {
                    encoding: Encoding::Der,
                });
            }
            Container::Pkcs12 => {
                return Err(UploadError::Pkcs12 {
                    encoding: Encoding::Der,
                });
            }
            Container::Other => vec![input.to_vec()],
        }
    };
    ders.iter()
        .map(|der| {
            let cert = Certificate::from_der(der)
                .map_err(|source| UploadError::NotACertificate { source })?;
            check_ca(&cert)?;
            Ok(cert)
        })
        .collect()
}

/// Checks an upload and describes its CA certificates.
pub fn describe_upload(input: &[u8]) -> Result<Vec<CaDetails>, UploadError> {
    Ok(check_upload(input)?.iter().map(CaDetails::of).collect())
}

/// Refuses a certificate that cannot issue certificates.
pub(crate) fn check_ca(cert: &Certificate) -> Result<(), UploadError> {
    let subject = || cert.subject().to_string();
    let not_a_cert = |source| UploadError::NotACertificate { source };
    match cert.basic_constraints().map_err(not_a_cert)? {
        None => {
            return Err(UploadError::NotCa {
                subject: subject(),
                basic_constraints: "absent",
            });
        }
        Some(bc) if !bc.ca => {
            return Err(UploadError::NotCa {
                subject: subject(),
                basic_constraints: "CA:FALSE",
            });
        }
        Some(_) => {}
    }
    if !cert
        .key_usage()
        .map_err(not_a_cert)?
        .is_some_and(|ku| ku.key_cert_sign())
    {
        return Err(UploadError::NoKeyCertSign { subject: subject() });
    }
    Ok(())
}

fn looks_like_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

fn pem_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, UploadError> {
    let blocks = pem_blocks(input).map_err(|source| UploadError::NotACertificate { source })?;
    blocks
        .into_iter()
        .map(|block| match block.label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => match sniff_der(&block.der) {
                Container::Pkcs7 => Err(UploadError::Pkcs7 {
                    encoding: Encoding::Pem,
                }),
                Container::Pkcs12 => Err(UploadError::Pkcs12 {
                    encoding: Encoding::Pem,
                }),
                Container::Other => Ok(block.der),
            },
            "PKCS7" | "CMS" => Err(UploadError::Pkcs7 {
                encoding: Encoding::Pem,
            }),
            "PKCS12" | "PFX" => Err(UploadError::Pkcs12 {
                encoding: Encoding::Pem,
            }),
            _ => Err(UploadError::UnexpectedPem { label: block.label }),
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Container {
    Pkcs7,
    Pkcs12,
    Other,
}

/// `pkcs-7` arc: 1.2.840.113549.1.7, DER content octets; one more arc follows.
const PKCS7_ARC: [u8; 8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

fn is_pkcs7_oid(value: &[u8]) -> bool {
    value.len() == PKCS7_ARC.len() + 1 && value.starts_with(&PKCS7_ARC)
}

fn sniff_der(input: &[u8]) -> Container {
    let Some((0x30, outer)) = Tlv::read(input) else {
        return Container::Other;
    };
    let Some((tag, first)) = Tlv::read(outer.content) else {
        return Container::Other;
    };
    match tag {
        // ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }
        0x06 if is_pkcs7_oid(first.content) => Container::Pkcs7,
        // PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
        0x02 if first.content == [3] => match Tlv::read(first.rest) {
            Some((0x30, auth_safe)) => match Tlv::read(auth_safe.content) {
                Some((0x06, oid)) if is_pkcs7_oid(oid.content) => Container::Pkcs12,
                _ => Container::Other,
            },
            _ => Container::Other,
        },
        _ => Container::Other,
    }
}

/// One BER TLV: its content octets and what follows it. With an indefinite
/// length the content runs to the end of the input (enough to sniff headers).
struct Tlv<'a> {
    content: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn read(input: &'a [u8]) -> Option<(u8, Self)> {
        let (&tag, after_tag) = input.split_first()?;
        // High-tag-number form never starts the structures we sniff.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first_len, after_len) = after_tag.split_first()?;
        if first_len == 0x80 {
            return Some((
                tag,
                Self {
                    content: after_len,
                    rest: &[],
                },
            ));
        }
        let (len, body) = if first_len < 0x80 {
            (usize::from(first_len), after_len)
        } else {
            let n = usize::from(first_len & 0x7f);
            if n > 4 {
                return None;
            }
            let (len_bytes, body) = after_len.split_at_checked(n)?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, body)
        };
        let (content, rest) = body.split_at_checked(len)?;
        Some((tag, Self { content, rest }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers_by_structure() {
        let p7 = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
        ];
        assert_eq!(sniff_der(&p7), Container::Pkcs7);
        let pfx = [
            0x30, 0x80, 0x02, 0x01, 0x03, 0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
            0x0d, 0x01, 0x07, 0x01,
        ];
        assert_eq!(sniff_der(&pfx), Container::Pkcs12);
        // Version 2 is not a PFX.
        let mut not_pfx = pfx;
        not_pfx[4] = 2;
        assert_eq!(sniff_der(&not_pfx), Container::Other);
        assert_eq!(sniff_der(&[0x30]), Container::Other);
        assert_eq!(sniff_der(&[0x30, 0x85, 1, 1, 1, 1, 1]), Container::Other);
    }

    #[test]
    fn refuses_empty_and_foreign_pem() {
        assert!(matches!(check_upload(b"  \n"), Err(UploadError::Empty)));
        let key = b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            check_upload(key),
            Err(UploadError::UnexpectedPem { label }) if label == "PRIVATE KEY"
        ));
    }
}
