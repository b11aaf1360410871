//! Helpers shared by the pki integration tests: the `openssl` CLI in a
//! temporary folder, and keys made once per test binary.

#![allow(
    dead_code,
    reason = "each test binary uses its own subset of these helpers"
)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use devicetrust_pki::{
    Backend, Ca, CaConfig, Certificate, KeyAlgorithm, MemoryLedger, PrivateKey, RequestBuilder,
};

/// The `openssl` command line, run inside its own temporary folder.
pub struct Openssl {
    dir: tempfile::TempDir,
}

/// What one `openssl` run did.
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together (OpenSSL splits its messages between them).
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Openssl {
    pub fn new() -> Self {
        Self {
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs `openssl args...` in the folder.
    pub fn run(&self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .env("OPENSSL_CONF", "/dev/null")
            .output()
            .expect("the openssl CLI is installed");
        Run {
            success: status.success(),
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs `openssl args...` and insists that it succeeds.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(
            run.success,
            "openssl {} failed ({:?}):\n{}",
            args.join(" "),
            run.code,
            run.output()
        );
        run
    }
}

/// The kinds of device key the tests use, with the `openssl genpkey` arguments that make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKey {
    Rsa2048,
    Rsa1024,
    P256,
    P384,
}

impl DeviceKey {
    pub const ACCEPTED: [Self; 3] = [Self::Rsa2048, Self::P256, Self::P384];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa2048",
            Self::Rsa1024 => "rsa1024",
            Self::P256 => "p256",
            Self::P384 => "p384",
        }
    }

    pub fn algorithm(self) -> KeyAlgorithm {
        match self {
            Self::Rsa2048 => KeyAlgorithm::RSA2048,
            Self::Rsa1024 => KeyAlgorithm::Rsa { bits: 1024 },
            Self::P256 => KeyAlgorithm::EcP256,
            Self::P384 => KeyAlgorithm::EcP384,
        }
    }

    fn genpkey_args(self) -> &'static [&'static str] {
        match self {
            Self::Rsa2048 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            Self::Rsa1024 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            Self::P256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Self::P384 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        }
    }

    /// PKCS#8 PEM of a key made by `openssl genpkey`, once per test binary
    /// (RSA key generation is the slow part of these tests).
    pub fn pem(self) -> &'static str {
        static KEYS: OnceLock<Vec<(DeviceKey, String)>> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            let openssl = Openssl::new();
            [Self::Rsa2048, Self::Rsa1024, Self::P256, Self::P384]
                .into_iter()
                .map(|k| {
                    let mut args = vec!["genpkey"];
                    args.extend_from_slice(k.genpkey_args());
                    args.extend_from_slice(&["-out", "key.pem"]);
                    openssl.ok(&args);
                    (k, String::from_utf8(openssl.read("key.pem")).unwrap())
                })
                .collect()
        });
        keys.iter()
            .find(|(k, _)| *k == self)
            .map(|(_, pem)| pem.as_str())
            .unwrap()
    }

    pub fn private_key(self) -> PrivateKey {
        PrivateKey::from_pem(self.pem().as_bytes()).unwrap()
    }
}

/// A fresh P-256 CA on `backend` with an in-memory ledger.
pub fn new_ca(backend: &'static dyn Backend) -> Ca {
    Ca::create(
        CaConfig::default(),
        backend,
        std::sync::Arc::new(MemoryLedger::new()),
    )
    .unwrap()
    .ca
}

/// A P-256 request for `subject`, made by our own builder with a fresh key.
pub fn p256_request(backend: &'static dyn Backend, subject: &str) -> Vec<u8> {
    let key = backend.generate(KeyAlgorithm::EcP256).unwrap();
    RequestBuilder::new(subject)
        .sign(backend.signer(&key).unwrap().as_ref())
        .unwrap()
}

/// Issues a certificate for a fresh P-256 device key.
pub fn issue_p256(ca: &Ca, subject: &str) -> Certificate {
    let csr = p256_request(ca.backend(), subject);
    let request = ca.parse_request(&csr).unwrap();
    ca.issue(&request, &Default::default()).unwrap()
}

/// The bytes of a test fixture in `tests/data`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}
