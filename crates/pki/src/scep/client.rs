//! The requester side of SCEP, independent of HTTP: pick the recipient from
//! GetCACert, build PKCSReq/RenewalReq/CertPoll, and check the CertRep
//! (signed by the certificate GetCACert gave, echoing our nonce and transaction).

use std::collections::BTreeSet;

use der::{Encode, Sequence};
use x509_cert::name::Name;

use super::{
    ContentEncryption, FailInfo, MessageType, PkiMessage, PkiStatus, RequestMessage, ScepError,
    ScepPolicy, parse_certs_only,
};
use crate::{Backend, Certificate, HashAlgorithm, PrivateKey};

/// Client failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP (or other) transport failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The server's answer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A SCEP message did not decode or verify.
    #[error(transparent)]
    Scep(#[from] ScepError),
    /// Key or certificate handling failed.
    #[error(transparent)]
    Pki(#[from] crate::Error),
}

/// How the client reaches a server.
pub trait Transport {
    /// GetCACaps: the body.
    fn get_ca_caps(&self) -> Result<String, ClientError>;
    /// GetCACert: the content type and the body.
    fn get_ca_cert(&self) -> Result<(String, Vec<u8>), ClientError>;
    /// PKIOperation by POST (`post`) or GET: the CertRep body.
    fn pki_operation(&self, message: &[u8], post: bool) -> Result<Vec<u8>, ClientError>;
}

/// The server's capabilities (GetCACaps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(pub BTreeSet<String>);

impl Capabilities {
    /// Parses the CRLF- (or LF-) separated list, case-insensitively.
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(|l| l.trim().to_ascii_uppercase())
                .filter(|l| !l.is_empty())
                .take(64)
                .collect(),
        )
    }

    /// Whether `cap` is listed.
    pub fn has(&self, cap: &str) -> bool {
        self.0.contains(&cap.to_ascii_uppercase())
    }

    /// The strongest content encryption both sides support.
    pub fn best_encryption(&self) -> ContentEncryption {
        if self.has("AES") {
            ContentEncryption::Aes256Cbc
        } else if self.has("DES3") {
            ContentEncryption::DesEde3Cbc
        } else {
            ContentEncryption::DesCbc
        }
    }
}

/// The outcome of a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Enrollment {
    /// Issued.
    Issued {
        /// The certificate for our key.
        certificate: Box<Certificate>,
        /// Any other certificates the server sent.
        others: Vec<Certificate>,
    },
    /// Waiting for approval: poll later with the same transaction ID.
    Pending,
    /// Refused.
    Failed {
        /// Why, as failInfo.
        fail_info: Option<FailInfo>,
        /// Why, as text (RFC 8894 failInfoText), if the server sent it.
        text: Option<String>,
    },
}

/// A request built ahead of sending.
#[derive(Debug, Clone)]
pub struct Prepared {
    message: Vec<u8>,
    nonce: Vec<u8>,
    transaction_id: String,
}

/// `IssuerAndSubject` (RFC 8894, section 3.3.3), the CertPoll payload.
/// ```text
/// IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }
/// ```
#[derive(Sequence)]
struct IssuerAndSubject {
    issuer: Name,
    subject: Name,
}

/// A SCEP client over some transport.
#[derive(Debug)]
pub struct ScepClient<T> {
    transport: T,
    backend: &'static dyn Backend,
    policy: ScepPolicy,
    caps: Capabilities,
    recipient: Certificate,
    chain: Vec<Certificate>,
}

/// The transaction ID RFC 8894 suggests: a hash of the requester's public key.
pub fn transaction_id_for(key: &PrivateKey) -> String {
    hex::encode_upper(HashAlgorithm::Sha256.digest(key.public_key().spki_der()))
}

impl<T: Transport> ScepClient<T> {
    /// Fetches the server's capabilities and certificates.
    pub fn connect(
        transport: T,
        backend: &'static dyn Backend,
        policy: ScepPolicy,
    ) -> Result<Self, ClientError> {
        let caps = Capabilities::parse(&transport.get_ca_caps()?);
        let (content_type, body) = transport.get_ca_cert()?;
        let chain = if content_type.starts_with("application/x-x509-ca-ra-cert") {
            parse_certs_only(&body)?
        } else {
            match Certificate::parse(&body) {
                Ok(cert) => vec![cert],
                Err(_) => parse_certs_only(&body)?,
            }
        };
        // The recipient: an RSA RA that may encrypt keys; else an RSA
        // certificate that may; else the RSA CA (servers without an RA, such
        // as micromdm's, use their CA for everything).
        let rsa = |c: &&Certificate| {
            matches!(c.public_key().algorithm(), crate::KeyAlgorithm::Rsa { .. })
        };
        let encipherment = |c: &&Certificate| {
            c.key_usage()
                .ok()
                .flatten()
                .is_some_and(|ku| ku.key_encipherment())
        };
        let recipient = chain
            .iter()
            .filter(rsa)
            .find(|c| encipherment(c) && !c.is_ca().unwrap_or(true))
            .or_else(|| chain.iter().filter(rsa).find(encipherment))
            .or_else(|| chain.iter().find(rsa))
            .cloned()
            .ok_or_else(|| {
                ClientError::Protocol("GetCACert returned no RSA certificate to encrypt to".into())
            })?;
        Ok(Self {
            transport,
            backend,
            policy,
            caps,
            recipient,
            chain,
        })
    }

    /// The server's capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// What GetCACert returned.
    pub fn ca_certificates(&self) -> &[Certificate] {
        &self.chain
    }

    /// The certificate requests are encrypted to.
    pub fn recipient(&self) -> &Certificate {
        &self.recipient
    }

    /// Sends a PKCSReq (or RenewalReq when `signer_cert` is a certificate
    /// issued by this CA) for `csr`, signed with `key`.
    pub fn enroll(
        &self,
        key: &PrivateKey,
        csr: &[u8],
        signer_cert: &Certificate,
        message_type: MessageType,
        encryption: Option<ContentEncryption>,
    ) -> Result<Enrollment, ClientError> {
        self.exchange(
            key,
            signer_cert,
            message_type,
            csr,
            &transaction_id_for(key),
            encryption,
        )
    }

    /// Sends a CertPoll for a pending request.
    pub fn poll(
        &self,
        key: &PrivateKey,
        signer_cert: &Certificate,
        subject: &Name,
    ) -> Result<Enrollment, ClientError> {
        let issuer = self
            .chain
            .iter()
            .find(|c| c.is_ca().unwrap_or(false))
            .map_or_else(|| self.recipient.issuer().clone(), |c| c.subject().clone());
        let payload = IssuerAndSubject {
            issuer,
            subject: subject.clone(),
        }
        .to_der()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.exchange(
            key,
            signer_cert,
            MessageType::CertPoll,
            &payload,
            &transaction_id_for(key),
            None,
        )
    }

    /// Builds a request now, to send later with [`ScepClient::send_prepared`]
    /// (load tests keep the client's own crypto out of the timed part).
    pub fn prepare(
        &self,
        key: &PrivateKey,
        csr: &[u8],
        signer_cert: &Certificate,
        transaction_id: &str,
    ) -> Result<Prepared, ClientError> {
        let signer = self.backend.signer(key)?;
        let (message, nonce) = RequestMessage {
            message_type: MessageType::PkcsReq,
            transaction_id,
            payload: csr,
            recipient: &self.recipient,
            encryption: self.caps.best_encryption(),
            signer_cert,
            signer: signer.as_ref(),
        }
        .encode()?;
        Ok(Prepared {
            message,
            nonce,
            transaction_id: transaction_id.to_owned(),
        })
    }

    /// Sends a prepared request and checks the reply's signature, transaction
    /// and nonce; returns its status without decrypting the certificate.
    pub fn send_prepared(&self, prepared: &Prepared) -> Result<PkiStatus, ClientError> {
        let reply = self
            .transport
            .pki_operation(&prepared.message, self.caps.has("POSTPKIOperation"))?;
        let rep = PkiMessage::decode(&reply, &self.policy, self.backend)
            .map_err(|r| ClientError::Scep(r.error))?;
        if !self.chain.iter().any(|c| c.der() == rep.signer.der())
            || rep.transaction_id != prepared.transaction_id
            || rep.recipient_nonce.as_deref() != Some(prepared.nonce.as_slice())
        {
            return Err(ClientError::Protocol(
                "the reply does not answer our request".into(),
            ));
        }
        rep.pki_status
            .ok_or_else(|| ClientError::Protocol("the reply has no pkiStatus".into()))
    }

    fn exchange(
        &self,
        key: &PrivateKey,
        signer_cert: &Certificate,
        message_type: MessageType,
        payload: &[u8],
        transaction_id: &str,
        encryption: Option<ContentEncryption>,
    ) -> Result<Enrollment, ClientError> {
        let signer = self.backend.signer(key)?;
        let (message, nonce) = RequestMessage {
            message_type,
            transaction_id,
            payload,
            recipient: &self.recipient,
            encryption: encryption.unwrap_or_else(|| self.caps.best_encryption()),
            signer_cert,
            signer: signer.as_ref(),
        }
        .encode()?;
        let reply = self
            .transport
            .pki_operation(&message, self.caps.has("POSTPKIOperation"))?;
        let rep = PkiMessage::decode(&reply, &self.policy, self.backend)
            .map_err(|r| ClientError::Scep(r.error))?;
        if !self.chain.iter().any(|c| c.der() == rep.signer.der()) {
            return Err(ClientError::Protocol(
                "the reply is not signed by a certificate from GetCACert".into(),
            ));
        }
        if rep.message_type != MessageType::CertRep
            || rep.transaction_id != transaction_id
            || rep.recipient_nonce.as_deref() != Some(nonce.as_slice())
        {
            return Err(ClientError::Protocol(
                "the reply does not answer our request (type, transaction or nonce)".into(),
            ));
        }
        match rep.pki_status {
            Some(PkiStatus::Success) => {
                let decrypter = self.backend.decrypter(key)?;
                let (inner, _) = rep.decrypt(signer_cert, decrypter.as_ref(), &self.policy)?;
                let mut certs = parse_certs_only(&inner)?;
                let mine = certs
                    .iter()
                    .position(|c| c.public_key() == key.public_key())
                    .ok_or_else(|| {
                        ClientError::Protocol("no certificate for our key in the reply".into())
                    })?;
                let certificate = Box::new(certs.remove(mine));
                Ok(Enrollment::Issued {
                    certificate,
                    others: certs,
                })
            }
            Some(PkiStatus::Pending) => Ok(Enrollment::Pending),
            _ => Ok(Enrollment::Failed {
                fail_info: rep.fail_info,
                text: rep.fail_info_text,
            }),
        }
    }
}
