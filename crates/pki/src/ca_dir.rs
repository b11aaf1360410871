//! A CA kept in a folder, for the command line and single-node services.
//!
//! ```text
//! DIR/ca.json             configuration (format version 1)
//! DIR/root.pem            root certificate
//! DIR/root.key            root private key, PKCS#8 PEM, mode 0600
//! DIR/intermediate.pem    intermediate certificate
//! DIR/intermediate.key    intermediate private key, PKCS#8 PEM, mode 0600
//! DIR/ledger.json         issued and revoked certificates, CRL number
//! ```
//! The folder itself is created with mode 0700.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{
    Backend, Ca, CaConfig, Certificate, Error, FileLedger, IssuanceLedger, PrivateKey, Result,
};

const FORMAT_VERSION: u32 = 1;
const MAX_SMALL_FILE: u64 = 1024 * 1024;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    format_version: u32,
    config: CaConfig,
}

/// Paths of a CA folder.
#[derive(Debug, Clone)]
pub struct CaDir {
    dir: PathBuf,
}

impl CaDir {
    /// The CA folder at `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The ledger file.
    pub fn ledger_path(&self) -> PathBuf {
        self.path("ledger.json")
    }

    /// Creates a new CA in the folder. Refuses if a CA is already there.
    pub fn init(&self, config: CaConfig, backend: &'static dyn Backend) -> Result<Ca> {
        let manifest_path = self.path("ca.json");
        if manifest_path.exists() {
            return Err(Error::CaDir {
                path: manifest_path,
                reason: "a CA already exists here".into(),
            });
        }
        create_private_dir(&self.dir)?;
        let ledger: Arc<dyn IssuanceLedger> = Arc::new(FileLedger::open(&self.ledger_path())?);
        let new = Ca::create(config.clone(), backend, ledger)?;
        new.root_key.write_pem_file(&self.path("root.key"))?;
        new.ca
            .intermediate_key()
            .write_pem_file(&self.path("intermediate.key"))?;
        write(&self.path("root.pem"), new.ca.root().to_pem()?.as_bytes())?;
        write(
            &self.path("intermediate.pem"),
            new.ca.intermediate().to_pem()?.as_bytes(),
        )?;
        // The manifest goes last: a folder without it is an unfinished init.
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            config,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::CaDir {
            path: manifest_path.clone(),
            reason: e.to_string(),
        })?;
        write(&manifest_path, &json)?;
        Ok(new.ca)
    }

    /// Loads the CA, with its file-backed ledger.
    pub fn open(&self, backend: &'static dyn Backend) -> Result<Ca> {
        let ledger: Arc<dyn IssuanceLedger> = Arc::new(FileLedger::open(&self.ledger_path())?);
        self.open_with_ledger(backend, ledger)
    }

    /// Loads the CA's certificates and key, with the given ledger.
    pub fn open_with_ledger(
        &self,
        backend: &'static dyn Backend,
        ledger: Arc<dyn IssuanceLedger>,
    ) -> Result<Ca> {
        let manifest_path = self.path("ca.json");
        let manifest: Manifest =
            serde_json::from_slice(&read(&manifest_path)?).map_err(|e| Error::CaDir {
                path: manifest_path.clone(),
                reason: format!("corrupt manifest: {e}"),
            })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(Error::CaDir {
                path: manifest_path,
                reason: format!(
                    "format version {} is not {FORMAT_VERSION}",
                    manifest.format_version
                ),
            });
        }
        let cert = |name: &str| {
            let path = self.path(name);
            Certificate::parse(&read(&path)?).map_err(|e| Error::CaDir {
                path,
                reason: e.to_string(),
            })
        };
        let root = cert("root.pem")?;
        let intermediate = cert("intermediate.pem")?;
        let key_path = self.path("intermediate.key");
        let key =
            PrivateKey::from_pem(&zeroize::Zeroizing::new(read(&key_path)?)).map_err(|e| {
                Error::CaDir {
                    path: key_path.clone(),
                    reason: e.to_string(),
                }
            })?;
        Ca::from_parts(manifest.config, root, intermediate, key, backend, ledger).map_err(|e| {
            Error::CaDir {
                path: self.dir.clone(),
                reason: e.to_string(),
            }
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::CaDir {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    if meta.len() > MAX_SMALL_FILE {
        return Err(Error::CaDir {
            path: path.to_path_buf(),
            reason: format!("{} bytes is too large", meta.len()),
        });
    }
    std::fs::read(path).map_err(Error::io(path))
}

/// Every file of the CA folder is private (0600), whatever the umask:
/// `ca.json` and the ledger say what the CA issued and to whom.
fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::write_atomic(path, bytes, true).map_err(Error::io(path))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(Error::io(dir))
}
