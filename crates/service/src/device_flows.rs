//! What Okta Verify does on a device, as use cases: register (with proof
//! of possession of the new key), authenticate a signed request, fetch an
//! attestation nonce, prove management, read its own status and open a
//! session. The HTTP layer parses requests into these types and renders
//! the answers; every check lives here.

use devicetrust_attestation::nonce::{Nonce, NonceError, Proof};
use devicetrust_attestation::{DesktopRequest, Enrollment, Outcome, Platform};
use devicetrust_devices::{
    Actor, Device, DeviceId, DeviceProfile, DeviceStatus, Platform as DevicePlatform,
    ScreenLockType, Session, SessionMethod, UserId,
};
use devicetrust_errors::{ErrorKind, HasKind};
use devicetrust_pki::{Certificate, HashAlgorithm};
use devicetrust_store::{
    DeviceKeyRecord, DeviceRegistration, ManagementProof, NonceUse, ProofReason,
    ProvingCertificate, RegistrationRefused, Store as _,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::Service;
use crate::device_keys::{self, DeviceKeyError};
use crate::enrollment_tokens::{EnrollmentTokenError, parse_token_id, token_matches};

/// The actor of registrations in the device's audit trail.
const REGISTRATION_ACTOR: &str = "oktaVerify";
/// The most certificates a desktop proof may carry (leaf first).
pub const MAX_CHAIN: usize = 8;

/// Why a device flow was refused. Each variant states its kind once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceFlowError {
    /// The request signature, its time or its nonce is not acceptable.
    #[error("{reason}")]
    BadSignature {
        /// What was wrong, for the caller.
        reason: &'static str,
    },
    /// The device was deactivated: its key was retired with it.
    #[error("device {device} is DEACTIVATED: its credentials are revoked")]
    Deactivated {
        /// The device.
        device: DeviceId,
    },
    /// The call needs an ACTIVE device.
    #[error("device {device} is {status}: Okta Verify cannot be used on it")]
    NotActive {
        /// The device.
        device: DeviceId,
        /// Its status.
        status: DeviceStatus,
    },
    /// The body named another device.
    #[error("device {device} cannot act for device {named}")]
    OtherDevice {
        /// The device that signed.
        device: DeviceId,
        /// The device the body named.
        named: String,
    },
    /// The device sent more requests than its replay window holds.
    #[error("too many requests from this device; retry in a few minutes")]
    TooManyRequests,
    /// A field of the request is missing or malformed.
    #[error("{field}: {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The management evidence is missing a part or holds a malformed one.
    #[error("{why}")]
    BadEvidence {
        /// What is wrong, naming the field.
        why: String,
    },
    /// Management attestation does not cover the device's platform.
    #[error("management attestation does not cover {platform} devices")]
    UnsupportedPlatform {
        /// The device's platform.
        platform: String,
    },
    /// The registration's key proof does not verify with the key registered.
    #[error(
        "keyProof.signature does not verify with publicKey: the caller must hold the key it registers"
    )]
    KeyNotHeld,
    /// The enrollment token was refused.
    #[error(transparent)]
    EnrollmentToken(#[from] EnrollmentTokenError),
    /// The hardware belongs to other users under another key.
    #[error(transparent)]
    HardwareTaken(Box<RegistrationRefused>),
    /// A device key could not be parsed or did not verify.
    #[error(transparent)]
    Key(#[from] DeviceKeyError),
    /// An attestation nonce could not be issued.
    #[error("attestation nonce: {0}")]
    Nonce(#[from] NonceError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] devicetrust_store::Error),
    /// A store the check needs could not be used (logged); nothing was
    /// recorded.
    #[error("temporarily unavailable; retry")]
    Unavailable,
}

impl HasKind for DeviceFlowError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BadSignature { .. } | Self::Deactivated { .. } | Self::KeyNotHeld => {
                ErrorKind::Unauthenticated
            }
            Self::NotActive { .. } | Self::OtherDevice { .. } => ErrorKind::Forbidden,
            Self::TooManyRequests => ErrorKind::LimitReached,
            Self::Invalid { .. } | Self::BadEvidence { .. } | Self::UnsupportedPlatform { .. } => {
                ErrorKind::Invalid
            }
            Self::HardwareTaken(_) => ErrorKind::Conflict,
            Self::EnrollmentToken(e) => e.kind(),
            Self::Key(e) => e.kind(),
            Self::Nonce(_) => ErrorKind::Internal,
            Self::Store(e) => e.kind(),
            Self::Unavailable => ErrorKind::Unavailable,
        }
    }
}

fn bad_signature(reason: &'static str) -> DeviceFlowError {
    DeviceFlowError::BadSignature { reason }
}

fn invalid(field: &'static str, why: impl Into<String>) -> DeviceFlowError {
    DeviceFlowError::Invalid {
        field,
        why: why.into(),
    }
}

/// A device request as the transport received it: who it says it is, the
/// canonical string it signed (see [`device_keys::canonical_request`]), the
/// signature, and the nonce and time it carries.
#[derive(Debug)]
pub struct SignedCall<'a> {
    /// The `id` the request names.
    pub device: &'a str,
    /// The Unix seconds it was signed at, as sent.
    pub ts: &'a str,
    /// The single-use nonce it carries.
    pub nonce: &'a str,
    /// The canonical request string the signature covers.
    pub message: &'a [u8],
    /// The signature, decoded.
    pub signature: &'a [u8],
}

/// A device whose request signature verified, with the key that signed.
#[derive(Debug)]
pub struct AuthenticatedDevice {
    /// The device as stored when the request was accepted.
    pub device: Device,
    /// The key that signed.
    pub key: DeviceKeyRecord,
}

impl AuthenticatedDevice {
    /// Refuses unless the device is ACTIVE: a suspended device may only
    /// read its own status.
    pub fn require_active(&self) -> Result<(), DeviceFlowError> {
        if self.device.status == DeviceStatus::Active {
            Ok(())
        } else {
            Err(DeviceFlowError::NotActive {
                device: self.device.id.clone(),
                status: self.device.status,
            })
        }
    }

    /// Refuses a body that names another device.
    pub fn require_self(&self, named: Option<&str>) -> Result<(), DeviceFlowError> {
        match named {
            Some(id) if id != self.device.id.as_str() => Err(DeviceFlowError::OtherDevice {
                device: self.device.id.clone(),
                named: id.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

/// Unix seconds as sent in a header or a key proof: digits only.
pub fn parse_unix_seconds(text: &str) -> Option<OffsetDateTime> {
    text.parse::<i64>()
        .ok()
        .filter(|_| text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
}

/// A registration as Okta Verify sends it.
#[derive(Debug)]
pub struct Registration {
    /// The one-time enrollment token.
    pub enrollment_token: Zeroizing<String>,
    /// The device's new public key (PEM SPKI).
    pub public_key: String,
    /// Unix seconds the key proof was made at.
    pub proof_ts: String,
    /// The new key's signature over [`device_keys::registration_message`].
    pub proof_signature: Vec<u8>,
    /// The device's profile.
    pub profile: DeviceProfile,
    /// The screen lock the device reports.
    pub screen_lock_type: Option<ScreenLockType>,
}

/// A registered device and the id of the key it registered.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The device.
    pub device: Device,
    /// The registered key's id.
    pub key_id: String,
}

/// What a device sends to prove it is managed.
#[derive(Debug, Default)]
pub struct ManagementEvidence {
    /// Desktop: the nonce from [`Service::issue_attestation_nonce`].
    pub nonce: Option<String>,
    /// Desktop: the signature over the nonce by the certificate's key.
    pub signature: Option<String>,
    /// Desktop: the certificate chain, PEM, leaf first.
    pub certificates: Vec<String>,
    /// Mobile: the managementHint its UEM configured.
    pub management_hint: Option<Zeroizing<String>>,
}

/// The outcome of a management proof, as recorded.
#[derive(Debug)]
pub struct ProofAnswer {
    /// The recorded proof.
    pub proof: ManagementProof,
    /// Until when the device counts as managed, if it does.
    pub managed_until: Option<OffsetDateTime>,
    /// How to enroll in management, when the proof failed.
    pub enrollment: Vec<Enrollment>,
}

/// How old one kind of EDR signal of a device is.
#[derive(Debug)]
pub struct SignalAge {
    /// The signal schema (provider) id.
    pub schema: &'static str,
    /// When the signals were collected.
    pub collected_at: OffsetDateTime,
    /// Whether they are too old to count.
    pub stale: bool,
}

/// A device's own view of itself (`GET /device/v1/me`).
#[derive(Debug)]
pub struct DeviceSelf {
    /// Whether it counts as managed now.
    pub managed: bool,
    /// Until when, if it does.
    pub managed_until: Option<OffsetDateTime>,
    /// Its last management proof.
    pub last_proof: Option<ManagementProof>,
    /// Its EDR signals' ages, one per schema it reported.
    pub signals: Vec<SignalAge>,
}

fn attestation_platform(device: &Device) -> Result<Platform, DeviceFlowError> {
    match device.profile.platform {
        DevicePlatform::Macos => Ok(Platform::MacOs),
        DevicePlatform::Windows => Ok(Platform::Windows),
        DevicePlatform::Ios => Ok(Platform::Ios),
        DevicePlatform::Android => Ok(Platform::Android),
        other => Err(DeviceFlowError::UnsupportedPlatform {
            platform: format!("{other:?}"),
        }),
    }
}

impl Service {
    /// Registers a device for the enrollment token's user. The key proof is
    /// verified before the token is touched, so a copied public key cannot
    /// use a token up; the rest is one store transaction (see
    /// [`devicetrust_store::Registry::register_device`]).
    pub fn register_device(
        &self,
        request: Registration,
        now: OffsetDateTime,
    ) -> Result<Registered, DeviceFlowError> {
        let mut profile = request.profile;
        // Registration is what makes a device registered, whatever it claims.
        profile.registered = true;
        profile
            .validate()
            .map_err(|e| invalid("profile", e.to_string()))?;
        let key = device_keys::parse_public_key(request.public_key.as_bytes())?;
        let ts = parse_unix_seconds(&request.proof_ts)
            .ok_or_else(|| invalid("keyProof", "ts must be Unix seconds"))?;
        if (now - ts).abs() > self.options.device_api.clock_skew {
            return Err(invalid(
                "keyProof",
                "ts is outside the accepted clock window",
            ));
        }
        let presented = device_keys::record(&key, now);
        let message = device_keys::registration_message(
            &request.proof_ts,
            &request.enrollment_token,
            &presented.key_id,
        );
        self.backend
            .verify(
                &key,
                key.algorithm().signature_algorithm(),
                message.as_bytes(),
                &request.proof_signature,
            )
            .map_err(|_| DeviceFlowError::KeyNotHeld)?;
        let token = &request.enrollment_token;
        let Some(token_id) = parse_token_id(token) else {
            tracing::warn!("enrollment token refused: malformed");
            return Err(EnrollmentTokenError::Refused.into());
        };
        let registration = DeviceRegistration {
            token_id: token_id.to_owned(),
            profile,
            screen_lock_type: request.screen_lock_type.unwrap_or(ScreenLockType::None),
            key: presented,
        };
        let actor = Actor::new(REGISTRATION_ACTOR).map_err(devicetrust_store::Error::from)?;
        let outcome = self.registry.register_device(
            &self.org,
            &actor,
            &registration,
            token_matches(token),
            now,
        )?;
        match outcome {
            Ok(done) => {
                tracing::info!(device = %done.device.id, user = %done.user,
                    key_id = %registration.key.key_id, key_replaced = done.key_replaced,
                    "device registered");
                Ok(Registered {
                    device: done.device,
                    key_id: registration.key.key_id,
                })
            }
            Err(RegistrationRefused::Token(why)) => {
                tracing::warn!(token_id = %registration.token_id, ?why, "enrollment token refused");
                Err(EnrollmentTokenError::Refused.into())
            }
            Err(RegistrationRefused::Enrollment(e)) => {
                Err(devicetrust_store::Error::Device(e).into())
            }
            Err(refused) => {
                tracing::warn!(reason = %refused, "registration refused");
                Err(DeviceFlowError::HardwareTaken(Box::new(refused)))
            }
        }
    }

    /// Authenticates a signed device request. Checks run cheapest first:
    /// the clock window, the signature with the device's registered key,
    /// and only then, in one write transaction, that the key is still the
    /// one registered, that the nonce is new (recorded in the store, so it
    /// stays used across restarts and replicas) and the device's state. A
    /// forged request cannot burn a device's nonce.
    pub fn authenticate_device(
        &self,
        call: &SignedCall<'_>,
        now: OffsetDateTime,
    ) -> Result<AuthenticatedDevice, DeviceFlowError> {
        let options = &self.options.device_api;
        let ts =
            parse_unix_seconds(call.ts).ok_or_else(|| bad_signature("ts must be Unix seconds"))?;
        if (now - ts).abs() > options.clock_skew {
            return Err(bad_signature("ts is outside the accepted clock window"));
        }
        let id = DeviceId::new(call.device).map_err(|_| bad_signature("id is not a device id"))?;
        let org = &self.org;
        let Some(stored) = self.store.read(|tx| tx.device_key(org, &id))? else {
            return Err(self.no_key(&id));
        };
        let key = device_keys::parse_stored(&stored)?;
        device_keys::verify(self.backend, &key, &id, call.message, call.signature)?;
        // Kept until it could no longer pass the clock window.
        let forget_at = ts
            .saturating_add(options.clock_skew)
            .saturating_add(Duration::SECOND);
        let per_device = options.replay_per_device;
        let device = self.store.write(|tx| {
            // A key retired or replaced since it was read signs for nothing.
            let current = tx.device_key(org, &id)?;
            if current.is_none_or(|k| k.spki_hex != stored.spki_hex) {
                return Ok(Err(bad_signature("the device key was retired")));
            }
            match tx.use_request_nonce(org, &id, call.nonce, forget_at, now, per_device)? {
                NonceUse::Fresh => {}
                NonceUse::Replayed => return Ok(Err(bad_signature("nonce was already used"))),
                _ => return Ok(Err(DeviceFlowError::TooManyRequests)),
            }
            Ok(Ok(tx.device(org, &id)?))
        })??;
        let Some(device) = device else {
            return Err(bad_signature("unknown device"));
        };
        if device.status == DeviceStatus::Deactivated {
            return Err(DeviceFlowError::Deactivated { device: id });
        }
        Ok(AuthenticatedDevice {
            device,
            key: stored,
        })
    }

    /// The refusal for a device with no key: a deactivated device says so
    /// (its key was retired with it), anything else is unknown.
    fn no_key(&self, id: &DeviceId) -> DeviceFlowError {
        match self.store.read(|tx| tx.device(&self.org, id)) {
            Ok(Some(device)) if device.status == DeviceStatus::Deactivated => {
                DeviceFlowError::Deactivated { device: id.clone() }
            }
            Ok(_) => bad_signature("unknown device"),
            Err(e) => e.into(),
        }
    }

    /// A nonce for a desktop management proof, bound to the device.
    pub fn issue_attestation_nonce(
        &self,
        caller: &AuthenticatedDevice,
        now: OffsetDateTime,
    ) -> Result<Nonce, DeviceFlowError> {
        caller.require_active()?;
        let attestor = self
            .attestor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(attestor.issue_nonce(self.org.as_str(), caller.device.id.as_str(), now)?)
    }

    /// Checks the device's management evidence and records the outcome in
    /// the store, where it survives a restart. A successful desktop proof
    /// binds its certificate to the device in the same transaction: a
    /// certificate that proved for one device never proves for another.
    pub fn prove_management(
        &self,
        caller: &AuthenticatedDevice,
        evidence: ManagementEvidence,
        now: OffsetDateTime,
    ) -> Result<ProofAnswer, DeviceFlowError> {
        caller.require_active()?;
        let device = &caller.device;
        let platform = attestation_platform(device)?;
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "could not catch up with the stored configuration");
        }
        let attestor = self
            .attestor
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (outcome, certificate) = if platform.is_desktop() {
            let bad = |why: String| DeviceFlowError::BadEvidence { why };
            let missing = |field: &str| bad(format!("{field} is required"));
            let nonce = evidence.nonce.ok_or_else(|| missing("nonce"))?;
            let signature = evidence.signature.ok_or_else(|| missing("signature"))?;
            if evidence.certificates.is_empty() || evidence.certificates.len() > MAX_CHAIN {
                return Err(bad(format!(
                    "certificates: 1 to {MAX_CHAIN} PEM certificates, leaf first"
                )));
            }
            let mut chain = Vec::with_capacity(evidence.certificates.len());
            for (i, pem) in evidence.certificates.iter().enumerate() {
                chain.push(
                    Certificate::parse(pem.as_bytes())
                        .map_err(|e| bad(format!("certificates[{i}]: {e}")))?,
                );
            }
            let (leaf, intermediates) =
                chain.split_first().ok_or_else(|| missing("certificates"))?;
            let proof = Proof {
                algorithm: leaf.public_key().algorithm().signature_algorithm(),
                signature,
            };
            let request = DesktopRequest {
                platform,
                org: self.org.as_str(),
                device_id: device.id.as_str(),
                // The MDM names the device by the identifier it knows (the
                // guide's {DeviceUid}), written before Okta Verify registered it.
                hardware_id: device
                    .profile
                    .udid
                    .as_deref()
                    .or(device.profile.sid.as_deref()),
                leaf,
                intermediates,
                nonce: &nonce,
                proof: &proof,
            };
            // Only our CA's certificates are in our ledger; another CA's
            // serial could collide with one of ours and bind the wrong one.
            let ours = leaf.issuer() == self.ca.intermediate().subject();
            let certificate = ProvingCertificate {
                sha256: hex::encode(HashAlgorithm::Sha256.digest(leaf.der())),
                our_serial: leaf.serial().ok().filter(|_| ours),
            };
            (attestor.attest_desktop(&request, now), Some(certificate))
        } else {
            let hint = evidence
                .management_hint
                .ok_or_else(|| DeviceFlowError::BadEvidence {
                    why: "managementHint is required".into(),
                })?;
            (attestor.attest_mobile(platform, &hint, now), None)
        };
        drop(attestor);
        // The used-nonce ledger (the store) failing says nothing about the
        // device: record nothing, so its last good proof stands, and let it retry.
        if let Some(failed) = outcome.reasons().iter().find_map(|r| match &r.error {
            devicetrust_attestation::CheckError::Nonce(e @ NonceError::Ledger { .. }) => Some(e),
            _ => None,
        }) {
            tracing::error!(device = %device.id, error = %failed, "management proof not recorded");
            return Err(DeviceFlowError::Unavailable);
        }
        let proof = ManagementProof {
            managed: outcome.is_managed(),
            configuration_id: match &outcome {
                Outcome::Managed {
                    configuration_id, ..
                } => Some(configuration_id.to_string()),
                Outcome::NotManaged { .. } => None,
            },
            at: now,
            reasons: outcome
                .reasons()
                .iter()
                .map(|r| ProofReason {
                    kind: r.error.kind().to_owned(),
                    message: r.error.to_string(),
                })
                .collect(),
        };
        let record = self
            .registry
            .record_management_proof(
                &self.org,
                &device.id,
                &caller.key.spki_hex,
                proof,
                certificate.as_ref(),
            )?
            .ok_or_else(|| bad_signature("the device key was retired"))?;
        tracing::info!(device = %device.id, managed = record.managed,
            reasons = ?record.reasons.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
            "management proof");
        let managed_until = record.managed_until(self.options.device_api.proof_max_age);
        Ok(ProofAnswer {
            proof: record,
            managed_until,
            enrollment: match outcome {
                Outcome::NotManaged { enrollment, .. } => enrollment,
                Outcome::Managed { .. } => Vec::new(),
            },
        })
    }

    /// The device's own view: managed or not (and until when), its last
    /// proof and how old its signals are. Allowed for a suspended device,
    /// so Okta Verify can tell its user why it stopped working.
    pub fn device_self(
        &self,
        caller: &AuthenticatedDevice,
        now: OffsetDateTime,
    ) -> Result<DeviceSelf, DeviceFlowError> {
        let device = &caller.device;
        let options = &self.options.device_api;
        // The proof and the signal reports from one snapshot.
        let (proof, reports) = self.store.read(|tx| {
            Ok((
                tx.management_proof(&self.org, &device.id)?,
                tx.signal_reports(&self.org, &device.id)?,
            ))
        })?;
        let active = device.status == DeviceStatus::Active;
        let managed = active
            && proof
                .as_ref()
                .is_some_and(|p| p.is_fresh(options.proof_max_age, now));
        let mut signals = Vec::new();
        {
            let mut cache = self.signal_cache();
            self.sync_signal_cache(&mut cache, &device.id, &reports);
            if let Some(record) = cache.record(device.id.as_str()) {
                for schema in devicetrust_edr::schemas() {
                    if let Some(set) = record.get(schema.id) {
                        signals.push(SignalAge {
                            schema: schema.id,
                            collected_at: set.collected_at(),
                            stale: options.freshness.stale(set, now).is_some(),
                        });
                    }
                }
            }
        }
        let managed_until = if managed {
            proof
                .as_ref()
                .and_then(|p| p.managed_until(options.proof_max_age))
        } else {
            None
        };
        Ok(DeviceSelf {
            managed,
            managed_until,
            last_proof: proof,
            signals,
        })
    }

    /// An Okta Verify sign-in of `user` from the calling device: refused
    /// unless the device is ACTIVE and the user has an active Okta Verify
    /// enrollment on it (the registry enforces both).
    pub fn sign_in(
        &self,
        caller: &AuthenticatedDevice,
        user: &UserId,
        now: OffsetDateTime,
    ) -> Result<Session, DeviceFlowError> {
        caller.require_active()?;
        Ok(self.registry.sign_in(
            &self.org,
            &caller.device.id,
            user,
            SessionMethod::OktaVerify,
            now,
        )?)
    }
}

/// Attestation nonces recorded as used in the store, by the same atomic
/// insert as request nonces: a desktop proof's nonce is accepted once
/// across restarts and across processes on the database.
#[derive(Debug)]
pub(crate) struct StoredAttestationNonces {
    pub(crate) store: std::sync::Arc<devicetrust_store::Database>,
    pub(crate) per_device: usize,
}

impl devicetrust_attestation::nonce::NonceLedger for StoredAttestationNonces {
    fn use_once(
        &self,
        org: &str,
        device: &str,
        random: &[u8; devicetrust_attestation::nonce::RANDOM_LEN],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), NonceError> {
        let unusable = |_| NonceError::Malformed {
            reason: "the nonce's bindings are not an org and a device",
        };
        let org = devicetrust_devices::OrgId::new(org).map_err(unusable)?;
        let device = DeviceId::new(device).map_err(unusable)?;
        // A prefix no request nonce has (theirs are base64url, at most 128).
        let key = format!("attestation.{}", hex::encode(random));
        let used = self
            .store
            .write(|tx| tx.use_request_nonce(&org, &device, &key, expires_at, now, self.per_device))
            .map_err(|e| NonceError::Ledger {
                reason: e.to_string(),
            })?;
        match used {
            NonceUse::Fresh => Ok(()),
            NonceUse::Replayed => Err(NonceError::Replayed),
            _ => Err(NonceError::ReplayCacheFull {
                capacity: self.per_device,
            }),
        }
    }
}
