//! Nonce proof of possession: the device signs a fresh server nonce with its
//! certificate's key.
//!
//! # Design
//!
//! Nonces are **stateless and MAC-authenticated**, with a **bounded replay
//! cache** for single use:
//!
//! - A nonce is `base64url(version ‖ 32 random bytes ‖ expiry ‖ org ‖ device ‖
//!   purpose ‖ HMAC-SHA-256 tag)`, the three bindings length-prefixed. The
//!   random part gives 256 bits of unpredictability; the tag, under a server
//!   key, means only this server could have issued it, so nothing is stored
//!   at issue time and any number of unanswered nonces costs nothing.
//! - The bindings travel in clear (they are identifiers, not secrets), so a
//!   refusal can say *which* device a nonce was issued for.
//! - Single use needs state: on success the nonce's random part goes into a
//!   replay cache until the nonce expires; a second use is refused as replayed.
//!   The cache is bounded: expired entries are pruned, and when it is full of
//!   unexpired ones we refuse new proofs ([`NonceError::ReplayCacheFull`])
//!   rather than evict an entry and allow a replay. With the default 5-minute
//!   validity and 100 000 entries that is over 300 proofs a second.
//! - The cache is per process. Servers sharing a nonce key behind a load
//!   balancer must share the cache too (or pin a device to one server).
//! - The device signs `"devicetrust-attestation-nonce-v1\n" ‖ nonce`, so the
//!   signature cannot be replayed as a signature over anything else.
//! - A proof is checked in this order: MAC, bindings, expiry, replay, then the
//!   signature; the nonce is consumed only after the signature verifies, so a
//!   forged proof cannot burn a legitimate device's nonce.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use devicetrust_pki::{Backend, KeyPolicy, PublicKey, SignatureAlgorithm, Signer};
use hmac::{KeyInit, Mac};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const VERSION: u8 = 1;
/// Bytes of the random part of a nonce: what single use is recorded by.
pub const RANDOM_LEN: usize = 32;
const TAG_LEN: usize = 32;
/// Longest org, device or purpose accepted in a nonce.
pub const MAX_BINDING_LEN: usize = 255;
/// Longest nonce text accepted (the largest bindings, base64url).
pub const MAX_NONCE_LEN: usize = 1 + RANDOM_LEN + 8 + 3 * (1 + MAX_BINDING_LEN) + TAG_LEN;
const MAX_NONCE_TEXT: usize = MAX_NONCE_LEN.div_ceil(3) * 4;
/// Default validity of a nonce.
pub const DEFAULT_VALIDITY: Duration = Duration::minutes(5);
/// Default replay cache capacity.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
/// What the device signs before the nonce text (domain separation).
pub const SIGNING_CONTEXT: &[u8] = b"devicetrust-attestation-nonce-v1\n";

/// Why a nonce or its proof was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// Not a nonce of ours (bad encoding, length or version).
    #[error("malformed nonce: {reason}")]
    Malformed {
        /// Why.
        reason: &'static str,
    },
    /// The MAC does not verify: not issued by this server (or altered).
    #[error("nonce was not issued by this server")]
    Forged,
    /// Issued for another organisation.
    #[error("nonce was issued for org {found:?}, not {expected:?}")]
    WrongOrg {
        /// The org being attested.
        expected: String,
        /// The org in the nonce.
        found: String,
    },
    /// Issued for another device.
    #[error("nonce was issued for device {found:?}, not {expected:?}")]
    WrongDevice {
        /// The device being attested.
        expected: String,
        /// The device in the nonce.
        found: String,
    },
    /// Issued for another purpose.
    #[error("nonce was issued for purpose {found:?}, not {expected:?}")]
    WrongPurpose {
        /// The purpose of this check.
        expected: String,
        /// The purpose in the nonce.
        found: String,
    },
    /// Past its expiry.
    #[error("nonce expired at {expires_at} (checked at {time})")]
    Expired {
        /// When it expired.
        expires_at: OffsetDateTime,
        /// The time of the check.
        time: OffsetDateTime,
    },
    /// Already used.
    #[error("nonce was already used")]
    Replayed,
    /// The replay cache is full of unexpired nonces; refusing is safer than forgetting one.
    #[error("replay cache is full ({capacity} unexpired nonces)")]
    ReplayCacheFull {
        /// Its capacity.
        capacity: usize,
    },
    /// The signature does not verify under the certificate's key (another key signed it).
    #[error("nonce signature ({algorithm}) does not verify under the certificate's {key} key")]
    BadSignature {
        /// The claimed algorithm.
        algorithm: SignatureAlgorithm,
        /// The certificate's key.
        key: devicetrust_pki::KeyAlgorithm,
    },
    /// The signature algorithm is refused by policy or does not fit the key.
    #[error("nonce signature refused: {0}")]
    Algorithm(#[source] devicetrust_pki::Error),
    /// A binding (org, device or purpose) is too long or empty.
    #[error("{what} must be 1 to {MAX_BINDING_LEN} bytes, got {len}")]
    BadBinding {
        /// Which binding.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The operating system's random source or the signer failed.
    #[error("{0}")]
    Crypto(#[source] devicetrust_pki::Error),
    /// The [`NonceLedger`] could not record the use: the proof is refused,
    /// since single use cannot be promised.
    #[error("the used-nonce ledger failed: {reason}")]
    Ledger {
        /// What failed.
        reason: String,
    },
}

impl NonceError {
    /// A stable short name (`nonce_replayed`, `nonce_expired`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "nonce_malformed",
            Self::Forged => "nonce_forged",
            Self::WrongOrg { .. } => "nonce_wrong_org",
            Self::WrongDevice { .. } => "nonce_wrong_device",
            Self::WrongPurpose { .. } => "nonce_wrong_purpose",
            Self::Expired { .. } => "nonce_expired",
            Self::Replayed => "nonce_replayed",
            Self::ReplayCacheFull { .. } => "nonce_replay_cache_full",
            Self::BadSignature { .. } => "nonce_bad_signature",
            Self::Algorithm(_) => "nonce_algorithm",
            Self::BadBinding { .. } => "nonce_bad_binding",
            Self::Crypto(_) => "nonce_crypto",
            Self::Ledger { .. } => "nonce_ledger",
        }
    }
}

/// What a nonce is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The organisation (tenant).
    pub org: &'a str,
    /// The device being attested.
    pub device: &'a str,
    /// What the proof is for (`managementAttestation`, ...).
    pub purpose: &'a str,
}

/// A nonce as issued: the text to send to the device, and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nonce {
    /// The nonce, base64url without padding.
    pub nonce: String,
    /// When it stops being accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The device's answer: a signature over the nonce.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    /// The algorithm the device used.
    pub algorithm: SignatureAlgorithm,
    /// The signature, base64url without padding.
    pub signature: String,
}

/// A proof as presented for checking.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The nonce text.
    pub nonce: &'a str,
    /// What the nonce must be bound to.
    pub binding: Binding<'a>,
    /// The device's signature.
    pub proof: &'a Proof,
    /// The certificate's key, which must have made the signature.
    pub key: &'a PublicKey,
}

/// The bytes the device signs for `nonce`.
pub fn signed_message(nonce: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + nonce.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(nonce.as_bytes());
    message
}

/// The device side: signs `nonce` with the certificate's key.
pub fn prove(signer: &dyn Signer, nonce: &str) -> Result<Proof, NonceError> {
    let signature = signer
        .sign(&signed_message(nonce))
        .map_err(NonceError::Crypto)?;
    Ok(Proof {
        algorithm: signer.algorithm(),
        signature: URL_SAFE_NO_PAD.encode(signature),
    })
}

/// Where a nonce is recorded as used, so it is accepted once. The default
/// is this process's bounded replay cache; a service with a database
/// records it there, so the nonce stays used across restarts and replicas.
pub trait NonceLedger: Send + Sync + std::fmt::Debug {
    /// Records the nonce with random part `random`, bound to `org` and
    /// `device`, as used until `expires_at`, in one atomic operation:
    /// [`NonceError::Replayed`] if it was used already.
    fn use_once(
        &self,
        org: &str,
        device: &str,
        random: &[u8; RANDOM_LEN],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), NonceError>;
}

/// Issues nonces and verifies proofs. See the [module documentation](self).
pub struct NonceService {
    key: Zeroizing<[u8; 32]>,
    validity: Duration,
    replay: Mutex<ReplayCache>,
    ledger: Option<std::sync::Arc<dyn NonceLedger>>,
}

impl std::fmt::Debug for NonceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("NonceService")
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct ReplayCache {
    capacity: usize,
    used: HashMap<[u8; RANDOM_LEN], OffsetDateTime>,
}

/// A decoded, MAC-checked nonce.
struct Decoded<'n> {
    random: [u8; RANDOM_LEN],
    expires_at: OffsetDateTime,
    org: &'n str,
    device: &'n str,
    purpose: &'n str,
}

impl NonceService {
    /// A service with a fresh random key (nonces die with the process).
    pub fn new() -> Result<Self, NonceError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice())
            .map_err(|e| NonceError::Crypto(devicetrust_pki::Error::Random(e.to_string())))?;
        Ok(Self::with_key(key))
    }

    /// A service with a given 256-bit key (shared by the servers of a cluster).
    pub fn with_key(key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            key,
            validity: DEFAULT_VALIDITY,
            replay: Mutex::new(ReplayCache {
                capacity: DEFAULT_REPLAY_CAPACITY,
                used: HashMap::new(),
            }),
            ledger: None,
        }
    }

    /// Records used nonces in `ledger` (a database shared by every process)
    /// instead of this process's replay cache.
    pub fn with_ledger(mut self, ledger: std::sync::Arc<dyn NonceLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Sets how long new nonces are valid.
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// Sets the replay cache's capacity.
    pub fn with_replay_capacity(self, capacity: usize) -> Self {
        if let Ok(mut replay) = self.replay.lock() {
            replay.capacity = capacity;
        }
        self
    }

    /// Issues a nonce bound to `binding`, valid from `now`.
    pub fn issue(&self, binding: &Binding<'_>, now: OffsetDateTime) -> Result<Nonce, NonceError> {
        let mut random = [0u8; RANDOM_LEN];
        getrandom::fill(&mut random)
            .map_err(|e| NonceError::Crypto(devicetrust_pki::Error::Random(e.to_string())))?;
        let expires_at = now
            .checked_add(self.validity)
            .ok_or(NonceError::Malformed {
                reason: "validity overflows the time range",
            })?;
        let mut body = Vec::with_capacity(MAX_NONCE_LEN);
        body.push(VERSION);
        body.extend_from_slice(&random);
        body.extend_from_slice(&expires_at.unix_timestamp().to_be_bytes());
        for (what, value) in [
            ("org", binding.org),
            ("device", binding.device),
            ("purpose", binding.purpose),
        ] {
            let len = u8::try_from(value.len()).ok().filter(|l| *l > 0).ok_or(
                NonceError::BadBinding {
                    what,
                    len: value.len(),
                },
            )?;
            body.push(len);
            body.extend_from_slice(value.as_bytes());
        }
        let tag = self.mac(&body)?.finalize().into_bytes();
        body.extend_from_slice(&tag);
        Ok(Nonce {
            nonce: URL_SAFE_NO_PAD.encode(&body),
            expires_at: time::OffsetDateTime::from_unix_timestamp(expires_at.unix_timestamp())
                .unwrap_or(expires_at),
        })
    }

    /// Verifies a device's proof for `nonce` against the certificate key
    /// `key`, and consumes the nonce. See the [module documentation](self)
    /// for the order of the checks.
    pub fn verify(
        &self,
        presented: &Presented<'_>,
        policy: &KeyPolicy,
        backend: &dyn Backend,
        now: OffsetDateTime,
    ) -> Result<(), NonceError> {
        let Presented {
            nonce,
            binding,
            proof,
            key,
        } = *presented;
        let raw = self.decode_raw(nonce)?;
        let decoded = self.authenticate(&raw)?;
        if binding.org != decoded.org {
            return Err(NonceError::WrongOrg {
                expected: binding.org.to_owned(),
                found: decoded.org.to_owned(),
            });
        }
        if binding.device != decoded.device {
            return Err(NonceError::WrongDevice {
                expected: binding.device.to_owned(),
                found: decoded.device.to_owned(),
            });
        }
        if binding.purpose != decoded.purpose {
            return Err(NonceError::WrongPurpose {
                expected: binding.purpose.to_owned(),
                found: decoded.purpose.to_owned(),
            });
        }
        if now > decoded.expires_at {
            return Err(NonceError::Expired {
                expires_at: decoded.expires_at,
                time: now,
            });
        }
        // Cheap refusal of an in-process replay before the signature; with
        // a ledger the replay cache is never filled, and the ledger decides.
        if self.ledger.is_none()
            && self
                .replay
                .lock()
                .is_ok_and(|r| r.used.contains_key(&decoded.random))
        {
            return Err(NonceError::Replayed);
        }
        self.verify_signature(nonce, proof, key, policy, backend)?;
        match &self.ledger {
            Some(ledger) => ledger.use_once(
                decoded.org,
                decoded.device,
                &decoded.random,
                decoded.expires_at,
                now,
            ),
            None => self.consume(decoded.random, decoded.expires_at, now),
        }
    }

    fn verify_signature(
        &self,
        nonce: &str,
        proof: &Proof,
        key: &PublicKey,
        policy: &KeyPolicy,
        backend: &dyn Backend,
    ) -> Result<(), NonceError> {
        policy
            .check_signature_algorithm(proof.algorithm)
            .map_err(NonceError::Algorithm)?;
        if !key.algorithm().fits(proof.algorithm) {
            return Err(NonceError::Algorithm(
                devicetrust_pki::Error::AlgorithmKeyMismatch {
                    algorithm: proof.algorithm,
                    key: key.algorithm(),
                },
            ));
        }
        // A signature is at most 1 KiB (8192-bit RSA); refuse more before decoding.
        if proof.signature.len() > 1400 {
            return Err(NonceError::Malformed {
                reason: "signature too long",
            });
        }
        let signature =
            URL_SAFE_NO_PAD
                .decode(&proof.signature)
                .map_err(|_| NonceError::Malformed {
                    reason: "signature is not base64url",
                })?;
        backend
            .verify(key, proof.algorithm, &signed_message(nonce), &signature)
            .map_err(|e| match e {
                devicetrust_pki::Error::BadSignature { .. }
                | devicetrust_pki::Error::Backend { .. } => NonceError::BadSignature {
                    algorithm: proof.algorithm,
                    key: key.algorithm(),
                },
                other => NonceError::Algorithm(other),
            })
    }

    fn consume(
        &self,
        random: [u8; RANDOM_LEN],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), NonceError> {
        let Ok(mut replay) = self.replay.lock() else {
            // Without the cache we cannot promise single use.
            return Err(NonceError::ReplayCacheFull { capacity: 0 });
        };
        if replay.used.len() >= replay.capacity {
            replay.used.retain(|_, expiry| *expiry >= now);
        }
        if replay.used.len() >= replay.capacity {
            return Err(NonceError::ReplayCacheFull {
                capacity: replay.capacity,
            });
        }
        match replay.used.insert(random, expires_at) {
            // Another request consumed it between our check and now.
            Some(_) => Err(NonceError::Replayed),
            None => Ok(()),
        }
    }

    fn mac(&self, body: &[u8]) -> Result<HmacSha256, NonceError> {
        let mut mac =
            <HmacSha256 as KeyInit>::new_from_slice(self.key.as_slice()).map_err(|e| {
                NonceError::Crypto(devicetrust_pki::Error::Backend {
                    backend: "hmac",
                    reason: e.to_string(),
                })
            })?;
        mac.update(body);
        Ok(mac)
    }

    fn decode_raw(&self, nonce: &str) -> Result<Vec<u8>, NonceError> {
        if nonce.len() > MAX_NONCE_TEXT {
            return Err(NonceError::Malformed { reason: "too long" });
        }
        URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceError::Malformed {
                reason: "not base64url",
            })
    }

    /// Checks the MAC (in constant time) before reading anything else.
    fn authenticate<'n>(&self, raw: &'n [u8]) -> Result<Decoded<'n>, NonceError> {
        let body_len = raw
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(NonceError::Malformed {
                reason: "too short",
            })?;
        let (body, tag) = raw
            .split_at_checked(body_len)
            .ok_or(NonceError::Malformed {
                reason: "too short",
            })?;
        self.mac(body)?
            .verify_slice(tag)
            .map_err(|_| NonceError::Forged)?;
        let mut reader = Reader(body);
        if reader.take(1)? != [VERSION] {
            return Err(NonceError::Malformed {
                reason: "unknown version",
            });
        }
        let random: [u8; RANDOM_LEN] =
            reader
                .take(RANDOM_LEN)?
                .try_into()
                .map_err(|_| NonceError::Malformed {
                    reason: "too short",
                })?;
        let expiry: [u8; 8] = reader
            .take(8)?
            .try_into()
            .map_err(|_| NonceError::Malformed {
                reason: "too short",
            })?;
        let expires_at =
            OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(expiry)).map_err(|_| {
                NonceError::Malformed {
                    reason: "bad expiry",
                }
            })?;
        let org = reader.string()?;
        let device = reader.string()?;
        let purpose = reader.string()?;
        if !reader.0.is_empty() {
            return Err(NonceError::Malformed {
                reason: "trailing bytes",
            });
        }
        Ok(Decoded {
            random,
            expires_at,
            org,
            device,
            purpose,
        })
    }
}

struct Reader<'n>(&'n [u8]);

impl<'n> Reader<'n> {
    fn take(&mut self, n: usize) -> Result<&'n [u8], NonceError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(NonceError::Malformed {
            reason: "too short",
        })?;
        self.0 = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<&'n str, NonceError> {
        let len = self.take(1)?.first().copied().unwrap_or(0);
        std::str::from_utf8(self.take(usize::from(len))?).map_err(|_| NonceError::Malformed {
            reason: "binding is not utf-8",
        })
    }
}
