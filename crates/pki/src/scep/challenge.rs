//! SCEP challenge passwords: the three kinds of the guide.
//!
//! - **static**: one secret per configuration, shown once, stored as its SHA-256.
//! - **dynamic**: NDES-style one-time challenges, fetched by the MDM from a
//!   challenge URL behind HTTP Basic auth, valid 60 minutes and usable once.
//! - **delegated**: the MDM (Microsoft Intune) validates the request; see the
//!   server crate, which implements [`Challenge`] over Intune's API.
//!
//! Secrets are random with at least 128 bits of entropy, so a plain SHA-256 is
//! enough to store them (a slow password hash protects guessable secrets;
//! these are not guessable). Every comparison is constant-time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::{Certificate, CertificateRequest, Error, HashAlgorithm};

/// Which kind of challenge admitted (or refused) a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChallengeKind {
    /// One static secret.
    Static,
    /// One-time challenges from the challenge URL.
    Dynamic,
    /// Delegated to Microsoft Intune.
    Intune,
    /// No challenge: a renewal signed by a certificate we issued.
    Renewal,
}

impl fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::Intune => "intune",
            Self::Renewal => "renewal",
        })
    }
}

/// Why a challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The request carries no challengePassword.
    #[error("the request has no challenge password")]
    Missing,
    /// The challenge is not one we issued.
    #[error("wrong challenge password")]
    Wrong,
    /// A one-time challenge was used before.
    #[error("the challenge password was already used")]
    AlreadyUsed,
    /// A one-time challenge expired.
    #[error("the challenge password expired at {expired_at}")]
    Expired {
        /// When.
        expired_at: OffsetDateTime,
    },
    /// The dynamic challenge store is full of live challenges.
    #[error("too many outstanding challenges ({capacity}); try again later")]
    Full {
        /// The bound.
        capacity: usize,
    },
    /// The validator (e.g. Intune) refused the request.
    #[error("refused by the validator: {0}")]
    Refused(String),
    /// The validator could not be reached or failed.
    #[error("the validator is unavailable: {0}")]
    Unavailable(String),
}

/// What a challenge sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeContext<'a> {
    /// The decrypted, verified PKCS#10 request.
    pub request: &'a CertificateRequest,
    /// The SCEP transaction ID.
    pub transaction_id: &'a str,
    /// Now.
    pub now: OffsetDateTime,
}

/// A way of admitting SCEP requests.
pub trait Challenge: Send + Sync + fmt::Debug {
    /// Which kind this is.
    fn kind(&self) -> ChallengeKind;

    /// Admits or refuses a request. One-time challenges are consumed here.
    fn verify(&self, ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError>;

    /// Called after a certificate was issued for an admitted request.
    fn issued(&self, _ctx: &ChallengeContext<'_>, _cert: &Certificate) {}

    /// Called when an admitted request then failed.
    fn failed(&self, _ctx: &ChallengeContext<'_>, _reason: &str) {}
}

fn digest(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&HashAlgorithm::Sha256.digest(secret.as_bytes()));
    out
}

/// `bytes` random bytes as upper-case hex (what MDM consoles accept everywhere).
fn random_hex(bytes: usize) -> Result<Zeroizing<String>, Error> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut raw).map_err(|e| Error::Random(e.to_string()))?;
    Ok(Zeroizing::new(hex::encode_upper(&*raw)))
}

/// A static challenge: one secret per SCEP configuration.
#[derive(Clone)]
pub struct StaticChallenge {
    digest: [u8; 32],
}

impl fmt::Debug for StaticChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticChallenge").finish_non_exhaustive()
    }
}

impl StaticChallenge {
    /// A new secret (160 bits, 40 hex digits), returned once, and the challenge that checks it.
    pub fn generate() -> Result<(Self, Zeroizing<String>), Error> {
        let secret = random_hex(20)?;
        Ok((
            Self {
                digest: digest(&secret),
            },
            secret,
        ))
    }

    /// From a stored digest (hex of SHA-256 of the secret).
    pub fn from_digest_hex(hex_digest: &str) -> Result<Self, Error> {
        let bytes = hex::decode(hex_digest).map_err(|_| Error::CaDir {
            path: "static challenge".into(),
            reason: "digest is not hex".into(),
        })?;
        let digest: [u8; 32] = bytes.try_into().map_err(|_| Error::CaDir {
            path: "static challenge".into(),
            reason: "digest is not 32 bytes".into(),
        })?;
        Ok(Self { digest })
    }

    /// The digest to store.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

impl Challenge for StaticChallenge {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Static
    }

    fn verify(&self, ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError> {
        let password = ctx
            .request
            .challenge_password()
            .ok_or(ChallengeError::Missing)?;
        if bool::from(digest(password).ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(ChallengeError::Wrong)
        }
    }
}

/// The Basic-auth credentials of a dynamic challenge URL, shown once.
#[derive(Clone)]
pub struct ChallengeCredentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: Zeroizing<String>,
}

impl fmt::Debug for ChallengeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChallengeCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What [`OneTimeChallenges::consume`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeUse {
    /// The challenge was live and is now used up.
    Consumed,
    /// No challenge has that digest (never issued, or swept after expiry).
    Unknown,
    /// It was used before.
    AlreadyUsed,
    /// It expired (and stays unused).
    Expired {
        /// When.
        expired_at: OffsetDateTime,
    },
}

/// Where one-time challenges are kept: only their SHA-256 digests, never
/// the challenges. Each call must be atomic (and durable before it returns,
/// for a persistent store), so a challenge is consumed at most once.
///
/// Challenges are looked up by digest: the lookup compares digests, never
/// the secret, and a near miss on a digest says nothing about the secret.
pub trait OneTimeChallenges: Send + Sync + fmt::Debug {
    /// Stores a new challenge's digest, valid until `expires_at`. When
    /// `capacity` are held, expired ones are dropped first; if still full,
    /// [`ChallengeError::Full`].
    fn insert(
        &self,
        digest: &[u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        capacity: usize,
    ) -> Result<(), ChallengeError>;

    /// Marks the challenge with `digest` used if it is live, atomically,
    /// and says what it found.
    fn consume(
        &self,
        digest: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<ChallengeUse, ChallengeError>;

    /// How many are held (live, used or expired but not yet swept).
    fn held(&self) -> Result<usize, ChallengeError>;
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    expires_at: OffsetDateTime,
    used: bool,
}

/// One-time challenges in process memory: the default. They do not survive
/// a restart (a challenge handed out before one is then unknown).
#[derive(Debug, Default)]
pub struct MemoryChallenges {
    outstanding: Mutex<HashMap<[u8; 32], Outstanding>>,
}

impl MemoryChallenges {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<[u8; 32], Outstanding>>, ChallengeError> {
        self.outstanding
            .lock()
            .map_err(|_| ChallengeError::Unavailable("lock poisoned".into()))
    }
}

impl OneTimeChallenges for MemoryChallenges {
    fn insert(
        &self,
        digest: &[u8; 32],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        capacity: usize,
    ) -> Result<(), ChallengeError> {
        let mut map = self.lock()?;
        if map.len() >= capacity {
            map.retain(|_, o| o.expires_at > now);
        }
        if map.len() >= capacity {
            return Err(ChallengeError::Full { capacity });
        }
        map.insert(
            *digest,
            Outstanding {
                expires_at,
                used: false,
            },
        );
        Ok(())
    }

    fn consume(
        &self,
        digest: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<ChallengeUse, ChallengeError> {
        let mut map = self.lock()?;
        let Some(entry) = map.get_mut(digest) else {
            return Ok(ChallengeUse::Unknown);
        };
        if entry.used {
            return Ok(ChallengeUse::AlreadyUsed);
        }
        if entry.expires_at <= now {
            return Ok(ChallengeUse::Expired {
                expired_at: entry.expires_at,
            });
        }
        entry.used = true;
        Ok(ChallengeUse::Consumed)
    }

    fn held(&self) -> Result<usize, ChallengeError> {
        Ok(self.lock()?.len())
    }
}

/// NDES-style one-time challenges.
pub struct DynamicChallenges {
    username: String,
    password_digest: [u8; 32],
    validity: Duration,
    capacity: usize,
    outstanding: Arc<dyn OneTimeChallenges>,
}

impl fmt::Debug for DynamicChallenges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicChallenges")
            .field("username", &self.username)
            .field("validity", &self.validity)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl DynamicChallenges {
    /// Default validity of a challenge: 60 minutes, as NDES.
    pub const DEFAULT_VALIDITY: Duration = Duration::minutes(60);
    /// Default bound on outstanding challenges.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// New credentials for the challenge URL (returned once) and the store.
    pub fn generate(
        validity: Duration,
        capacity: usize,
    ) -> Result<(Self, ChallengeCredentials), Error> {
        let username = format!("scep-{}", random_hex(6)?.to_lowercase());
        let password = random_hex(20)?;
        let store = Self::from_parts(username.clone(), digest(&password), validity, capacity);
        Ok((store, ChallengeCredentials { username, password }))
    }

    /// From stored parts (the password's SHA-256).
    pub fn from_parts(
        username: String,
        password_digest: [u8; 32],
        validity: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            username,
            password_digest,
            validity,
            capacity: capacity.max(1),
            outstanding: Arc::new(MemoryChallenges::new()),
        }
    }

    /// The same, keeping its challenges in `store` (e.g. a database, so
    /// that a challenge stays single-use across restarts and replicas).
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn OneTimeChallenges>) -> Self {
        self.outstanding = store;
        self
    }

    /// The username of the challenge URL.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The stored digest of the password, hex.
    pub fn password_digest_hex(&self) -> String {
        hex::encode(self.password_digest)
    }

    /// Checks the challenge URL's Basic-auth credentials, in constant time.
    pub fn check_credentials(&self, username: &str, password: &str) -> bool {
        let user_ok = username.as_bytes().ct_eq(self.username.as_bytes());
        let password_ok = digest(password).ct_eq(&self.password_digest);
        bool::from(user_ok & password_ok)
    }

    /// Issues a fresh one-time challenge (128 bits, 32 hex digits).
    pub fn issue(&self, now: OffsetDateTime) -> Result<Zeroizing<String>, ChallengeError> {
        let challenge = random_hex(16).map_err(|e| ChallengeError::Unavailable(e.to_string()))?;
        self.outstanding
            .insert(&digest(&challenge), now + self.validity, now, self.capacity)?;
        Ok(challenge)
    }

    /// How many challenges are held (live, used or expired but not yet
    /// swept); 0 when the store cannot be read.
    pub fn len(&self) -> usize {
        self.outstanding.held().unwrap_or(0)
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Challenge for DynamicChallenges {
    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Dynamic
    }

    fn verify(&self, ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError> {
        let password = ctx
            .request
            .challenge_password()
            .ok_or(ChallengeError::Missing)?;
        match self.outstanding.consume(&digest(password), ctx.now)? {
            ChallengeUse::Consumed => Ok(()),
            ChallengeUse::Unknown => Err(ChallengeError::Wrong),
            ChallengeUse::AlreadyUsed => Err(ChallengeError::AlreadyUsed),
            ChallengeUse::Expired { expired_at } => Err(ChallengeError::Expired { expired_at }),
        }
    }
}

/// The page Microsoft NDES's `mscep_admin` returns, which MDMs such as Jamf
/// Pro ("Dynamic-Microsoft CA") scrape for the challenge.
pub fn ndes_admin_page(challenge: &str, ca_thumbprint: &str, validity: Duration) -> String {
    let minutes = validity.whole_minutes();
    format!(
        "<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-8\">\r\n\
<Title>Network Device Enrollment Service</Title>\r\n</Head>\r\n\
<Body BgColor=#FFFFFF>\r\n<Font ID=locPageFont Face=\"Arial\">\r\n\
<P ID=locPageTitle> Network Device Enrollment Service allows you to obtain certificates for routers or other network devices using the Simple Certificate Enrollment Protocol (SCEP). </P>\r\n\
<P> To complete certificate enrollment for your network device you will need the following information:\r\n\
<P> The thumbprint (hash value) for the CA certificate is: <B> {ca_thumbprint} </B>\r\n\
<P> The enrollment challenge password is: <B> {challenge} </B>\r\n\
<P> This password can be used only once and will expire within {minutes} minutes.\r\n\
<P> Each enrollment requires a new challenge password. You can refresh this web page to obtain a new challenge password.\r\n\
</P></Font>\r\n</Body>\r\n</HTML>\r\n"
    )
}
