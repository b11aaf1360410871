//! The CA side of SCEP: GetCACaps, GetCACert and PKIOperation, independent
//! of HTTP (the server crate maps it onto routes).
//!
//! Every PKIOperation ends in exactly one recorded outcome: issued (with the
//! challenge kind that admitted it), pending, or refused (with its failInfo
//! and reason). Issuance is the last step, so nothing is issued on any
//! failure path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cms::cert::IssuerAndSerialNumber;
use der::Decode;
use time::{Duration, OffsetDateTime};

use super::challenge::{Challenge, ChallengeContext, ChallengeError, ChallengeKind};
use super::transactions::{
    Claim, Expected, MemoryScepTransactions, ScepTransactions, TransactionLimits,
    TransactionRecord, TransactionState,
};
use super::{
    CertRep, ContentEncryption, FailInfo, MessageType, PkiMessage, PkiStatus, Rejected, ScepError,
    ScepPolicy, degenerate_certs_only,
};
use crate::ca::Signed;
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
    /// A request's claim on its transaction left in progress this many
    /// seconds is taken to be abandoned (its server crashed), and a resend
    /// may take it over (default 300, at least 60). Keep it well above the
    /// longest a request can take (HTTP and validator timeouts are far shorter).
    pub claim_timeout_seconds: u32,
    /// Finished transactions (issued or refused) are kept this many days
    /// for resends and polls, then dropped (default 30).
    pub transaction_retention_days: u32,
}

impl Default for ScepConfig {
    fn default() -> Self {
        Self {
            policy: ScepPolicy::default(),
            renewal_window_days: 30,
            manual_approval: false,
            max_transactions: 10_000,
            validity_days: None,
            claim_timeout_seconds: 300,
            transaction_retention_days: 30,
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

#[derive(Debug, Default)]
struct State {
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

/// The shortest claim timeout honoured, whatever the configuration says.
const MIN_CLAIM_TIMEOUT_SECONDS: u32 = 60;

/// A request waiting for an admin.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    /// Its transaction ID.
    pub transaction_id: String,
    /// The requested subject.
    pub subject: String,
    /// SHA-256 of the requested public key, hex.
    pub key_sha256: String,
    /// When the client first sent it.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
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
    transactions: Arc<dyn ScepTransactions>,
    /// Process-local metrics: recent events and counters.
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
            transactions: Arc::new(MemoryScepTransactions::new()),
            state: Mutex::new(State::default()),
        })
    }

    /// The same responder, keeping its transactions in `transactions`
    /// (e.g. a database, so that resends, polls and approvals survive a
    /// restart and a replayed request is answered, never issued again).
    #[must_use]
    pub fn with_transactions(mut self, transactions: Arc<dyn ScepTransactions>) -> Self {
        self.transactions = transactions;
        self
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

    /// Requests waiting for approval, oldest first (at most `max_transactions`).
    pub fn pending(&self) -> Result<Vec<PendingRequest>, ScepError> {
        let records = self.transactions.pending(self.config.max_transactions)?;
        Ok(records
            .into_iter()
            .filter_map(|tx| match tx.state {
                TransactionState::Pending { subject, .. } => Some(PendingRequest {
                    transaction_id: tx.transaction_id,
                    subject,
                    key_sha256: tx.key_sha256,
                    created: tx.created,
                }),
                _ => None,
            })
            .collect())
    }

    /// Approves a pending request: the certificate is issued now and handed
    /// out at the client's next CertPoll. The request is taken out of
    /// pending atomically first, so two approvals never issue two certificates.
    pub fn approve(&self, transaction_id: &str) -> Result<Certificate, ScepError> {
        let claim = new_claim()?;
        let now = OffsetDateTime::now_utc();
        let taken = self.transactions.update(
            transaction_id,
            Expected::Pending,
            TransactionState::InProgress {
                claim: claim.clone(),
            },
            now,
        )?;
        let Some(TransactionRecord {
            state: pending @ TransactionState::Pending { .. },
            ..
        }) = taken
        else {
            return Err(no_pending(transaction_id));
        };
        let restore = |state: TransactionState| {
            self.transactions.update(
                transaction_id,
                Expected::Claim(&claim),
                state,
                OffsetDateTime::now_utc(),
            )
        };
        let (request, challenge) = match self.pending_request(&pending) {
            Ok(found) => found,
            Err(e) => {
                restore(pending)?;
                return Err(e);
            }
        };
        // The challenge that admitted the request hears how it ended (Intune
        // wants its success or failure notification after an approval too).
        let ctx = ChallengeContext {
            request: &request,
            transaction_id,
            now,
        };
        let admitted_here = challenge == self.challenge.kind();
        let refused = |e: &dyn std::fmt::Display| -> Result<(), ScepError> {
            if admitted_here {
                self.challenge.failed(&ctx, &e.to_string());
            }
            // Still pending: the admin may try again.
            restore(pending.clone())?;
            Ok(())
        };
        let signed = match self.ca.sign_unrecorded(&request, &self.issue_options()) {
            Ok(signed) => signed,
            Err(e) => {
                refused(&e)?;
                return Err(e.into());
            }
        };
        match self.transactions.finish_issued(
            transaction_id,
            &claim,
            &signed.entry,
            self.ca.ledger().as_ref(),
            OffsetDateTime::now_utc(),
        ) {
            Ok(Some(_)) => {}
            Ok(None) => {
                // Our claim was taken over after its timeout: whatever the
                // transaction says now stands, and this certificate is not handed out.
                tracing::warn!(
                    transaction_id,
                    "scep approval outlived its claim; another request decided the transaction"
                );
                return Err(no_pending(transaction_id));
            }
            Err(e) => {
                refused(&e)?;
                return Err(e.into());
            }
        }
        let cert = signed.certificate;
        if admitted_here {
            self.challenge.issued(&ctx, &cert);
        }
        let mut state = self.lock()?;
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
        let was = self.transactions.update(
            transaction_id,
            Expected::Pending,
            TransactionState::Rejected {
                fail_info: FailInfo::BadRequest,
                reason: reason.to_owned(),
            },
            OffsetDateTime::now_utc(),
        )?;
        let Some(was) = was else {
            return Err(no_pending(transaction_id));
        };
        let reason = format!("rejected by an admin: {reason}");
        {
            let mut state = self.lock()?;
            record(
                &mut state,
                transaction_id,
                None,
                Outcome::Refused {
                    fail_info: FailInfo::BadRequest,
                    reason: reason.clone(),
                },
            );
        }
        if let Ok((request, challenge)) = self.pending_request(&was.state)
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

    /// The request and admitting challenge of a pending transaction.
    fn pending_request(
        &self,
        state: &TransactionState,
    ) -> Result<(CertificateRequest, ChallengeKind), ScepError> {
        let TransactionState::Pending {
            request_der_hex,
            challenge,
            ..
        } = state
        else {
            // Callers pass a state they matched as pending.
            return Err(ScepError::Malformed {
                what: "stored pending request (not pending)",
            });
        };
        let der = hex::decode(request_der_hex).map_err(|_| ScepError::Malformed {
            what: "stored pending request (not hex)",
        })?;
        Ok((self.ca.parse_request(&der)?, *challenge))
    }

    fn limits(&self) -> TransactionLimits {
        TransactionLimits {
            max_transactions: self.config.max_transactions,
            retention: Duration::days(i64::from(self.config.transaction_retention_days)),
            // Never so short that a live request could lose its claim.
            claim_timeout: Duration::seconds(i64::from(
                self.config
                    .claim_timeout_seconds
                    .max(MIN_CLAIM_TIMEOUT_SECONDS),
            )),
        }
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
        self.pki_operation_with_status(body).map(|(reply, _)| reply)
    }

    /// [`Self::pki_operation`], with the status the reply carries, so the
    /// caller can count refusals (a source that keeps failing is throttled
    /// before its next request costs an RSA decryption).
    pub fn pki_operation_with_status(&self, body: &[u8]) -> Result<(Vec<u8>, PkiStatus), Rejected> {
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
                    .map(|reply| (reply, PkiStatus::Failure))
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
        let (reply, status) = match result {
            Ok(Reply::Success(cert, encryption, challenge)) => {
                if let Ok(serial) = cert.serial() {
                    self.note(
                        &message.transaction_id,
                        Some(message.message_type),
                        Outcome::Issued { serial, challenge },
                    );
                }
                (
                    self.reply_success(&message, &cert, encryption),
                    PkiStatus::Success,
                )
            }
            Ok(Reply::Pending) => {
                self.note(
                    &message.transaction_id,
                    Some(message.message_type),
                    Outcome::Pending,
                );
                (
                    self.reply(&message, PkiStatus::Pending, None, None),
                    PkiStatus::Pending,
                )
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
                (
                    self.reply_failure(
                        &message.transaction_id,
                        &message.sender_nonce,
                        &message.signer,
                        fail,
                        &reason,
                    ),
                    PkiStatus::Failure,
                )
            }
        };
        reply.map(|reply| (reply, status)).map_err(Rejected::from)
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

        // The first request with this transaction ID claims it, atomically;
        // every copy finds the claim (PENDING) or the outcome (the same
        // answer), and another key is refused. So one request per
        // transaction, ever, reaches the challenge and the CA.
        let claim = new_claim().map_err(ScepFailure::from)?;
        let transaction_id = message.transaction_id.as_str();
        match self
            .transactions
            .claim(transaction_id, &key, &claim, now, &self.limits())
        {
            Ok(Claim::Claimed) => {}
            Ok(Claim::Existing(known)) => return Ok(answer_known(&known, Some(&key), encryption)),
            Err(e) => return Err(ScepFailure::from(ScepError::from(e))),
        }
        let decided = match self.decide(message, &request, now) {
            Ok(decided) => decided,
            Err(failure) => Decided::Unanswered(Reply::Failure(failure.0, failure.1)),
        };
        let (state, reply) = match decided {
            Decided::Unanswered(reply) => {
                // No answer was reached (e.g. the validator could not be
                // asked): a resend of this transaction asks again instead
                // of replaying the refusal.
                self.release_claim(transaction_id, &claim);
                return Ok(reply);
            }
            Decided::Signed { signed, admitted } => {
                return self.finish_issued(
                    transaction_id,
                    &claim,
                    &key,
                    &request,
                    *signed,
                    admitted,
                    encryption,
                    now,
                );
            }
            Decided::Held { request, challenge } => (
                TransactionState::Pending {
                    request_der_hex: hex::encode(request.der()),
                    subject: request.subject().to_string(),
                    challenge,
                },
                Reply::Pending,
            ),
            Decided::Refused(fail_info, reason) => (
                TransactionState::Rejected {
                    fail_info,
                    reason: reason.clone(),
                },
                Reply::Failure(fail_info, reason),
            ),
        };
        match self.transactions.update(
            transaction_id,
            Expected::Claim(&claim),
            state,
            OffsetDateTime::now_utc(),
        ) {
            Ok(Some(_)) => Ok(reply),
            Ok(None) => self.recorded_outcome(transaction_id, &key, encryption, Ok(reply)),
            Err(e) => {
                // A refusal or PENDING is decided but not recorded: answer
                // it; a resend sees the claim in progress (PENDING) until
                // the claim timeout.
                tracing::error!(transaction_id, error = %e, "scep outcome could not be recorded");
                Ok(reply)
            }
        }
    }

    /// Records a signed certificate with its transaction's outcome and
    /// answers with it. A certificate leaves only once recorded: when the
    /// record fails, the client gets FAILURE and the claim is released, so
    /// a resend asks again.
    #[allow(
        clippy::too_many_arguments,
        reason = "the one caller's claimed transaction, spelt out"
    )]
    fn finish_issued(
        &self,
        transaction_id: &str,
        claim: &str,
        key: &str,
        request: &CertificateRequest,
        signed: Signed,
        admitted: ChallengeKind,
        encryption: ContentEncryption,
        now: OffsetDateTime,
    ) -> Result<Reply, ScepFailure> {
        let ctx = ChallengeContext {
            request,
            transaction_id,
            now,
        };
        let finished = self.transactions.finish_issued(
            transaction_id,
            claim,
            &signed.entry,
            self.ca.ledger().as_ref(),
            OffsetDateTime::now_utc(),
        );
        match finished {
            Ok(Some(_)) => {
                let cert = signed.certificate;
                self.challenge.issued(&ctx, &cert);
                Ok(Reply::Success(Box::new(cert), encryption, admitted))
            }
            // Our certificate was not recorded (in a store that records it
            // with the outcome), so it is never handed out.
            Ok(None) => self.recorded_outcome(
                transaction_id,
                key,
                encryption,
                Err(ScepFailure(
                    FailInfo::BadRequest,
                    "the transaction was dropped while it was being decided; enroll again".into(),
                )),
            ),
            Err(e) => {
                tracing::error!(transaction_id, error = %e, "scep certificate could not be recorded");
                self.challenge.failed(&ctx, &e.to_string());
                self.release_claim(transaction_id, claim);
                Err(ScepFailure::from(ScepError::from(e)))
            }
        }
    }

    /// The answer for a request whose claim outlived the claim timeout and
    /// was taken over by a resend: the transaction's recorded outcome, so
    /// every answer agrees; `gone` when no record is left.
    fn recorded_outcome(
        &self,
        transaction_id: &str,
        key: &str,
        encryption: ContentEncryption,
        gone: Result<Reply, ScepFailure>,
    ) -> Result<Reply, ScepFailure> {
        tracing::warn!(
            transaction_id,
            "scep request outlived its claim; answering with the transaction's recorded outcome"
        );
        match self.transactions.get(transaction_id) {
            Ok(Some(known)) => Ok(answer_known(&known, Some(key), encryption)),
            Ok(None) => gone,
            Err(e) => Err(ScepFailure::from(ScepError::from(e))),
        }
    }

    /// Forgets our claim so a resend asks again; if that fails, a resend
    /// waits for the claim timeout instead.
    fn release_claim(&self, transaction_id: &str, claim: &str) {
        if let Err(e) = self.transactions.release(transaction_id, claim) {
            tracing::warn!(transaction_id, error = %e, "scep claim could not be released; a resend waits for the claim timeout");
        }
    }

    /// The decision for a claimed transaction: renewal or challenge, then
    /// signing (or holding for approval). Signing is the last step; the
    /// certificate counts as issued once recorded with the outcome.
    fn decide(
        &self,
        message: &PkiMessage,
        request: &CertificateRequest,
        now: OffsetDateTime,
    ) -> Result<Decided, ScepFailure> {
        let ctx = ChallengeContext {
            request,
            transaction_id: &message.transaction_id,
            now,
        };
        let admitted = match self.renewal(message, request, now)? {
            Some(kind) => kind,
            None if message.message_type == MessageType::RenewalReq => {
                return Ok(Decided::Refused(
                    FailInfo::BadRequest,
                    "renewal needs a valid certificate issued by this CA, inside the renewal window"
                        .into(),
                ));
            }
            None => match self.challenge.verify(&ctx) {
                Ok(()) => self.challenge.kind(),
                Err(e) => {
                    let reason = format!("{} challenge: {e}", self.challenge.kind());
                    // A validator that could not be asked gave no answer.
                    if matches!(e, ChallengeError::Unavailable(_)) {
                        return Ok(Decided::Unanswered(Reply::Failure(
                            FailInfo::BadRequest,
                            reason,
                        )));
                    }
                    return Ok(Decided::Refused(FailInfo::BadRequest, reason));
                }
            },
        };
        if self.config.manual_approval {
            return Ok(Decided::Held {
                request: Box::new(request.clone()),
                challenge: admitted,
            });
        }
        // Signed here, recorded with the transaction's outcome by the caller.
        match self.ca.sign_unrecorded(request, &self.issue_options()) {
            Ok(signed) => Ok(Decided::Signed {
                signed: Box::new(signed),
                admitted,
            }),
            Err(e) => {
                self.challenge.failed(&ctx, &e.to_string());
                Ok(Decided::Refused(FailInfo::BadRequest, e.to_string()))
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

    fn poll(&self, message: &PkiMessage) -> Result<Reply, ScepFailure> {
        let encryption = message
            .content_encryption()
            .unwrap_or(ContentEncryption::Aes128Cbc);
        let known = self
            .transactions
            .get(&message.transaction_id)
            .map_err(|e| ScepFailure::from(ScepError::from(e)))?;
        Ok(match known {
            Some(known) => answer_known(&known, None, encryption),
            None => Reply::Failure(FailInfo::BadCertId, "no such transaction".into()),
        })
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

/// What the holder of a transaction's claim decided.
enum Decided {
    /// A certificate, signed: to record (with the outcome) and answer.
    Signed {
        signed: Box<Signed>,
        admitted: ChallengeKind,
    },
    /// A refusal, to record and answer.
    Refused(FailInfo, String),
    /// Admitted and held for approval.
    Held {
        request: Box<CertificateRequest>,
        challenge: ChallengeKind,
    },
    /// No decision could be reached: answered, not recorded.
    Unanswered(Reply),
}

/// The answer to a request for a transaction already known: the same
/// certificate, the same refusal, or PENDING while it is being decided or
/// awaits approval. `key` (a resend's key; `None` for a CertPoll) must match.
fn answer_known(
    known: &TransactionRecord,
    key: Option<&str>,
    encryption: ContentEncryption,
) -> Reply {
    if key.is_some_and(|key| key != known.key_sha256) {
        return Reply::Failure(
            FailInfo::BadRequest,
            "transaction ID reused with a different key".into(),
        );
    }
    match &known.state {
        TransactionState::InProgress { .. } | TransactionState::Pending { .. } => Reply::Pending,
        TransactionState::Issued { certificate_pem } => {
            match Certificate::parse(certificate_pem.as_bytes()) {
                Ok(cert) => Reply::Success(Box::new(cert), encryption, ChallengeKind::Renewal),
                Err(e) => Reply::Failure(
                    FailInfo::BadRequest,
                    format!("the issued certificate could not be read back: {e}"),
                ),
            }
        }
        TransactionState::Rejected { fail_info, reason } => {
            Reply::Failure(*fail_info, reason.clone())
        }
    }
}

/// A fresh random claim token (128 bits, hex).
fn new_claim() -> Result<String, ScepError> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| ScepError::Pki(crate::Error::Random(e.to_string())))?;
    Ok(hex::encode(raw))
}

fn no_pending(transaction_id: &str) -> ScepError {
    ScepError::NotPending {
        transaction_id: transaction_id.to_owned(),
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
