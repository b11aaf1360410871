//! The CA side of SCEP: GetCACaps, GetCACert and PKIOperation, independent
//! of HTTP (the server crate maps it onto routes).
//!
//! Every PKIOperation ends in exactly one recorded outcome: issued (with the
//! challenge kind that admitted it), pending, or refused (with its failInfo
//! and reason). Issuance is the last step, so nothing is issued on any
//! failure path.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use cms::cert::IssuerAndSerialNumber;
use der::Decode;
use time::{Duration, OffsetDateTime};

use super::challenge::{Challenge, ChallengeContext, ChallengeError, ChallengeKind};
use super::{
    CertRep, ContentEncryption, FailInfo, MessageType, PkiMessage, PkiStatus, Rejected, ScepError,
    ScepPolicy, degenerate_certs_only,
};
use crate::{
    Ca, Certificate, CertificateRequest, Decrypter, HashAlgorithm, IssueOptions, PrivateKey,
    SerialNumber, Signer,
};

/// Settings of one SCEP configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScepConfig {
    /// Algorithms and limits.
    pub policy: ScepPolicy,
    /// A renewal is accepted in the last this-many days of the old certificate (default 30).
    pub renewal_window_days: u32,
    /// Hold every admitted request for an admin's approval (answer PENDING).
    pub manual_approval: bool,
    /// Most transactions remembered (for polling, replays and resends).
    pub max_transactions: usize,
    /// Validity of issued certificates in days (the CA's default when absent).
    pub validity_days: Option<u32>,
}

impl Default for ScepConfig {
    fn default() -> Self {
        Self {
            policy: ScepPolicy::default(),
            renewal_window_days: 30,
            manual_approval: false,
            max_transactions: 10_000,
            validity_days: None,
        }
    }
}

/// What happened to one PKIOperation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
#[non_exhaustive]
pub enum Outcome {
    /// A certificate was issued.
    Issued {
        /// Its serial number.
        serial: SerialNumber,
        /// What admitted the request.
        challenge: ChallengeKind,
    },
    /// Held for approval.
    Pending,
    /// Refused.
    Refused {
        /// The failInfo sent.
        fail_info: FailInfo,
        /// Why, for the admin (never sent secrets).
        reason: String,
    },
}

/// One recorded SCEP outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScepEvent {
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The transaction ID (empty if the message did not parse that far).
    pub transaction_id: String,
    /// The message type, if known.
    pub message_type: Option<MessageType>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
enum TxState {
    Pending {
        request: Box<CertificateRequest>,
        challenge: ChallengeKind,
    },
    Issued(Box<Certificate>),
    Rejected {
        fail_info: FailInfo,
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Transaction {
    /// SHA-256 of the requested public key: a resend must carry the same key.
    key: String,
    state: TxState,
}

#[derive(Debug, Default)]
struct State {
    transactions: HashMap<String, Transaction>,
    order: VecDeque<String>,
    events: VecDeque<ScepEvent>,
    counts: OutcomeCounts,
}

/// How many requests ended each way since the service started (the event
/// list is bounded; these are not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct OutcomeCounts {
    /// Certificates issued.
    pub issued: u64,
    /// Requests held for approval.
    pub pending: u64,
    /// Requests refused.
    pub refused: u64,
}

const MAX_EVENTS: usize = 10_000;

/// A request waiting for an admin.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// Its transaction ID.
    pub transaction_id: String,
    /// The requested subject.
    pub subject: String,
    /// SHA-256 of the requested public key.
    pub key_sha256: String,
}

/// A SCEP responder: one configuration's CA, RA and challenge.
#[derive(Debug)]
pub struct ScepService {
    ca: Arc<Ca>,
    ra_cert: Certificate,
    ra_signer: Box<dyn Signer>,
    ra_decrypter: Box<dyn Decrypter>,
    challenge: Arc<dyn Challenge>,
    config: ScepConfig,
    state: Mutex<State>,
}

impl ScepService {
    /// A responder for `ca`, signing and decrypting with the RA certificate
    /// `ra_cert` and its RSA key `ra_key` (see [`Ca::issue_ra_certificate`]).
    pub fn new(
        ca: Arc<Ca>,
        ra_cert: Certificate,
        ra_key: &PrivateKey,
        challenge: Arc<dyn Challenge>,
        config: ScepConfig,
    ) -> Result<Self, ScepError> {
        if ra_key.public_key() != ra_cert.public_key() {
            return Err(ScepError::Pki(crate::Error::BadPrivateKey {
                reason: "the RA key does not match the RA certificate".into(),
            }));
        }
        let backend = ca.backend();
        Ok(Self {
            ra_signer: backend.signer(ra_key)?,
            ra_decrypter: backend.decrypter(ra_key)?,
            ca,
            ra_cert,
            challenge,
            config,
            state: Mutex::new(State::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ScepConfig {
        &self.config
    }

    /// The challenge.
    pub fn challenge(&self) -> &Arc<dyn Challenge> {
        &self.challenge
    }

    /// The CA.
    pub fn ca(&self) -> &Arc<Ca> {
        &self.ca
    }

    /// The RA certificate.
    pub fn ra_certificate(&self) -> &Certificate {
        &self.ra_cert
    }

    /// GetCACaps: one capability per line, CRLF-terminated (RFC 8894, section 3.5.2).
    pub fn ca_caps(&self) -> String {
        // SHA-384 is also what strongSwan 5.9.8 needs to see before it uses
        // AES: its capability parser mixes up bit numbers and flags.
        let mut caps = vec![
            "POSTPKIOperation",
            "SHA-256",
            "SHA-384",
            "SHA-512",
            "AES",
            "DES3",
            "SCEPStandard",
            "Renewal",
        ];
        if self.config.policy.key_policy.allow_sha1 {
            caps.push("SHA-1");
        }
        caps.iter().map(|c| format!("{c}\r\n")).collect()
    }

    /// GetCACert: a degenerate PKCS#7 of the RA, the intermediate and the root
    /// (`application/x-x509-ca-ra-cert`), since the RA differs from the issuer.
    pub fn ca_certs(&self) -> Result<Vec<u8>, ScepError> {
        degenerate_certs_only(&[&self.ra_cert, self.ca.intermediate(), self.ca.root()])
    }

    /// SHA-256 thumbprint of the intermediate, upper-case hex (as NDES shows it).
    pub fn ca_thumbprint(&self) -> String {
        hex::encode_upper(HashAlgorithm::Sha256.digest(self.ca.intermediate().der()))
    }

    /// How many requests ended each way since the service started.
    pub fn outcome_counts(&self) -> OutcomeCounts {
        self.state.lock().map(|s| s.counts).unwrap_or_default()
    }

    /// The outcomes recorded so far, oldest first (the most recent 10,000).
    pub fn events(&self) -> Vec<ScepEvent> {
        self.state
            .lock()
            .map(|s| s.events.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Requests waiting for approval.
    pub fn pending(&self) -> Vec<PendingRequest> {
        let Ok(state) = self.state.lock() else {
            return Vec::new();
        };
        state
            .transactions
            .iter()
            .filter_map(|(id, tx)| match &tx.state {
                TxState::Pending { request, .. } => Some(PendingRequest {
                    transaction_id: id.clone(),
                    subject: request.subject().to_string(),
                    key_sha256: tx.key.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Approves a pending request: the certificate is issued now and handed
    /// out at the client's next CertPoll.
    pub fn approve(&self, transaction_id: &str) -> Result<Certificate, ScepError> {
        let (request, challenge) = {
            let state = self.lock()?;
            match state.transactions.get(transaction_id).map(|t| &t.state) {
                Some(TxState::Pending {
                    request, challenge, ..
                }) => (request.clone(), *challenge),
                _ => {
                    return Err(ScepError::BadAttribute {
                        attribute: "transactionID",
                        reason: "no pending request with this transaction".into(),
                    });
                }
            }
        };
        // The challenge that admitted the request hears how it ended (Intune
        // wants its success or failure notification after an approval too).
        let ctx = ChallengeContext {
            request: &request,
            transaction_id,
            now: OffsetDateTime::now_utc(),
        };
        let admitted_here = challenge == self.challenge.kind();
        let cert = match self.ca.issue(&request, &self.issue_options()) {
            Ok(cert) => cert,
            Err(e) => {
                if admitted_here {
                    self.challenge.failed(&ctx, &e.to_string());
                }
                return Err(e.into());
            }
        };
        if admitted_here {
            self.challenge.issued(&ctx, &cert);
        }
        let mut state = self.lock()?;
        if let Some(tx) = state.transactions.get_mut(transaction_id) {
            tx.state = TxState::Issued(Box::new(cert.clone()));
        }
        record(
            &mut state,
            transaction_id,
            None,
            Outcome::Issued {
                serial: cert.serial()?,
                challenge,
            },
        );
        Ok(cert)
    }

    /// Rejects a pending request; the client's next CertPoll gets FAILURE.
    pub fn reject(&self, transaction_id: &str, reason: &str) -> Result<(), ScepError> {
        let mut state = self.lock()?;
        let was = match state.transactions.get_mut(transaction_id) {
            Some(tx) if matches!(tx.state, TxState::Pending { .. }) => std::mem::replace(
                &mut tx.state,
                TxState::Rejected {
                    fail_info: FailInfo::BadRequest,
                    reason: reason.to_owned(),
                },
            ),
            _ => {
                return Err(ScepError::BadAttribute {
                    attribute: "transactionID",
                    reason: "no pending request with this transaction".into(),
                });
            }
        };
        let reason = format!("rejected by an admin: {reason}");
        record(
            &mut state,
            transaction_id,
            None,
            Outcome::Refused {
                fail_info: FailInfo::BadRequest,
                reason: reason.clone(),
            },
        );
        drop(state);
        if let TxState::Pending { request, challenge } = was
            && challenge == self.challenge.kind()
        {
            let ctx = ChallengeContext {
                request: &request,
                transaction_id,
                now: OffsetDateTime::now_utc(),
            };
            self.challenge.failed(&ctx, &reason);
        }
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ScepError> {
        self.state.lock().map_err(|_| ScepError::Malformed {
            what: "scep state (lock poisoned)",
        })
    }

    fn issue_options(&self) -> IssueOptions {
        IssueOptions {
            validity_days: self.config.validity_days,
            now: None,
        }
    }

    /// PKIOperation: decodes the request and answers with a signed CertRep
    /// (SUCCESS, PENDING or FAILURE). `Err` only when the message is too
    /// broken to be answered at all (the HTTP layer then answers 400).
    pub fn pki_operation(&self, body: &[u8]) -> Result<Vec<u8>, Rejected> {
        let now = OffsetDateTime::now_utc();
        let message = match PkiMessage::decode(body, &self.config.policy, self.ca.backend()) {
            Ok(m) => m,
            Err(rejected) => {
                let Some(to) = rejected.reply_to.clone() else {
                    tracing::warn!(reason = %rejected.error, "scep message refused, too broken to answer");
                    if let Ok(mut state) = self.state.lock() {
                        let reason = rejected.error.to_string();
                        record(
                            &mut state,
                            "",
                            None,
                            Outcome::Refused {
                                fail_info: rejected.fail_info(),
                                reason,
                            },
                        );
                    }
                    return Err(rejected);
                };
                let reason = rejected.error.to_string();
                self.note(
                    &to.transaction_id,
                    to.message_type,
                    Outcome::Refused {
                        fail_info: rejected.fail_info(),
                        reason: reason.clone(),
                    },
                );
                return self
                    .reply_failure(
                        &to.transaction_id,
                        &to.sender_nonce,
                        &to.signer,
                        rejected.fail_info(),
                        &reason,
                    )
                    .map_err(Rejected::from);
            }
        };
        let result = match message.message_type {
            MessageType::PkcsReq | MessageType::RenewalReq => self.enroll(&message, now),
            MessageType::CertPoll => self.poll(&message),
            MessageType::GetCert => self.get_cert(&message),
            other => Err(ScepFailure(
                FailInfo::BadRequest,
                format!("{other} is not supported by this responder"),
            )),
        };
        let reply = match result {
            Ok(Reply::Success(cert, encryption, challenge)) => {
                if let Ok(serial) = cert.serial() {
                    self.note(
                        &message.transaction_id,
                        Some(message.message_type),
                        Outcome::Issued { serial, challenge },
                    );
                }
                self.reply_success(&message, &cert, encryption)
            }
            Ok(Reply::Pending) => {
                self.note(
                    &message.transaction_id,
                    Some(message.message_type),
                    Outcome::Pending,
                );
                self.reply(&message, PkiStatus::Pending, None, None)
            }
            Ok(Reply::Failure(fail, reason)) | Err(ScepFailure(fail, reason)) => {
                self.note(
                    &message.transaction_id,
                    Some(message.message_type),
                    Outcome::Refused {
                        fail_info: fail,
                        reason: reason.clone(),
                    },
                );
                self.reply_failure(
                    &message.transaction_id,
                    &message.sender_nonce,
                    &message.signer,
                    fail,
                    &reason,
                )
            }
        };
        reply.map_err(Rejected::from)
    }

    fn note(&self, transaction_id: &str, message_type: Option<MessageType>, outcome: Outcome) {
        match &outcome {
            Outcome::Refused { fail_info, reason } => {
                tracing::warn!(transaction_id, ?message_type, %fail_info, reason, "scep request refused");
            }
            Outcome::Issued { serial, challenge } => {
                tracing::info!(transaction_id, ?message_type, %serial, %challenge, "scep certificate issued");
            }
            Outcome::Pending => {
                tracing::info!(transaction_id, ?message_type, "scep request pending")
            }
        }
        if let Ok(mut state) = self.state.lock() {
            record(&mut state, transaction_id, message_type, outcome);
        }
    }

    fn enroll(&self, message: &PkiMessage, now: OffsetDateTime) -> Result<Reply, ScepFailure> {
        let (plain, encryption) = message
            .decrypt(
                &self.ra_cert,
                self.ra_decrypter.as_ref(),
                &self.config.policy,
            )
            .map_err(ScepFailure::from)?;
        let request = self
            .ca
            .parse_request(&plain)
            .map_err(|e| ScepFailure::from(ScepError::Pki(e)))?;
        let key = request.public_key().fingerprint();

        // A resend of a transaction we know: same key, same answer. Another key: refused.
        {
            let state = self.lock()?;
            if let Some(tx) = state.transactions.get(&message.transaction_id) {
                if tx.key != key {
                    return Ok(Reply::Failure(
                        FailInfo::BadRequest,
                        "transaction ID reused with a different key".into(),
                    ));
                }
                return Ok(match &tx.state {
                    TxState::Issued(cert) => {
                        Reply::Success(cert.clone(), encryption, ChallengeKind::Renewal)
                    }
                    TxState::Pending { .. } => Reply::Pending,
                    TxState::Rejected { fail_info, reason } => {
                        Reply::Failure(*fail_info, reason.clone())
                    }
                });
            }
        }

        let ctx = ChallengeContext {
            request: &request,
            transaction_id: &message.transaction_id,
            now,
        };
        let admitted = match self.renewal(message, &request, now)? {
            Some(kind) => kind,
            None if message.message_type == MessageType::RenewalReq => {
                return self.remember(message, key, Reply::Failure(FailInfo::BadRequest, "renewal needs a valid certificate issued by this CA, inside the renewal window".into()));
            }
            None => match self.challenge.verify(&ctx) {
                Ok(()) => self.challenge.kind(),
                Err(e) => {
                    let reply = Reply::Failure(
                        FailInfo::BadRequest,
                        format!("{} challenge: {e}", self.challenge.kind()),
                    );
                    // A validator that could not be asked gave no answer: a
                    // resend of this transaction asks again instead of
                    // replaying the refusal.
                    if matches!(e, ChallengeError::Unavailable(_)) {
                        return Ok(reply);
                    }
                    return self.remember(message, key, reply);
                }
            },
        };
        if self.config.manual_approval {
            let mut state = self.lock()?;
            insert(
                &mut state,
                self.config.max_transactions,
                &message.transaction_id,
                Transaction {
                    key,
                    state: TxState::Pending {
                        request: Box::new(request),
                        challenge: admitted,
                    },
                },
            );
            return Ok(Reply::Pending);
        }
        match self.ca.issue(&request, &self.issue_options()) {
            Ok(cert) => {
                self.challenge.issued(&ctx, &cert);
                self.remember(
                    message,
                    key,
                    Reply::Success(Box::new(cert), encryption, admitted),
                )
            }
            Err(e) => {
                self.challenge.failed(&ctx, &e.to_string());
                self.remember(
                    message,
                    key,
                    Reply::Failure(FailInfo::BadRequest, e.to_string()),
                )
            }
        }
    }

    /// `Some` when the request is signed by a certificate this CA issued,
    /// which is valid, unrevoked, for the same subject, and inside the renewal window.
    fn renewal(
        &self,
        message: &PkiMessage,
        request: &CertificateRequest,
        now: OffsetDateTime,
    ) -> Result<Option<ChallengeKind>, ScepFailure> {
        let signer = &message.signer;
        if signer.issuer() != self.ca.intermediate().subject() {
            return Ok(None);
        }
        let Ok(serial) = signer.serial() else {
            return Ok(None);
        };
        let ours = self
            .ca
            .ledger()
            .get(&serial)
            .map_err(|e| ScepFailure(FailInfo::BadRequest, e.to_string()))?
            .is_some_and(|issued| {
                Certificate::parse(issued.certificate_pem.as_bytes())
                    .is_ok_and(|c| c.der() == signer.der())
            });
        if !ours || self.ca.verify(signer, None, now).is_err() {
            return Ok(None);
        }
        let window = Duration::days(i64::from(self.config.renewal_window_days));
        if now < signer.not_after() - window || request.subject() != signer.subject() {
            return Ok(None);
        }
        Ok(Some(ChallengeKind::Renewal))
    }

    fn remember(
        &self,
        message: &PkiMessage,
        key: String,
        reply: Reply,
    ) -> Result<Reply, ScepFailure> {
        let state_of = match &reply {
            Reply::Success(cert, ..) => TxState::Issued(cert.clone()),
            Reply::Failure(fail, reason) => TxState::Rejected {
                fail_info: *fail,
                reason: reason.clone(),
            },
            Reply::Pending => return Ok(reply),
        };
        let mut state = self.lock()?;
        insert(
            &mut state,
            self.config.max_transactions,
            &message.transaction_id,
            Transaction {
                key,
                state: state_of,
            },
        );
        Ok(reply)
    }

    fn poll(&self, message: &PkiMessage) -> Result<Reply, ScepFailure> {
        let state = self.lock()?;
        let encryption = message
            .content_encryption()
            .unwrap_or(ContentEncryption::Aes128Cbc);
        Ok(
            match state
                .transactions
                .get(&message.transaction_id)
                .map(|t| &t.state)
            {
                Some(TxState::Issued(cert)) => {
                    Reply::Success(cert.clone(), encryption, ChallengeKind::Renewal)
                }
                Some(TxState::Pending { .. }) => Reply::Pending,
                Some(TxState::Rejected { fail_info, reason }) => {
                    Reply::Failure(*fail_info, reason.clone())
                }
                None => Reply::Failure(FailInfo::BadCertId, "no such transaction".into()),
            },
        )
    }

    fn get_cert(&self, message: &PkiMessage) -> Result<Reply, ScepFailure> {
        let (plain, encryption) = message
            .decrypt(
                &self.ra_cert,
                self.ra_decrypter.as_ref(),
                &self.config.policy,
            )
            .map_err(ScepFailure::from)?;
        let isn = IssuerAndSerialNumber::from_der(&plain).map_err(|_| {
            ScepFailure(
                FailInfo::BadRequest,
                "GetCert payload is not an IssuerAndSerialNumber".into(),
            )
        })?;
        let serial = SerialNumber::from_der_integer(isn.serial_number.as_bytes())
            .map_err(|e| ScepFailure(FailInfo::BadCertId, e.to_string()))?;
        let issued = self
            .ca
            .ledger()
            .get(&serial)
            .map_err(|e| ScepFailure(FailInfo::BadRequest, e.to_string()))?;
        match issued.and_then(|i| Certificate::parse(i.certificate_pem.as_bytes()).ok()) {
            Some(cert) if isn.issuer == *cert.issuer() => Ok(Reply::Success(
                Box::new(cert),
                encryption,
                ChallengeKind::Renewal,
            )),
            _ => Ok(Reply::Failure(
                FailInfo::BadCertId,
                format!("no certificate with serial {serial}"),
            )),
        }
    }

    fn reply_success(
        &self,
        message: &PkiMessage,
        cert: &Certificate,
        encryption: ContentEncryption,
    ) -> Result<Vec<u8>, ScepError> {
        let payload = degenerate_certs_only(&[cert])?;
        self.reply(
            message,
            PkiStatus::Success,
            Some(&payload),
            Some(encryption),
        )
    }

    fn reply(
        &self,
        message: &PkiMessage,
        status: PkiStatus,
        payload: Option<&[u8]>,
        encryption: Option<ContentEncryption>,
    ) -> Result<Vec<u8>, ScepError> {
        CertRep {
            transaction_id: &message.transaction_id,
            recipient_nonce: &message.sender_nonce,
            status,
            fail_info: None,
            fail_info_text: None,
            payload,
            recipient: &message.signer,
            encryption: encryption.unwrap_or(ContentEncryption::Aes128Cbc),
        }
        .encode(&self.ra_cert, self.ra_signer.as_ref())
    }

    fn reply_failure(
        &self,
        transaction_id: &str,
        sender_nonce: &[u8],
        signer: &Certificate,
        fail: FailInfo,
        reason: &str,
    ) -> Result<Vec<u8>, ScepError> {
        CertRep {
            transaction_id,
            recipient_nonce: sender_nonce,
            status: PkiStatus::Failure,
            fail_info: Some(fail),
            fail_info_text: Some(reason),
            payload: None,
            recipient: signer,
            encryption: ContentEncryption::Aes128Cbc,
        }
        .encode(&self.ra_cert, self.ra_signer.as_ref())
    }
}

enum Reply {
    Success(Box<Certificate>, ContentEncryption, ChallengeKind),
    Pending,
    Failure(FailInfo, String),
}

/// A refusal on the way to a reply.
struct ScepFailure(FailInfo, String);

impl From<ScepError> for ScepFailure {
    fn from(e: ScepError) -> Self {
        Self(e.fail_info(), e.to_string())
    }
}

fn insert(state: &mut State, max: usize, id: &str, tx: Transaction) {
    if state.transactions.insert(id.to_owned(), tx).is_none() {
        state.order.push_back(id.to_owned());
    }
    while state.order.len() > max.max(1) {
        if let Some(old) = state.order.pop_front() {
            state.transactions.remove(&old);
        }
    }
}

fn record(
    state: &mut State,
    transaction_id: &str,
    message_type: Option<MessageType>,
    outcome: Outcome,
) {
    let counter = match &outcome {
        Outcome::Issued { .. } => &mut state.counts.issued,
        Outcome::Pending => &mut state.counts.pending,
        Outcome::Refused { .. } => &mut state.counts.refused,
    };
    *counter = counter.saturating_add(1);
    state.events.push_back(ScepEvent {
        time: OffsetDateTime::now_utc(),
        transaction_id: transaction_id.to_owned(),
        message_type,
        outcome,
    });
    while state.events.len() > MAX_EVENTS {
        state.events.pop_front();
    }
}
