//! The service's data folder: key material only. The desktop SCEP
//! configurations ("Security > Device Integrations > Endpoint Management >
//! Add Platform") live in the store, with secrets only as SHA-256; their
//! keys live here.
//!
//! ```text
//! DIR/ca/                      the CA (devicetrust_pki::CaDir)
//! DIR/ra-<id>.pem, .key        each configuration's SCEP RA certificate and key (0600)
//! DIR/intune-<id>.secret       an Intune configuration's client secret (0600; see below)
//! DIR/attestation-nonce.key    the key attestation nonces are MACed with (0600)
//! DIR/secrets.key              on a shared database: the data key (crate::sealed)
//! ```
//!
//! On a shared (PostgreSQL) database the folder is made once by `init` and
//! may be mounted read-only: a configuration added later keeps its RA key
//! and Intune client secret in the store, sealed with `secrets.key`, so that
//! every replica serves it.
//!
//! The Intune client secret is the one secret stored as itself: we present
//! it to Entra ID, so it must be readable later, and a hash would be useless.
//! It is kept out of the store (which `integrations list` prints from) in
//! its own 0600 file, like the RA keys.
//!
//! Releases before the store held them kept the configurations in
//! `DIR/integrations.json`; the first start imports that file once and
//! renames it `integrations.json.imported`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devicetrust_pki::scep::{
    Challenge, ChallengeKind, DynamicChallenges, ScepConfig, ScepService, StaticChallenge,
};
use devicetrust_pki::{Backend, Ca, CaConfig, CaDir, Certificate, KeyAlgorithm, PrivateKey};
use devicetrust_store::{Database, SqliteStore};
use zeroize::Zeroizing;

use crate::endpoints::{ScepEndpoint, ScepEndpoints};
use crate::intune::{IntuneChallenge, IntuneError, IntuneSettings};
use crate::sealed::{self, DataKey};
use crate::secret_file;

/// Data-folder failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// From the CA.
    #[error(transparent)]
    Pki(#[from] devicetrust_pki::Error),
    /// From SCEP setup.
    #[error(transparent)]
    Scep(#[from] devicetrust_pki::scep::ScepError),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Something asked for is not there.
    #[error("{0}")]
    NotFound(String),
    /// A change was refused as invalid.
    #[error("{0}")]
    Invalid(String),
    /// Intune settings that cannot work.
    #[error(transparent)]
    Intune(#[from] IntuneError),
    /// The store failed, or the database cannot be reached.
    #[error("{what}: {source}")]
    Store {
        /// What was being read or written.
        what: &'static str,
        /// The store's error.
        #[source]
        source: devicetrust_store::Error,
    },
    /// The data folder and the database do not make one deployment: the
    /// database belongs to another CA, or one of them is not initialised.
    #[error("{0}")]
    Deployment(String),
    /// A secret shared through the database could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] crate::sealed::SealError),
    /// The stored configuration kept changing while this process caught
    /// up with it; a retry will.
    #[error("the stored configuration kept changing while this process caught up; retry")]
    Busy,
}

impl devicetrust_errors::HasKind for DataError {
    fn kind(&self) -> devicetrust_errors::ErrorKind {
        use devicetrust_errors::ErrorKind as K;
        match self {
            Self::NotFound(_) => K::NotFound,
            // Intune settings that cannot work were given by the caller.
            Self::Invalid(_) | Self::Intune(_) => K::Invalid,
            Self::Pki(_) | Self::Scep(_) | Self::File { .. } | Self::Seal(_) => K::Internal,
            Self::Busy => K::Unavailable,
            Self::Store { source, .. } => source.kind(),
            Self::Deployment(_) => K::Conflict,
        }
    }
}

/// How a desktop configuration admits SCEP requests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum StoredChallenge {
    /// One secret, stored as its SHA-256.
    #[serde(rename_all = "camelCase")]
    Static {
        /// Hex SHA-256 of the secret.
        secret_sha256: String,
    },
    /// One-time challenges behind a Basic-auth URL.
    #[serde(rename_all = "camelCase")]
    Dynamic {
        /// The challenge URL's username.
        username: String,
        /// Hex SHA-256 of its password.
        password_sha256: String,
        /// Challenge validity in minutes.
        validity_minutes: u32,
    },
    /// Delegated to Microsoft Intune; the client secret is in `intune-<id>.secret`.
    Intune(IntuneSettings),
}

/// The challenge of a configuration being added.
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "made once per admin action and moved, never stored in bulk"
)]
pub enum NewChallenge {
    /// A static secret, generated.
    Static,
    /// One-time challenges; the challenge URL's credentials are generated.
    Dynamic,
    /// Delegated to Intune.
    Intune {
        /// Tenant, application and endpoints.
        settings: IntuneSettings,
        /// The application's client secret.
        client_secret: Zeroizing<String>,
    },
}

impl std::fmt::Debug for NewChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Static => f.write_str("Static"),
            Self::Dynamic => f.write_str("Dynamic"),
            Self::Intune { settings, .. } => f
                .debug_struct("Intune")
                .field("settings", settings)
                .finish_non_exhaustive(),
        }
    }
}

/// One desktop SCEP configuration as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesktopIntegration {
    /// Its ID.
    pub id: String,
    /// The challenge.
    pub challenge: StoredChallenge,
    /// SCEP settings.
    #[serde(default)]
    pub scep: ScepConfig,
    /// Its keys in the store, on a shared database; absent, they are the
    /// `ra-<id>.*` and `intune-<id>.secret` files in the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedKeys>,
}

/// A configuration's keys kept in the store, sealed with the data key
/// (crate::sealed), so that every replica serves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SealedKeys {
    /// The RA certificate, PEM (public).
    pub ra_certificate_pem: String,
    /// The RA private key, PEM, sealed as `ra key <id>`.
    pub ra_key: String,
    /// The Intune client secret, sealed as `intune client secret <id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intune_client_secret: Option<String>,
}

/// What adding a configuration returns: the secrets, shown this once.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewIntegration {
    /// Its ID.
    pub id: String,
    /// The challenge type.
    pub challenge: ChallengeKind,
    /// The SCEP URL to give the MDM.
    pub scep_url: String,
    /// Static: the secret key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Dynamic: the challenge URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_url: Option<String>,
    /// Dynamic: its username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Dynamic: its password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The data folder, and the database beside it.
///
/// Alone, the folder holds everything: the CA's keys and the SQLite
/// database, created on first use. With a PostgreSQL database
/// ([`DataDir::with_database`]) the folder holds only key material, which
/// every replica reads, and the database everything else; both are created
/// once, by `devicetrust init` ([`DataDir::initializing`]), and a replica
/// refuses to start on a folder and a database that do not belong together.
#[derive(Clone)]
pub struct DataDir {
    dir: PathBuf,
    /// The PostgreSQL URL (it may carry a password: never shown).
    database: Option<Zeroizing<String>>,
    initializing: bool,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir")
            .field("dir", &self.dir)
            .field("postgres", &self.database.is_some())
            .field("initializing", &self.initializing)
            .finish()
    }
}

/// The settings document that ties a database to one CA.
const DEPLOYMENT: &str = "deployment";

/// What [`DEPLOYMENT`] records.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployment {
    /// Hex SHA-256 of the root CA certificate (DER).
    ca_root_sha256: String,
    /// On a shared database: the data key's check ([`DataKey::check`]);
    /// absent for deployments made before the store held sealed keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_key_sha256: Option<String>,
}

const MAX_FILE: u64 = 4 * 1024 * 1024;
/// What older releases named the desktop configurations file.
const LEGACY_INTEGRATIONS: &str = "integrations.json";

impl DataDir {
    /// The data folder at `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            database: None,
            initializing: false,
        }
    }

    /// Keeps everything but the keys in the PostgreSQL database at `url`,
    /// shared with every other replica. The folder and the database must
    /// have been initialised together ([`DataDir::initializing`]).
    pub fn with_database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(Zeroizing::new(url.into()));
        self
    }

    /// Creates the CA in the folder and ties the database to it, once
    /// (`devicetrust init`): refused when the database is already tied to a CA.
    pub fn initializing(mut self) -> Self {
        self.initializing = true;
        self
    }

    /// Whether the database is PostgreSQL (shared by replicas).
    pub fn is_shared(&self) -> bool {
        self.database.is_some()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Opens the CA, creating it (P-256) on first start, and the store
    /// beside it that is both its issuance ledger and the device registry,
    /// so a deactivation and its revocations commit together: the SQLite
    /// database in the folder, or the PostgreSQL database it was
    /// initialised with.
    pub fn open_ca_and_store(
        &self,
        backend: &'static dyn Backend,
    ) -> Result<(Ca, Arc<Database>), DataError> {
        let shared = self.database.is_some();
        // `init` on a database that already belongs to a deployment refuses
        // before it creates anything in the folder.
        let opened_first = match shared {
            true => {
                let store = Arc::new(self.open_store()?);
                if self.initializing {
                    refuse_initialised(&store)?;
                }
                Some(store)
            }
            false => None,
        };
        let ca_dir = CaDir::new(self.file("ca"));
        self.make_private()?;
        if !self.file("ca").join("ca.json").exists() {
            if shared && !self.initializing {
                return Err(DataError::Deployment(format!(
                    "{} holds no CA: run `devicetrust init --data {} --database URL` once, \
                     then start every replica on the same folder (or a copy of it)",
                    self.dir.display(),
                    self.dir.display()
                )));
            }
            ca_dir.init(CaConfig::default(), backend)?;
        }
        if shared && self.initializing {
            self.data_key_or_create()?;
        }
        let store = match opened_first {
            Some(store) => store,
            None => Arc::new(self.open_store()?),
        };
        let ca = ca_dir.open_with_ledger(backend, store.clone())?;
        self.tie_to_ca(&store, &ca)?;
        Ok((ca, store))
    }

    /// The data key in the folder, made now if there is none.
    fn data_key_or_create(&self) -> Result<DataKey, DataError> {
        let path = self.file(sealed::FILE);
        if let Some(key) = DataKey::read_file(&path)? {
            return Ok(key);
        }
        let key = DataKey::generate()?;
        key.create_file(&path)?;
        Ok(key)
    }

    /// On a shared database, the data key new configurations' keys are
    /// sealed with; `None` on the embedded one (they are files in the
    /// folder), and on a shared deployment made before sealing existed.
    fn shared_data_key(&self) -> Result<Option<DataKey>, DataError> {
        if self.database.is_none() {
            return Ok(None);
        }
        Ok(DataKey::read_file(&self.file(sealed::FILE))?)
    }

    fn no_data_key(&self) -> DataError {
        DataError::Deployment(format!(
            "{} has no {}: every replica needs the whole folder `devicetrust init` made",
            self.dir.display(),
            sealed::FILE
        ))
    }

    /// Copies this folder's embedded deployment (devices, users, the CA's
    /// ledger, tokens, integrations, policies, audit: every table) into the
    /// PostgreSQL database at `url`, which must hold no data yet:
    /// `devicetrust migrate`. The folder's database is brought up to date
    /// and tied to its CA first, and is left as it was otherwise. Replicas
    /// then start with `--data` on this folder (or a copy) and `--database URL`.
    pub fn migrate_to_postgres(
        &self,
        backend: &'static dyn Backend,
        url: &str,
    ) -> Result<devicetrust_store::CopyReport, DataError> {
        let db = devicetrust_store::database_path(&self.dir);
        if self.database.is_some() || self.initializing {
            return Err(DataError::Invalid(
                "migrate copies from a data folder's own database".into(),
            ));
        }
        if !db.exists() || !self.file("ca").join("ca.json").exists() {
            return Err(DataError::NotFound(format!(
                "{} holds no deployment to copy (no CA or no database)",
                self.dir.display()
            )));
        }
        let (_, store) = self.open_ca_and_store(backend)?;
        let Database::Sqlite(from) = &*store else {
            return Err(DataError::Invalid(
                "the folder's database is not SQLite".into(),
            ));
        };
        let to =
            devicetrust_store::PostgresStore::open(url).map_err(|source| DataError::Store {
                what: "opening the PostgreSQL database",
                source,
            })?;
        let report = to
            .copy_from_sqlite(from)
            .map_err(|source| DataError::Store {
                what: "copying into PostgreSQL",
                source,
            })?;
        // The copy is a shared deployment from now on: configurations added
        // on it keep their keys sealed in the store.
        let key = self.data_key_or_create()?;
        record_data_key(&to, &key)?;
        Ok(report)
    }

    fn open_store(&self) -> Result<Database, DataError> {
        let Some(url) = &self.database else {
            let db = devicetrust_store::database_path(&self.dir);
            return Ok(Database::Sqlite(
                SqliteStore::open(&db).map_err(|e| self.io(&db, e))?,
            ));
        };
        devicetrust_store::PostgresStore::open(url)
            .map(Database::Postgres)
            .map_err(|source| DataError::Store {
                what: "opening the PostgreSQL database",
                source,
            })
    }

    /// Checks that the database belongs to this folder's CA, recording the
    /// CA on first use. A shared database is tied only by `init`: a
    /// replica never adopts an empty database, nor one another CA made.
    fn tie_to_ca(&self, store: &Database, ca: &Ca) -> Result<(), DataError> {
        use devicetrust_store::Store as _;
        let ours = ca.root().fingerprint();
        let may_create = self.database.is_none() || self.initializing;
        let data_key = self.shared_data_key()?;
        // Every start (and every CLI command) gets here: a read settles the
        // usual case, a database already tied to this CA, without a write.
        let found = store
            .read(|tx| tx.settings_document(DEPLOYMENT))
            .map_err(|source| DataError::Store {
                what: "checking the database's CA",
                source,
            })?
            .and_then(|found| serde_json::from_str::<Deployment>(&found.body).ok())
            .filter(|theirs| theirs.ca_root_sha256 == ours);
        if let Some(theirs) = found
            && !(self.initializing && self.database.is_some())
        {
            return match (&theirs.data_key_sha256, &data_key) {
                (Some(_), None) => Err(self.no_data_key()),
                (Some(check), Some(key)) if *check != key.check() => {
                    Err(DataError::Deployment(format!(
                        "{} in {} is not this deployment's data key: every replica needs \
                         the whole folder `devicetrust init` made",
                        sealed::FILE,
                        self.dir.display()
                    )))
                }
                _ => Ok(()),
            };
        }
        store
            .write(|tx| {
                let Some(found) = tx.settings_document(DEPLOYMENT)? else {
                    if !may_create {
                        return Ok(Err(DataError::Deployment(
                            "the database has not been initialised: run \
                             `devicetrust init --data DIR --database URL` once"
                                .into(),
                        )));
                    }
                    let body = serde_json::to_string(&Deployment {
                        ca_root_sha256: ours.clone(),
                        data_key_sha256: data_key.as_ref().map(DataKey::check),
                    })
                    .map_err(|e| devicetrust_store::Error::Corrupt {
                        what: "deployment",
                        reason: e.to_string(),
                    })?;
                    tx.put_settings_document(
                        DEPLOYMENT,
                        &devicetrust_store::SettingsDocument { revision: 1, body },
                    )?;
                    return Ok(Ok(()));
                };
                let theirs: Deployment = serde_json::from_str(&found.body).map_err(|e| {
                    devicetrust_store::Error::Corrupt {
                        what: "deployment",
                        reason: e.to_string(),
                    }
                })?;
                Ok(if theirs.ca_root_sha256 != ours {
                    Err(DataError::Deployment(format!(
                        "the database belongs to another CA (root SHA-256 {}), while {} holds \
                         the CA with root SHA-256 {ours}: refusing to mix them",
                        theirs.ca_root_sha256,
                        self.dir.display()
                    )))
                } else if self.initializing && self.database.is_some() {
                    Err(DataError::Deployment(
                        "the database is already initialised for this CA: start replicas with \
                         `devicetrust serve --data DIR --database URL`"
                            .into(),
                    ))
                } else {
                    Ok(())
                })
            })
            .map_err(|source| DataError::Store {
                what: "checking the database's CA",
                source,
            })?
    }

    /// Creates the folder with mode 0700, or tightens an existing one to
    /// it (an older release left it to the umask): it holds keys, the
    /// database and secrets. What an older release left inside it to the
    /// umask (`ca/`, `integrations.json`, RA certificates) is tightened too:
    /// folders to 0700, files to 0600.
    fn make_private(&self) -> Result<(), DataError> {
        secret_file::create_private_dir(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Only when it is not private yet: replicas may mount the folder read-only.
            let mode = std::fs::metadata(&self.dir)
                .map_err(|e| self.io(&self.dir, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| self.io(&self.dir, e))?;
            }
            self.tighten_inside(&self.dir, 0)?;
        }
        Ok(())
    }

    /// Tightens what others can reach under `dir` (symbolic links are left
    /// alone, not followed). Only an entry with group or other bits is
    /// changed, so an already-private folder opens without owning its files.
    #[cfg(unix)]
    fn tighten_inside(&self, dir: &Path, depth: usize) -> Result<(), DataError> {
        use std::os::unix::fs::PermissionsExt;
        // The data folder is shallow (`ca/`); deeper trees are not ours.
        const MAX_DEPTH: usize = 4;
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir).map_err(|e| self.io(dir, e))? {
            let path = entry.map_err(|e| self.io(dir, e))?.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| self.io(&path, e))?;
            let private = if meta.is_dir() {
                0o700
            } else if meta.is_file() {
                0o600
            } else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(private))
                    .map_err(|e| self.io(&path, e))?;
            }
            if meta.is_dir() {
                self.tighten_inside(&path, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path, e: impl std::fmt::Display) -> DataError {
        DataError::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    /// The desktop configurations an older release kept in
    /// `integrations.json`, if that file is still there.
    pub(crate) fn legacy_integrations(&self) -> Result<Option<Vec<DesktopIntegration>>, DataError> {
        let path = self.file(LEGACY_INTEGRATIONS);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path, e)),
            Ok(m) if m.len() > MAX_FILE => return Err(self.io(&path, "file too large")),
            Ok(_) => {}
        }
        let bytes = std::fs::read(&path).map_err(|e| self.io(&path, e))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.io(&path, format!("corrupt: {e}")))
    }

    /// The key attestation nonces are MACed with, made on first use: every
    /// process on the folder (and a restart) accepts the nonces of the others.
    pub(crate) fn attestation_nonce_key(&self) -> Result<Zeroizing<[u8; 32]>, DataError> {
        let path = self.file("attestation-nonce.key");
        let mut key = Zeroizing::new([0u8; 32]);
        if let Some(text) = self.read_nonce_key(&path)? {
            hex::decode_to_slice(text.trim(), key.as_mut_slice())
                .map_err(|e| self.io(&path, format!("corrupt: {e}")))?;
            return Ok(key);
        }
        getrandom_fill(key.as_mut_slice())?;
        let text = Zeroizing::new(hex::encode(key.as_slice()));
        // Written whole to a private temporary file, then linked into place,
        // which fails if another process made the key first: then theirs is used.
        let mut tmp_raw = [0u8; 8];
        getrandom_fill(&mut tmp_raw)?;
        let tmp = self.file(&format!(".attestation-nonce.key.{}", hex::encode(tmp_raw)));
        secret_file::write(&tmp, &text).map_err(|e| self.io(&tmp, e))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _removed = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process made it first: use theirs (read once, no
                // loop: a name that exists but does not read is an error).
                let text = self
                    .read_nonce_key(&path)?
                    .ok_or_else(|| self.io(&path, "exists but cannot be read"))?;
                hex::decode_to_slice(text.trim(), key.as_mut_slice())
                    .map_err(|e| self.io(&path, format!("corrupt: {e}")))?;
                Ok(key)
            }
            Err(e) => Err(self.io(&path, e)),
        }
    }

    fn read_nonce_key(&self, path: &Path) -> Result<Option<Zeroizing<String>>, DataError> {
        match secret_file::read(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(path, e)),
        }
    }

    /// Renames the imported `integrations.json` so it is not read again.
    pub(crate) fn retire_legacy_integrations(&self) -> Result<(), DataError> {
        let path = self.file(LEGACY_INTEGRATIONS);
        retire_imported(&path).map_err(|e| self.io(&path, e))
    }

    /// Makes a desktop configuration with our CA and a static, dynamic or
    /// Intune challenge: writes its RA key and certificate (and an Intune
    /// client secret) here, and returns the configuration to store with its
    /// URL and generated secrets, shown once.
    pub(crate) fn add_desktop(
        &self,
        ca: &Ca,
        challenge: NewChallenge,
        base_url: &str,
        scep: ScepConfig,
    ) -> Result<(DesktopIntegration, NewIntegration), DataError> {
        // Refuse unusable Intune settings before anything is written.
        if let NewChallenge::Intune {
            settings,
            client_secret,
        } = &challenge
        {
            IntuneChallenge::new(settings.clone(), client_secret.clone())?;
        }
        let mut raw = [0u8; 6];
        getrandom_fill(&mut raw)?;
        let id = format!("scep{}", hex::encode(raw));
        let ra_key = ca.backend().generate(KeyAlgorithm::RSA2048)?;
        let ra_cert = ca.issue_ra_certificate(&ra_key, &format!("CN=devicetrust SCEP RA {id}"))?;
        // Shared: nothing is written to the folder (it may be read-only, or
        // one copy of several).
        let data_key = self.shared_data_key()?;
        let mut sealed = match &data_key {
            Some(key) => Some(SealedKeys {
                ra_certificate_pem: ra_cert.to_pem()?,
                ra_key: key.seal(&format!("ra key {id}"), ra_key.to_pem()?.as_bytes())?,
                intune_client_secret: None,
            }),
            None => {
                ra_key.write_pem_file(&self.file(&format!("ra-{id}.key")))?;
                let cert_path = self.file(&format!("ra-{id}.pem"));
                secret_file::write_private(&cert_path, ra_cert.to_pem()?.as_bytes())
                    .map_err(|e| self.io(&cert_path, e))?;
                None
            }
        };
        let base = base_url.trim_end_matches('/');
        let scep_url = format!("{base}/scep/{id}/pkiclient.exe");
        let (stored, out) = match challenge {
            NewChallenge::Static => {
                let (c, secret) = StaticChallenge::generate()?;
                (
                    StoredChallenge::Static {
                        secret_sha256: c.digest_hex(),
                    },
                    NewIntegration {
                        id: id.clone(),
                        challenge: ChallengeKind::Static,
                        scep_url,
                        secret_key: Some(secret.to_string()),
                        challenge_url: None,
                        username: None,
                        password: None,
                    },
                )
            }
            NewChallenge::Dynamic => {
                let validity = DynamicChallenges::DEFAULT_VALIDITY;
                let (store, creds) =
                    DynamicChallenges::generate(validity, DynamicChallenges::DEFAULT_CAPACITY)?;
                (
                    StoredChallenge::Dynamic {
                        username: creds.username.clone(),
                        password_sha256: store.password_digest_hex(),
                        validity_minutes: u32::try_from(validity.whole_minutes()).unwrap_or(60),
                    },
                    NewIntegration {
                        id: id.clone(),
                        challenge: ChallengeKind::Dynamic,
                        scep_url,
                        secret_key: None,
                        challenge_url: Some(format!("{base}/scep/{id}/mscep_admin/")),
                        username: Some(creds.username),
                        password: Some(creds.password.to_string()),
                    },
                )
            }
            NewChallenge::Intune {
                settings,
                client_secret,
            } => {
                match (&data_key, &mut sealed) {
                    (Some(key), Some(sealed)) => {
                        sealed.intune_client_secret = Some(key.seal(
                            &format!("intune client secret {id}"),
                            client_secret.as_bytes(),
                        )?);
                    }
                    _ => {
                        let path = self.file(&format!("intune-{id}.secret"));
                        secret_file::write(&path, &client_secret).map_err(|e| self.io(&path, e))?;
                    }
                }
                (
                    StoredChallenge::Intune(settings),
                    NewIntegration {
                        id: id.clone(),
                        challenge: ChallengeKind::Intune,
                        scep_url,
                        secret_key: None,
                        challenge_url: None,
                        username: None,
                        password: None,
                    },
                )
            }
        };
        let desktop = DesktopIntegration {
            id,
            challenge: stored,
            scep,
            sealed,
        };
        Ok((desktop, out))
    }

    /// Builds the served endpoints for the stored configurations `desktop`. Each
    /// keeps its SCEP transactions and one-time challenges in `store`, under
    /// its configuration ID, so that they survive a restart: a resend or
    /// replay gets the answer already given, and a challenge is used once.
    pub fn endpoints(
        &self,
        ca: Arc<Ca>,
        store: &Arc<Database>,
        desktop: &[DesktopIntegration],
    ) -> Result<ScepEndpoints, DataError> {
        let endpoints = ScepEndpoints::new();
        let data_key = match desktop.iter().any(|d| d.sealed.is_some()) {
            true => self.shared_data_key()?,
            false => None,
        };
        for integration in desktop {
            let id = &integration.id;
            let (ra_key, ra_cert) = match (&integration.sealed, &data_key) {
                (Some(sealed), Some(key)) => {
                    let pem = key.open(&format!("ra key {id}"), &sealed.ra_key)?;
                    (
                        PrivateKey::from_pem(&pem)?,
                        Certificate::parse(sealed.ra_certificate_pem.as_bytes())?,
                    )
                }
                (Some(_), None) => return Err(self.no_data_key()),
                (None, _) => {
                    let key_path = self.file(&format!("ra-{id}.key"));
                    let cert_path = self.file(&format!("ra-{id}.pem"));
                    let ra_pem = Zeroizing::new(
                        std::fs::read(&cert_path).map_err(|e| self.io(&cert_path, e))?,
                    );
                    (
                        PrivateKey::read_pem_file(&key_path)?,
                        Certificate::parse(&ra_pem)?,
                    )
                }
            };
            let (challenge, dynamic): (Arc<dyn Challenge>, _) = match &integration.challenge {
                StoredChallenge::Static { secret_sha256 } => (
                    Arc::new(StaticChallenge::from_digest_hex(secret_sha256)?),
                    None,
                ),
                StoredChallenge::Dynamic {
                    username,
                    password_sha256,
                    validity_minutes,
                } => {
                    let digest: [u8; 32] = hex::decode(password_sha256)
                        .ok()
                        .and_then(|d| d.try_into().ok())
                        .ok_or_else(|| {
                            DataError::NotFound(format!(
                                "corrupt password digest for {}",
                                integration.id
                            ))
                        })?;
                    let store = Arc::new(
                        DynamicChallenges::from_parts(
                            username.clone(),
                            digest,
                            time::Duration::minutes(i64::from(*validity_minutes)),
                            DynamicChallenges::DEFAULT_CAPACITY,
                        )
                        .with_store(Arc::new(
                            devicetrust_store::StoredChallenges::new(
                                store.clone(),
                                &integration.id,
                            ),
                        )),
                    );
                    (store.clone() as Arc<dyn Challenge>, Some(store))
                }
                StoredChallenge::Intune(settings) => {
                    let sealed_secret = integration
                        .sealed
                        .as_ref()
                        .and_then(|s| s.intune_client_secret.as_ref());
                    let secret = match (sealed_secret, &data_key) {
                        (Some(sealed), Some(key)) => {
                            let raw = key.open(&format!("intune client secret {id}"), sealed)?;
                            Zeroizing::new(
                                std::str::from_utf8(&raw)
                                    .map_err(|_| {
                                        DataError::Invalid(format!(
                                            "the Intune client secret of {id} is not UTF-8"
                                        ))
                                    })?
                                    .to_owned(),
                            )
                        }
                        _ => {
                            let path = self.file(&format!("intune-{id}.secret"));
                            secret_file::read(&path).map_err(|e| self.io(&path, e))?
                        }
                    };
                    (
                        Arc::new(IntuneChallenge::new(settings.clone(), secret)?),
                        None,
                    )
                }
            };
            let service = ScepService::new(
                ca.clone(),
                ra_cert,
                &ra_key,
                challenge,
                integration.scep.clone(),
            )?
            .with_transactions(Arc::new(
                devicetrust_store::StoredScepTransactions::new(store.clone(), &integration.id),
            ));
            endpoints.insert(ScepEndpoint {
                id: integration.id.clone(),
                service,
                dynamic,
            });
        }
        Ok(endpoints)
    }
}

/// Renames an imported legacy file to `<name>.imported` (or, if an earlier
/// import left that name, `<name>.imported.1`, `.2`, ...), so no earlier
/// copy is overwritten and the file is not read again.
pub(crate) fn retire_imported(path: &Path) -> std::io::Result<()> {
    for n in 0..1000u32 {
        let mut name = path.as_os_str().to_owned();
        name.push(".imported");
        if n > 0 {
            name.push(format!(".{n}"));
        }
        let target = PathBuf::from(name);
        if std::fs::symlink_metadata(&target).is_err() {
            return match std::fs::rename(path, &target) {
                // Another process starting at the same time set it aside first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            };
        }
    }
    Err(std::io::Error::other(
        "a thousand imported copies are there already",
    ))
}

/// Replaces the secret of static configuration `found`; returns the new
/// secret, shown once. The old one stops working once the endpoint is
/// rebuilt from the stored configuration.
pub(crate) fn reset_static(found: &mut DesktopIntegration) -> Result<Zeroizing<String>, DataError> {
    if !matches!(found.challenge, StoredChallenge::Static { .. }) {
        return Err(DataError::Invalid(format!(
            "desktop configuration {} has no static secret to reset",
            found.id
        )));
    }
    let (challenge, secret) = StaticChallenge::generate()?;
    found.challenge = StoredChallenge::Static {
        secret_sha256: challenge.digest_hex(),
    };
    Ok(secret)
}

fn getrandom_fill(buf: &mut [u8]) -> Result<(), DataError> {
    getrandom::fill(buf).map_err(|e| DataError::Pki(devicetrust_pki::Error::Random(e.to_string())))
}

/// Refuses `init` on a database that already belongs to a deployment.
fn refuse_initialised(store: &Database) -> Result<(), DataError> {
    use devicetrust_store::Store as _;
    let found = store
        .read(|tx| tx.settings_document(DEPLOYMENT))
        .map_err(|source| DataError::Store {
            what: "checking the database",
            source,
        })?;
    let Some(found) = found else {
        return Ok(());
    };
    let root = serde_json::from_str::<Deployment>(&found.body)
        .map(|d| d.ca_root_sha256)
        .unwrap_or_else(|_| "unreadable".into());
    Err(DataError::Deployment(format!(
        "the database is already initialised, for the CA with root SHA-256 {root}: start \
         replicas with `devicetrust serve --data DIR --database URL`, or init a new database"
    )))
}

/// Records `key`'s check in a shared database's deployment document.
fn record_data_key(store: &impl devicetrust_store::Store, key: &DataKey) -> Result<(), DataError> {
    let check = key.check();
    store
        .write(|tx| {
            let Some(found) = tx.settings_document(DEPLOYMENT)? else {
                return Ok(Err(DataError::Deployment(
                    "the copied database has no deployment record".into(),
                )));
            };
            let mut deployment: Deployment = serde_json::from_str(&found.body).map_err(|e| {
                devicetrust_store::Error::Corrupt {
                    what: "deployment",
                    reason: e.to_string(),
                }
            })?;
            deployment.data_key_sha256 = Some(check.clone());
            let body = serde_json::to_string(&deployment).map_err(|e| {
                devicetrust_store::Error::Corrupt {
                    what: "deployment",
                    reason: e.to_string(),
                }
            })?;
            tx.put_settings_document(
                DEPLOYMENT,
                &devicetrust_store::SettingsDocument {
                    revision: found.revision.saturating_add(1),
                    body,
                },
            )?;
            Ok(Ok(()))
        })
        .map_err(|source| DataError::Store {
            what: "recording the data key",
            source,
        })?
}
