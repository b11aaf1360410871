//! The logic of the `devicetrust attest` commands, for the CLI to call.
//!
//! Each function takes parsed arguments, does the work and returns a
//! [`Report`]: one JSON value for stdout and the exit code (0 managed or
//! accepted, 1 not managed or refused, 2 usage or input error). The CLI only
//! parses arguments, prints `report.json` on one line and exits with
//! `report.exit_code`.

use std::path::{Path, PathBuf};

use devicetrust_pki::{Backend, Certificate, Crl, KeyPolicy, PrivateKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use devicetrust_attestation::nonce::{self, Binding, NonceService, Presented, Proof};
use devicetrust_attestation::upload::describe_upload;
use devicetrust_attestation::{ChainOptions, ChainVerifier, DesktopEvidence, DesktopTrust};

/// Exit code: managed, accepted, done.
pub const EXIT_OK: u8 = 0;
/// Exit code: not managed, or refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: usage or input error.
pub const EXIT_INPUT: u8 = 2;

/// Largest file a command reads.
pub const MAX_FILE: u64 = 1024 * 1024;

/// What a command prints, and how it exits.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// 0, 1 or 2 (see the constants).
    pub exit_code: u8,
    /// One JSON value for stdout.
    pub json: Value,
}

impl Report {
    fn input_error(message: impl std::fmt::Display) -> Self {
        Self {
            exit_code: EXIT_INPUT,
            json: json!({ "error": message.to_string() }),
        }
    }
}

/// Arguments of `attest verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyArgs {
    /// `--trust CA.pem`, repeatable: trusted CA certificates (PEM or DER).
    pub trust: Vec<PathBuf>,
    /// `--intermediate I.pem`, repeatable.
    pub intermediates: Vec<PathBuf>,
    /// `--crl CRL.pem`, repeatable.
    pub crls: Vec<PathBuf>,
    /// `--cert LEAF.pem`: the device's certificate (further PEM blocks are intermediates).
    pub cert: PathBuf,
    /// `--at RFC3339`: the time of the check (now if absent).
    pub at: Option<String>,
    /// `--device ID`: the device the certificate must be bound to, if it names one.
    pub device: Option<String>,
}

fn read(path: &Path) -> Result<Vec<u8>, Report> {
    let len = std::fs::metadata(path)
        .map_err(|e| Report::input_error(format!("{}: {e}", path.display())))?
        .len();
    if len > MAX_FILE {
        return Err(Report::input_error(format!(
            "{}: {len} bytes, over the {MAX_FILE}-byte limit",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| Report::input_error(format!("{}: {e}", path.display())))
}

fn time_arg(at: Option<&str>) -> Result<OffsetDateTime, Report> {
    match at {
        None => Ok(OffsetDateTime::now_utc()),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| Report::input_error(format!("--at {text:?} is not RFC 3339: {e}"))),
    }
}

fn certificates(path: &Path) -> Result<Vec<Certificate>, Report> {
    let bytes = read(path)?;
    let parsed = if bytes.first() == Some(&0x30) {
        Certificate::from_der(&bytes).map(|c| vec![c])
    } else {
        Certificate::parse_pem_chain(&bytes)
    };
    parsed.map_err(|e| Report::input_error(format!("{}: {e}", path.display())))
}

/// `devicetrust attest verify`: the desktop chain check of one certificate.
pub fn verify(args: &VerifyArgs, backend: &dyn Backend) -> Report {
    match verify_inner(args, backend) {
        Ok(report) | Err(report) => report,
    }
}

fn verify_inner(args: &VerifyArgs, backend: &dyn Backend) -> Result<Report, Report> {
    if args.trust.is_empty() {
        return Err(Report::input_error("at least one --trust CA is needed"));
    }
    let time = time_arg(args.at.as_deref())?;
    let mut trust = DesktopTrust::uploaded();
    for path in &args.trust {
        trust
            .upload(&read(path)?)
            .map_err(|e| Report::input_error(format!("{}: {e}", path.display())))?;
    }
    for path in &args.crls {
        let crl = Crl::parse(&read(path)?)
            .map_err(|e| Report::input_error(format!("{}: {e}", path.display())))?;
        trust.set_crl(crl);
    }
    let mut intermediates = Vec::new();
    for path in &args.intermediates {
        intermediates.extend(certificates(path)?);
    }
    let mut presented = certificates(&args.cert)?.into_iter();
    let leaf = presented
        .next()
        .ok_or_else(|| Report::input_error("--cert holds no certificate"))?;
    intermediates.extend(presented);
    let options = ChainOptions::default();
    let verifier = ChainVerifier::new(&options, backend);
    let evidence = DesktopEvidence {
        hardware_id: None,
        leaf: &leaf,
        intermediates: &intermediates,
        device_id: args.device.as_deref(),
    };
    Ok(match trust.check(&verifier, &evidence, time) {
        Ok(chain) => Report {
            exit_code: EXIT_OK,
            json: json!({
                "status": "managed",
                "chain": chain.certificates().iter().map(|c| c.subject().to_string()).collect::<Vec<_>>(),
            }),
        },
        Err(errors) => Report {
            exit_code: EXIT_REFUSED,
            json: json!({
                "status": "notManaged",
                "reasons": errors.iter().map(|e| json!({"kind": e.kind(), "message": e.to_string()})).collect::<Vec<_>>(),
            }),
        },
    })
}

/// `devicetrust attest upload-check FILE`: would this CA upload be accepted?
pub fn upload_check(path: &Path) -> Report {
    let bytes = match read(path) {
        Ok(b) => b,
        Err(report) => return report,
    };
    match describe_upload(&bytes) {
        Ok(details) => Report {
            exit_code: EXIT_OK,
            json: json!({ "accepted": true, "certificates": details }),
        },
        Err(e) => Report {
            exit_code: EXIT_REFUSED,
            json: json!({ "accepted": false, "kind": e.kind(), "message": e.to_string() }),
        },
    }
}

/// Reads a nonce key file: 64 hex digits (whitespace around them ignored).
pub fn read_nonce_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, Report> {
    let text = Zeroizing::new(read(path)?);
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim_ascii(), key.as_mut_slice())
        .map_err(|_| Report::input_error(format!("{}: expected 64 hex digits", path.display())))?;
    Ok(key)
}

/// `devicetrust attest nonce --nonce-key FILE --org ORG --device ID [--at T]`.
pub fn issue_nonce(key_file: &Path, org: &str, device: &str, at: Option<&str>) -> Report {
    let run = || -> Result<Report, Report> {
        let service = NonceService::with_key(read_nonce_key(key_file)?);
        let binding = Binding {
            org,
            device,
            purpose: devicetrust_attestation::PURPOSE,
        };
        let nonce = service
            .issue(&binding, time_arg(at)?)
            .map_err(Report::input_error)?;
        Ok(Report {
            exit_code: EXIT_OK,
            json: serde_json::to_value(&nonce).map_err(Report::input_error)?,
        })
    };
    run().unwrap_or_else(|report| report)
}

/// `devicetrust attest prove --key LEAF.key --nonce N`: the device's side.
pub fn prove(key_file: &Path, nonce: &str, backend: &dyn Backend) -> Report {
    let run = || -> Result<Report, Report> {
        let key = PrivateKey::from_pem(&read(key_file)?)
            .map_err(|e| Report::input_error(format!("{}: {e}", key_file.display())))?;
        let signer = backend.signer(&key).map_err(Report::input_error)?;
        let proof = nonce::prove(signer.as_ref(), nonce).map_err(Report::input_error)?;
        Ok(Report {
            exit_code: EXIT_OK,
            json: serde_json::to_value(&proof).map_err(Report::input_error)?,
        })
    };
    run().unwrap_or_else(|report| report)
}

/// Arguments of `attest check-proof`.
#[derive(Debug, Clone, Default)]
pub struct CheckProofArgs {
    /// `--nonce-key FILE`: the key the nonce was issued under.
    pub nonce_key: PathBuf,
    /// `--org ORG`.
    pub org: String,
    /// `--device ID`.
    pub device: String,
    /// `--cert LEAF.pem`: whose key must have signed.
    pub cert: PathBuf,
    /// `--nonce N`.
    pub nonce: String,
    /// `--proof JSON`: what `attest prove` printed.
    pub proof: String,
    /// `--at RFC3339`.
    pub at: Option<String>,
}

/// `devicetrust attest check-proof`: the server's side of one proof. (A
/// single process cannot see a replay across invocations: the replay cache
/// lives in the server.)
pub fn check_proof(args: &CheckProofArgs, backend: &dyn Backend) -> Report {
    let run = || -> Result<Report, Report> {
        let service = NonceService::with_key(read_nonce_key(&args.nonce_key)?);
        let leaf = certificates(&args.cert)?
            .into_iter()
            .next()
            .ok_or_else(|| Report::input_error("--cert holds no certificate"))?;
        let proof: Proof = serde_json::from_str(&args.proof)
            .map_err(|e| Report::input_error(format!("--proof: {e}")))?;
        let presented = Presented {
            nonce: &args.nonce,
            binding: Binding {
                org: &args.org,
                device: &args.device,
                purpose: devicetrust_attestation::PURPOSE,
            },
            proof: &proof,
            key: leaf.public_key(),
        };
        Ok(
            match service.verify(
                &presented,
                &KeyPolicy::default(),
                backend,
                time_arg(args.at.as_deref())?,
            ) {
                Ok(()) => Report {
                    exit_code: EXIT_OK,
                    json: json!({ "status": "verified" }),
                },
                Err(e) => Report {
                    exit_code: EXIT_REFUSED,
                    json: json!({ "status": "refused", "kind": e.kind(), "message": e.to_string() }),
                },
            },
        )
    };
    run().unwrap_or_else(|report| report)
}
