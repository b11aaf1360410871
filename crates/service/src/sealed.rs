//! Secrets that replicas share through the database, sealed with the
//! deployment's data key.
//!
//! On a shared database the data folder is key material made once by
//! `devicetrust init`, mounted read-only or copied to every replica. What an
//! admin adds later (a SCEP configuration's RA key, an Intune client secret)
//! must reach every replica, so it goes to the database, sealed with
//! AES-256-GCM under `DIR/secrets.key` (32 random bytes, 0600, made by
//! `init`). The database alone then gives none of them away. Each sealed value
//! names what it is and whose it is as associated data, so one cannot be
//! swapped for another. The database records a digest of the key, so a
//! replica started with another folder's key refuses to start.
//!
//! ```
//! use devicetrust_service::sealed::DataKey;
//! let key = DataKey::generate().unwrap();
//! let sealed = key.seal("ra key scep01", b"-----BEGIN PRIVATE KEY-----").unwrap();
//! assert_eq!(&*key.open("ra key scep01", &sealed).unwrap(), b"-----BEGIN PRIVATE KEY-----");
//! assert!(key.open("ra key scep02", &sealed).is_err(), "bound to its owner");
//! ```

use std::io::Read;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The data key's file name in the data folder.
pub const FILE: &str = "secrets.key";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Sealed values carry their format version, so a later one can change it.
const PREFIX: &str = "v1.";
/// The largest sealed value opened (an RSA-4096 key in PEM is about 3.3 KB).
const MAX_SEALED: usize = 16 * 1024;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key file could not be read or written.
    #[error("data key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file is not 32 bytes.
    #[error("data key {path} holds {len} bytes, not {KEY_LEN}")]
    BadKey {
        /// The file.
        path: String,
        /// What it holds.
        len: usize,
    },
    /// No randomness for a key or a nonce.
    #[error("no randomness: {0}")]
    Random(String),
    /// The sealed value is not one of ours (format, length) or did not
    /// authenticate: another key, another owner, or altered.
    #[error("sealed {what} does not open: {reason}")]
    Open {
        /// What it was to hold.
        what: String,
        /// Why.
        reason: &'static str,
    },
}

/// The deployment's data key.
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DataKey").field(&self.check()).finish()
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(key.as_mut()).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(Self(key))
    }

    /// Writes the key to a new file at `path`, mode 0600 (never overwrites).
    pub fn create_file(&self, path: &Path) -> Result<(), SealError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io = |source| SealError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = options.open(path).map_err(io)?;
        std::io::Write::write_all(&mut file, self.0.as_ref()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads the key at `path`; `None` when there is no such file.
    pub fn read_file(path: &Path) -> Result<Option<Self>, SealError> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SealError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let mut raw = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        file.take(KEY_LEN as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(|source| SealError::Io {
                path: path.display().to_string(),
                source,
            })?;
        let key: [u8; KEY_LEN] = raw.as_slice().try_into().map_err(|_| SealError::BadKey {
            path: path.display().to_string(),
            len: raw.len(),
        })?;
        Ok(Some(Self(Zeroizing::new(key))))
    }

    /// A digest that names this key without revealing it (SHA-256 of a
    /// domain-separated input, hex), recorded in the database so a replica
    /// holding another key is refused at start.
    pub fn check(&self) -> String {
        let mut digest = Sha256::new();
        digest.update(b"devicetrust data key check\0");
        digest.update(self.0.as_ref());
        hex::encode(digest.finalize())
    }

    /// Seals `secret` as `what` (its kind and owner, say `ra key scep01`).
    pub fn seal(&self, what: &str, secret: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: what.as_bytes(),
                },
            )
            .map_err(|_| SealError::Random("AES-GCM refused to seal".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens what [`Self::seal`] sealed as `what`.
    pub fn open(&self, what: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let refuse = |reason| SealError::Open {
            what: what.to_owned(),
            reason,
        };
        if sealed.len() > MAX_SEALED {
            return Err(refuse("too long"));
        }
        let encoded = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| refuse("unknown format"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| refuse("not base64url"))?;
        let (nonce, body) = raw
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| refuse("too short"))?;
        self.cipher()
            .decrypt(
                &Nonce::from(*nonce),
                Payload {
                    msg: body,
                    aad: what.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| refuse("another key, another owner, or altered"))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.0).into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is a failed test")]

    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_name_and_unaltered() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal("intune secret scep1", b"hunter2").unwrap();
        assert_eq!(
            &*key.open("intune secret scep1", &sealed).unwrap(),
            b"hunter2"
        );
        assert_ne!(
            sealed,
            key.seal("intune secret scep1", b"hunter2").unwrap(),
            "a fresh nonce each time"
        );
        let other = DataKey::generate().unwrap();
        assert!(other.open("intune secret scep1", &sealed).is_err());
        assert!(key.open("intune secret scep2", &sealed).is_err());
        let raw = URL_SAFE_NO_PAD.decode(&sealed[PREFIX.len()..]).unwrap();
        for i in 0..raw.len() {
            let mut altered = raw.clone();
            altered[i] ^= 0x01;
            let altered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&altered));
            assert!(
                key.open("intune secret scep1", &altered).is_err(),
                "byte {i}"
            );
        }
        for garbage in [
            "",
            "v1.",
            "v1.AAAA",
            "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.!!",
        ] {
            assert!(key.open("x", garbage).is_err(), "{garbage:?}");
        }
        assert!(
            key.open("x", &format!("v1.{}", "A".repeat(MAX_SEALED)))
                .is_err()
        );
    }

    #[test]
    fn the_key_file_is_private_exact_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(DataKey::read_file(&path).unwrap().is_none());
        let key = DataKey::generate().unwrap();
        key.create_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let read = DataKey::read_file(&path).unwrap().unwrap();
        assert_eq!(read.check(), key.check());
        assert!(DataKey::generate().unwrap().create_file(&path).is_err());
        std::fs::write(&path, [0u8; 31]).unwrap();
        assert!(matches!(
            DataKey::read_file(&path),
            Err(SealError::BadKey { len: 31, .. })
        ));
        std::fs::write(&path, [0u8; 33]).unwrap();
        assert!(matches!(
            DataKey::read_file(&path),
            Err(SealError::BadKey { len: 33, .. })
        ));
    }
}
