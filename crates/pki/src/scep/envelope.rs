//! CMS `EnvelopedData` (RFC 5652, section 6) with RSA key transport: the
//! `pkcsPKIEnvelope` of RFC 8894, section 3.3.
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion,
//!   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos,
//!   encryptedContentInfo EncryptedContentInfo,
//!   unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
//!
//! KeyTransRecipientInfo ::= SEQUENCE {
//!   version CMSVersion,  -- always set to 0 or 2
//!   rid RecipientIdentifier,
//!   keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
//!   encryptedKey EncryptedKey }
//! ```
//! The encrypted key is attacker-supplied: it goes through the backend's
//! implicit-rejection decryption, so a bad padding is indistinguishable from
//! a wrong key, and both end as [`ScepError::DecryptionFailed`] when the
//! content does not decrypt.

use cms::content_info::CmsVersion;
use cms::enveloped_data::{OriginatorInfo, RecipientIdentifier, RecipientInfo, RecipientInfos};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{AnyRef, OctetString};
use der::{Any, Encode, Sequence, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::cms::wrap;
use super::{ContentEncryption, ScepError, der_error};
use crate::{Certificate, Decrypter};

/// `IssuerAndSerialNumber` with the serial as any INTEGER: we must address
/// requesters whose self-signed certificates carry over-long serials.
#[derive(Sequence)]
struct IssuerSerial {
    issuer: x509_cert::name::Name,
    serial: der::asn1::Int,
}

/// `KeyTransRecipientInfo` for encoding (version 0, issuer and serial).
#[derive(Sequence)]
struct KeyTransRecipient {
    version: u8,
    rid: IssuerSerial,
    key_enc_alg: AlgorithmIdentifierOwned,
    enc_key: OctetString,
}

/// `EncryptedContentInfo` for encoding.
#[derive(Sequence)]
struct EncryptedContentOut {
    content_type: const_oid::ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    encrypted_content: OctetString,
}

/// `EnvelopedData` for encoding, with one recipient (a SET of one).
#[derive(Sequence)]
struct EnvelopedDataOut {
    version: u8,
    recipient_infos: Any,
    encrypted_content: EncryptedContentOut,
}

/// `EnvelopedData` as clients send it: the encrypted content may be a
/// chunked (constructed) `[0]`, which the strict type does not accept.
#[derive(Sequence)]
struct LooseEnvelopedData<'a> {
    version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    originator_info: Option<OriginatorInfo>,
    recip_infos: RecipientInfos,
    encrypted_content: LooseEncryptedContentInfo<'a>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unprotected_attrs: Option<x509_cert::attr::Attributes>,
}

#[derive(Sequence)]
struct LooseEncryptedContentInfo<'a> {
    content_type: const_oid::ObjectIdentifier,
    content_enc_alg: AlgorithmIdentifierOwned,
    encrypted_content: Option<AnyRef<'a>>,
}

fn matches(rid: &RecipientIdentifier, cert: &Certificate) -> bool {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == *cert.issuer() && isn.serial_number.as_bytes() == cert.raw_serial()
        }
        RecipientIdentifier::SubjectKeyIdentifier(ski) => {
            cert.subject_key_id().ok().flatten().as_deref() == Some(ski.0.as_bytes())
        }
    }
}

/// Decrypts a `ContentInfo` holding `EnvelopedData` addressed to `recipient`.
/// Returns the content and the content-encryption algorithm the sender chose.
/// With `recipient` `None`, the first key-transport recipient is used (for diagnostics).
pub(crate) fn open(
    der: &[u8],
    recipient: Option<&Certificate>,
    decrypter: &dyn Decrypter,
    minimum: ContentEncryption,
) -> Result<(Zeroizing<Vec<u8>>, ContentEncryption), ScepError> {
    let der = super::ber::to_der(der)?;
    let info: cms::content_info::ContentInfo =
        crate::encoding::decode_der(&der, "pkcsPKIEnvelope").map_err(ScepError::Pki)?;
    if info.content_type != rfc5911::ID_ENVELOPED_DATA {
        return Err(ScepError::Malformed {
            what: "pkcsPKIEnvelope (not enveloped data)",
        });
    }
    let inner = info.content.to_der().map_err(der_error("enveloped data"))?;
    let enveloped: LooseEnvelopedData<'_> =
        crate::encoding::decode_der(&inner, "enveloped data").map_err(ScepError::Pki)?;
    let ktri = enveloped
        .recip_infos
        .0
        .iter()
        .find_map(|ri| match ri {
            RecipientInfo::Ktri(k) if recipient.is_none_or(|r| matches(&k.rid, r)) => Some(k),
            _ => None,
        })
        .ok_or(ScepError::NotForUs)?;
    if ktri.key_enc_alg.oid != rfc5912::RSA_ENCRYPTION {
        return Err(ScepError::UnsupportedAlgorithm {
            what: "key transport",
            oid: ktri.key_enc_alg.oid.to_string(),
        });
    }
    let (alg, iv) =
        ContentEncryption::from_identifier(&enveloped.encrypted_content.content_enc_alg)?;
    if alg < minimum {
        return Err(ScepError::ForbiddenAlgorithm {
            what: "content encryption",
            name: alg.name(),
        });
    }
    let content = enveloped
        .encrypted_content
        .encrypted_content
        .ok_or(ScepError::Malformed {
            what: "enveloped data without content",
        })?;
    let ciphertext = match content.tag() {
        Tag::ContextSpecific {
            number,
            constructed,
        } if number.value() == 0 => super::ber::implicit_octets(constructed, content.value())?,
        _ => {
            return Err(ScepError::Malformed {
                what: "encrypted content",
            });
        }
    };
    let key = decrypter
        .decrypt_pkcs1v15(ktri.enc_key.as_bytes(), alg.key_len())
        .map_err(|_| ScepError::DecryptionFailed)?;
    let plain = alg.decrypt(&key, &iv, &ciphertext)?;
    Ok((plain, alg))
}

/// The content-encryption algorithm of an envelope, read without decrypting.
pub(crate) fn peek_encryption(der: &[u8]) -> Option<ContentEncryption> {
    use der::Decode;
    let der = super::ber::to_der(der).ok()?;
    let info = cms::content_info::ContentInfo::from_der(&der).ok()?;
    let inner = info.content.to_der().ok()?;
    let enveloped = LooseEnvelopedData::from_der(&inner).ok()?;
    ContentEncryption::from_identifier(&enveloped.encrypted_content.content_enc_alg)
        .ok()
        .map(|(alg, _)| alg)
}

/// Encrypts `plaintext` to `recipient` (an RSA certificate) with `alg`, as a `ContentInfo`.
pub(crate) fn seal(
    plaintext: &[u8],
    recipient: &Certificate,
    alg: ContentEncryption,
) -> Result<Vec<u8>, ScepError> {
    use pkcs1::DecodeRsaPublicKey;
    let public =
        rsa::PublicKey::from_pkcs1_der(recipient.public_key().key_bytes()).map_err(|_| {
            ScepError::UnsupportedAlgorithm {
                what: "recipient key (SCEP needs RSA)",
                oid: recipient.public_key().algorithm().to_string(),
            }
        })?;
    let mut key = Zeroizing::new(vec![0u8; alg.key_len()]);
    let mut iv = vec![0u8; alg.iv_len()];
    getrandom::fill(&mut key).map_err(|e| crate::Error::Random(e.to_string()))?;
    getrandom::fill(&mut iv).map_err(|e| crate::Error::Random(e.to_string()))?;
    let encrypted_key = public
        .pkcs1v15_encrypt(&key)
        .map_err(|e| crate::Error::Backend {
            backend: "rsa",
            reason: format!("key transport: {e}"),
        })?;
    let ciphertext = alg.encrypt(&key, &iv, plaintext)?;
    let ktri = KeyTransRecipient {
        version: 0,
        rid: IssuerSerial {
            issuer: recipient.issuer().clone(),
            serial: der::asn1::Int::new(recipient.raw_serial())
                .map_err(der_error("recipient serial"))?,
        },
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(Any::from(der::asn1::Null)),
        },
        enc_key: OctetString::new(encrypted_key).map_err(der_error("encrypted key"))?,
    };
    let ktri_der = ktri.to_der().map_err(der_error("recipient info"))?;
    let enveloped = EnvelopedDataOut {
        version: 0,
        recipient_infos: Any::new(Tag::Set, ktri_der).map_err(der_error("recipient infos"))?,
        encrypted_content: EncryptedContentOut {
            content_type: rfc5911::ID_DATA,
            content_enc_alg: alg.identifier(&iv)?,
            encrypted_content: OctetString::new(ciphertext)
                .map_err(der_error("encrypted content"))?,
        },
    };
    wrap(rfc5911::ID_ENVELOPED_DATA, &enveloped)
}
