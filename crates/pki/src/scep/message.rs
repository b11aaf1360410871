//! The SCEP `pkiMessage`: decoding and verifying requests and replies,
//! and building them (RFC 8894, sections 3.2 and 3.3).

use const_oid::db::rfc5911;
use der::asn1::{Ia5StringRef, OctetString, PrintableStringRef, Utf8StringRef};
use der::{Any, Decode, Encode};
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

use super::attributes::{
    FAIL_INFO, FAIL_INFO_TEXT, MAX_TRANSACTION_ID, MESSAGE_TYPE, NONCE_LEN, PKI_STATUS,
    RECIPIENT_NONCE, SENDER_NONCE, TRANSACTION_ID,
};
use super::cms::{attribute, build_signed, parse_signed, single};
use super::{ContentEncryption, FailInfo, MessageType, PkiStatus, ScepError, der_error, envelope};
use crate::{
    Backend, Certificate, Decrypter, HashAlgorithm, KeyPolicy, SignatureAlgorithm, Signer,
};

/// What the CA accepts in SCEP messages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScepPolicy {
    /// Keys and signature algorithms; `allow_sha1` also governs message digests.
    pub key_policy: KeyPolicy,
    /// Weakest content encryption accepted (default DES-EDE3-CBC: single DES refused).
    pub minimum_encryption: ContentEncryption,
    /// Largest message accepted, in bytes (default 64 KiB).
    pub max_message_len: usize,
}

impl Default for ScepPolicy {
    fn default() -> Self {
        Self {
            key_policy: KeyPolicy::default(),
            minimum_encryption: ContentEncryption::DesEde3Cbc,
            max_message_len: 64 * 1024,
        }
    }
}

impl ScepPolicy {
    /// Accepts what old peers send: SHA-1 and single DES. For clients
    /// (which must take what servers answer) and for diagnostics; a server
    /// should allow these only for the configurations that need them.
    pub fn lenient() -> Self {
        Self {
            key_policy: KeyPolicy {
                allow_sha1: true,
                ..KeyPolicy::default()
            },
            minimum_encryption: ContentEncryption::DesCbc,
            ..Self::default()
        }
    }
}

/// A decoded `pkiMessage` whose signature verified.
#[derive(Debug, Clone)]
pub struct PkiMessage {
    /// `messageType`.
    pub message_type: MessageType,
    /// `transactionID`.
    pub transaction_id: String,
    /// `senderNonce`.
    pub sender_nonce: Vec<u8>,
    /// `recipientNonce` (replies).
    pub recipient_nonce: Option<Vec<u8>>,
    /// `pkiStatus` (replies).
    pub pki_status: Option<PkiStatus>,
    /// `failInfo` (FAILURE replies).
    pub fail_info: Option<FailInfo>,
    /// `failInfoText` (FAILURE replies, RFC 8894).
    pub fail_info_text: Option<String>,
    /// The signer's digest algorithm.
    pub digest: HashAlgorithm,
    /// The signer's signature algorithm.
    pub signature_algorithm: SignatureAlgorithm,
    /// The signer's certificate (self-signed for a new requester).
    pub signer: Certificate,
    /// The `pkcsPKIEnvelope`, still encrypted (absent in FAILURE and PENDING replies).
    pub envelope: Option<Vec<u8>>,
}

fn printable(value: &Any, attribute: &'static str, max: usize) -> Result<String, ScepError> {
    let bad = |reason: &str| ScepError::BadAttribute {
        attribute,
        reason: reason.into(),
    };
    let der = value.to_der().map_err(der_error(attribute))?;
    let text = PrintableStringRef::from_der(&der)
        .map(|s| s.as_str().to_owned())
        .or_else(|_| Utf8StringRef::from_der(&der).map(|s| s.as_str().to_owned()))
        .or_else(|_| Ia5StringRef::from_der(&der).map(|s| s.as_str().to_owned()))
        .map_err(|_| bad("not a string"))?;
    if text.is_empty() || text.len() > max {
        return Err(bad(&format!("length {} is outside 1..={max}", text.len())));
    }
    Ok(text)
}

fn nonce(value: &Any, attribute: &'static str) -> Result<Vec<u8>, ScepError> {
    let bytes = value
        .decode_as::<OctetString>()
        .map_err(der_error(attribute))?
        .into_bytes()
        .into_vec();
    if !NONCE_LEN.contains(&bytes.len()) {
        return Err(ScepError::BadAttribute {
            attribute,
            reason: format!("{} octets", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Where to send a FAILURE reply for a message that was refused: taken from
/// the message before (or despite) its verification, so it is used only to
/// address the reply, never to decide anything.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    /// The request's transactionID.
    pub transaction_id: String,
    /// The request's senderNonce.
    pub sender_nonce: Vec<u8>,
    /// The request's signer certificate.
    pub signer: Certificate,
    /// The request's messageType, when it parsed.
    pub message_type: Option<MessageType>,
}

/// A message refused while decoding, and whom to answer, if anyone.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Rejected {
    /// Why.
    #[source]
    pub error: ScepError,
    /// Present when the message was well-formed enough to answer with a FAILURE CertRep.
    pub reply_to: Option<Box<ReplyTo>>,
}

impl Rejected {
    /// The `failInfo` to answer with.
    pub fn fail_info(&self) -> FailInfo {
        self.error.fail_info()
    }
}

impl From<ScepError> for Rejected {
    fn from(error: ScepError) -> Self {
        Self {
            error,
            reply_to: None,
        }
    }
}

impl PkiMessage {
    /// Decodes a `pkiMessage` and verifies its signature and digest.
    /// The envelope is not opened: see [`PkiMessage::decrypt`].
    pub fn decode(
        der: &[u8],
        policy: &ScepPolicy,
        backend: &dyn Backend,
    ) -> Result<Self, Rejected> {
        if der.len() > policy.max_message_len {
            return Err(ScepError::TooLarge {
                len: der.len(),
                limit: policy.max_message_len,
            }
            .into());
        }
        let signed = parse_signed(der)?;
        let attrs = &signed.attributes;
        let required = |oid, name| {
            attribute(attrs, oid)?.ok_or(ScepError::MissingAttribute { attribute: name })
        };
        let transaction_id = printable(
            required(TRANSACTION_ID, "transactionID")?,
            "transactionID",
            MAX_TRANSACTION_ID,
        )?;
        let sender_nonce = nonce(required(SENDER_NONCE, "senderNonce")?, "senderNonce")?;
        let message_type = required(MESSAGE_TYPE, "messageType")
            .and_then(|v| printable(v, "messageType", 4))
            .and_then(|code| MessageType::from_code(&code));
        let known_type = message_type.as_ref().ok().copied();
        let reply_to = || ReplyTo {
            transaction_id: transaction_id.clone(),
            sender_nonce: sender_nonce.clone(),
            signer: signed.signer.clone(),
            message_type: known_type,
        };
        let rejected = |error| Rejected {
            error,
            reply_to: Some(Box::new(reply_to())),
        };
        let (digest, signature_algorithm) = signed
            .verify(&policy.key_policy, backend)
            .map_err(rejected)?;
        let rest = || -> Result<Self, ScepError> {
            let message_type = message_type?;
            let recipient_nonce = attribute(attrs, RECIPIENT_NONCE)?
                .map(|v| nonce(v, "recipientNonce"))
                .transpose()?;
            let pki_status = attribute(attrs, PKI_STATUS)?
                .map(|v| printable(v, "pkiStatus", 4).and_then(|s| PkiStatus::from_code(&s)))
                .transpose()?;
            let fail_info = attribute(attrs, FAIL_INFO)?
                .map(|v| printable(v, "failInfo", 4).and_then(|s| FailInfo::from_code(&s)))
                .transpose()?;
            let fail_info_text = attribute(attrs, FAIL_INFO_TEXT)?
                .map(|v| printable(v, "failInfoText", 1024))
                .transpose()?;
            if message_type == MessageType::CertRep && pki_status.is_none() {
                return Err(ScepError::MissingAttribute {
                    attribute: "pkiStatus",
                });
            }
            Ok(Self {
                message_type,
                transaction_id: transaction_id.clone(),
                sender_nonce: sender_nonce.clone(),
                recipient_nonce,
                pki_status,
                fail_info,
                fail_info_text,
                digest,
                signature_algorithm,
                signer: signed.signer.clone(),
                envelope: signed
                    .content
                    .clone()
                    .filter(|_| signed.content_type == rfc5911::ID_DATA),
            })
        };
        rest().map_err(rejected)
    }

    /// Opens the envelope with the recipient certificate's key.
    pub fn decrypt(
        &self,
        recipient: &Certificate,
        decrypter: &dyn Decrypter,
        policy: &ScepPolicy,
    ) -> Result<(Zeroizing<Vec<u8>>, ContentEncryption), ScepError> {
        let envelope = self.envelope.as_deref().ok_or(ScepError::Malformed {
            what: "message without an envelope",
        })?;
        envelope::open(
            envelope,
            Some(recipient),
            decrypter,
            policy.minimum_encryption,
        )
    }

    /// Opens the envelope with a key alone, for the first key-transport
    /// recipient: for diagnostics, when the recipient certificate is not at hand.
    pub fn decrypt_with_key(
        &self,
        decrypter: &dyn Decrypter,
        policy: &ScepPolicy,
    ) -> Result<(Zeroizing<Vec<u8>>, ContentEncryption), ScepError> {
        let envelope = self.envelope.as_deref().ok_or(ScepError::Malformed {
            what: "message without an envelope",
        })?;
        envelope::open(envelope, None, decrypter, policy.minimum_encryption)
    }

    /// The envelope's content-encryption algorithm, read without decrypting.
    pub fn content_encryption(&self) -> Option<ContentEncryption> {
        envelope::peek_encryption(self.envelope.as_deref()?)
    }
}

fn string_attr(oid: const_oid::ObjectIdentifier, text: &str) -> Result<Attribute, ScepError> {
    let value =
        Any::encode_from(&PrintableStringRef::new(text).map_err(der_error("printable string"))?)
            .map_err(der_error("printable string"))?;
    single(oid, value)
}

fn nonce_attr(oid: const_oid::ObjectIdentifier, bytes: &[u8]) -> Result<Attribute, ScepError> {
    let value = Any::encode_from(&OctetString::new(bytes).map_err(der_error("nonce"))?)
        .map_err(der_error("nonce"))?;
    single(oid, value)
}

/// A fresh 16-octet nonce.
pub(crate) fn fresh_nonce() -> Result<Vec<u8>, ScepError> {
    let mut nonce = vec![0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| crate::Error::Random(e.to_string()))?;
    Ok(nonce)
}

/// A request from a client: PKCSReq, RenewalReq, CertPoll, GetCert or GetCRL.
#[derive(Debug)]
pub struct RequestMessage<'a> {
    /// What is asked.
    pub message_type: MessageType,
    /// `transactionID`: RFC 8894 suggests a hash of the requester's public key.
    pub transaction_id: &'a str,
    /// The payload to encrypt: a PKCS#10 request, or an IssuerAndSubject/IssuerAndSerialNumber.
    pub payload: &'a [u8],
    /// The CA or RA certificate to encrypt to.
    pub recipient: &'a Certificate,
    /// Content encryption.
    pub encryption: ContentEncryption,
    /// The requester's certificate (self-signed, or the one being renewed).
    pub signer_cert: &'a Certificate,
    /// The requester's key.
    pub signer: &'a dyn Signer,
}

impl RequestMessage<'_> {
    /// Builds the `pkiMessage`, returning it and its senderNonce.
    pub fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), ScepError> {
        let sender_nonce = fresh_nonce()?;
        let envelope = envelope::seal(self.payload, self.recipient, self.encryption)?;
        let attributes = vec![
            string_attr(MESSAGE_TYPE, self.message_type.code())?,
            string_attr(TRANSACTION_ID, self.transaction_id)?,
            nonce_attr(SENDER_NONCE, &sender_nonce)?,
        ];
        let der = build_signed(Some(&envelope), self.signer_cert, self.signer, attributes)?;
        Ok((der, sender_nonce))
    }
}

/// A `CertRep` reply.
#[derive(Debug)]
pub struct CertRep<'a> {
    /// Echoes the request's transactionID.
    pub transaction_id: &'a str,
    /// Echoes the request's senderNonce.
    pub recipient_nonce: &'a [u8],
    /// SUCCESS, FAILURE or PENDING.
    pub status: PkiStatus,
    /// With FAILURE: why.
    pub fail_info: Option<FailInfo>,
    /// With FAILURE: a human-readable reason (RFC 8894 `failInfoText`).
    pub fail_info_text: Option<&'a str>,
    /// With SUCCESS: the degenerate certs-only SignedData to encrypt.
    pub payload: Option<&'a [u8]>,
    /// With SUCCESS: whom to encrypt to (the request's signer certificate).
    pub recipient: &'a Certificate,
    /// With SUCCESS: content encryption (the request's, normally).
    pub encryption: ContentEncryption,
}

impl CertRep<'_> {
    /// Signs the reply with the CA or RA certificate and key.
    pub fn encode(
        &self,
        signer_cert: &Certificate,
        signer: &dyn Signer,
    ) -> Result<Vec<u8>, ScepError> {
        let mut attributes = vec![
            string_attr(MESSAGE_TYPE, MessageType::CertRep.code())?,
            string_attr(TRANSACTION_ID, self.transaction_id)?,
            nonce_attr(SENDER_NONCE, &fresh_nonce()?)?,
            nonce_attr(RECIPIENT_NONCE, self.recipient_nonce)?,
            string_attr(PKI_STATUS, self.status.code())?,
        ];
        if let Some(fail) = self.fail_info {
            attributes.push(string_attr(FAIL_INFO, fail.code())?);
        }
        if let Some(text) = self.fail_info_text {
            let value =
                Any::encode_from(&Utf8StringRef::new(text).map_err(der_error("failInfoText"))?)
                    .map_err(der_error("failInfoText"))?;
            attributes.push(single(FAIL_INFO_TEXT, value)?);
        }
        let envelope = match (self.status, self.payload) {
            (PkiStatus::Success, Some(payload)) => {
                Some(envelope::seal(payload, self.recipient, self.encryption)?)
            }
            _ => None,
        };
        build_signed(envelope.as_deref(), signer_cert, signer, attributes)
    }
}
