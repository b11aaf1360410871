//! `devicetrust ca …`: the certificate authority in a folder.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use devicetrust_pki::{
    Backend, CaConfig, CaDir, Certificate, Crl, IssueOptions, KeyAlgorithm, RevocationReason,
    SerialNumber,
};
use serde_json::json;
use time::OffsetDateTime;

use crate::CliError;
use crate::output::{print_json, read_input, rfc3339, write_output};

/// Certificate authority commands.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root and an intermediate CA in a new folder.
    Init {
        /// The CA folder (created with mode 0700).
        #[arg(long)]
        dir: PathBuf,
        /// Key type for both CA keys.
        #[arg(long, default_value = "p256")]
        key: KeyAlgorithm,
        /// Root subject, RFC 4514.
        #[arg(long, default_value = "CN=Organization Root Authority")]
        root_subject: String,
        /// Intermediate subject, RFC 4514.
        #[arg(long, default_value = "CN=Organization Intermediate Authority")]
        intermediate_subject: String,
        /// CRL distribution point URL to write into client certificates.
        #[arg(long)]
        crl_url: Option<String>,
    },
    /// Issue a client certificate from a PKCS#10 request (PEM or DER).
    Issue {
        /// The CA folder.
        #[arg(long)]
        dir: PathBuf,
        /// The request.
        #[arg(long)]
        csr: PathBuf,
        /// Where to write the certificate (PEM).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days (default: the CA's, 365).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Revoke a certificate by serial number.
    Revoke {
        /// The CA folder.
        #[arg(long)]
        dir: PathBuf,
        /// Serial number, hex (colons allowed).
        #[arg(long)]
        serial: SerialNumber,
        /// RFC 5280 reason, e.g. keyCompromise, cessationOfOperation.
        #[arg(long, default_value = "unspecified")]
        reason: RevocationReason,
    },
    /// Sign a fresh CRL.
    Crl {
        /// The CA folder.
        #[arg(long)]
        dir: PathBuf,
        /// Where to write it (PEM).
        #[arg(long)]
        out: PathBuf,
    },
    /// Export the intermediate (what admins upload to their MDM) or the whole chain.
    Export {
        /// The CA folder.
        #[arg(long)]
        dir: PathBuf,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// `chain` (intermediate then root) or `intermediate`.
        #[arg(long, value_enum, default_value_t = ExportWhat::Chain)]
        what: ExportWhat,
        /// `pem` or `der` (DER holds one certificate, so only with `--what intermediate`).
        #[arg(long, value_enum, default_value_t = Format::Pem)]
        format: Format,
    },
    /// Check a client certificate against the CA (and a CRL): exit 0 if valid, 1 if not.
    Verify {
        /// The CA folder.
        #[arg(long)]
        dir: PathBuf,
        /// The certificate (PEM or DER).
        #[arg(long)]
        cert: PathBuf,
        /// A CRL to check too.
        #[arg(long)]
        crl: Option<PathBuf>,
    },
}

/// What `ca export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportWhat {
    /// Intermediate then root.
    Chain,
    /// The intermediate alone.
    Intermediate,
}

/// An output encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Base64 text.
    Pem,
    /// Binary.
    Der,
}

pub(crate) fn run(cmd: CaCommand, backend: &'static dyn Backend) -> Result<(), CliError> {
    match cmd {
        CaCommand::Init {
            dir,
            key,
            root_subject,
            intermediate_subject,
            crl_url,
        } => {
            let config = CaConfig {
                root_subject,
                intermediate_subject,
                key,
                crl_distribution_point: crl_url,
                ..CaConfig::default()
            };
            let ca = CaDir::new(&dir).init(config, backend)?;
            print_json(&json!({
                "dir": dir,
                "key": key.to_string(),
                "root": cert_json(ca.root())?,
                "intermediate": cert_json(ca.intermediate())?,
            }));
        }
        CaCommand::Issue {
            dir,
            csr,
            out,
            days,
        } => {
            let ca = CaDir::new(&dir).open(backend)?;
            let request = ca.parse_request(&read_input(&csr)?)?;
            let cert = ca.issue(
                &request,
                &IssueOptions {
                    validity_days: days,
                    now: None,
                },
            )?;
            write_output(&out, cert.to_pem()?.as_bytes())?;
            print_json(&cert_json(&cert)?);
        }
        CaCommand::Revoke {
            dir,
            serial,
            reason,
        } => {
            let ca = CaDir::new(&dir).open(backend)?;
            let revocation = ca.revoke(&serial, reason, OffsetDateTime::now_utc())?;
            print_json(&json!({
                "serial": serial.to_string(),
                "reason": revocation.reason.name(),
                "revokedAt": rfc3339(revocation.revoked_at),
            }));
        }
        CaCommand::Crl { dir, out } => {
            let ca = CaDir::new(&dir).open(backend)?;
            let crl = ca.crl(OffsetDateTime::now_utc())?;
            write_output(&out, crl.to_pem()?.as_bytes())?;
            print_json(&json!({
                "crlNumber": crl.number(),
                "thisUpdate": rfc3339(crl.this_update()),
                "nextUpdate": crl.next_update().map(rfc3339),
                "revoked": crl.len(),
            }));
        }
        CaCommand::Export {
            dir,
            out,
            what,
            format,
        } => {
            let ca = CaDir::new(&dir).open(backend)?;
            let bytes = match (what, format) {
                (ExportWhat::Chain, Format::Pem) => ca.chain_pem()?.into_bytes(),
                (ExportWhat::Intermediate, Format::Pem) => ca.intermediate().to_pem()?.into_bytes(),
                (ExportWhat::Intermediate, Format::Der) => ca.intermediate().der().to_vec(),
                (ExportWhat::Chain, Format::Der) => {
                    return Err(CliError::Usage(
                        "a chain has no single DER form: use --format pem, or --what intermediate"
                            .into(),
                    ));
                }
            };
            write_output(&out, &bytes)?;
            print_json(&json!({ "out": out, "intermediate": cert_json(ca.intermediate())? }));
        }
        CaCommand::Verify { dir, cert, crl } => {
            let ca = CaDir::new(&dir).open(backend)?;
            let cert = Certificate::parse(&read_input(&cert)?)?;
            let crl = crl
                .map(|p| read_input(&p).and_then(|b| Ok(Crl::parse(&b)?)))
                .transpose()?;
            let now = OffsetDateTime::now_utc();
            match ca.verify(&cert, crl.as_ref(), now) {
                Ok(()) => print_json(&json!({ "valid": true, "certificate": cert_json(&cert)? })),
                Err(e) => {
                    print_json(
                        &json!({ "valid": false, "reason": e.to_string(), "certificate": cert_json(&cert)? }),
                    );
                    return Err(CliError::Failed(format!("certificate refused: {e}")));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn cert_json(cert: &Certificate) -> Result<serde_json::Value, CliError> {
    Ok(json!({
        "subject": cert.subject().to_string(),
        "issuer": cert.issuer().to_string(),
        "serial": cert.serial()?.to_string(),
        "notBefore": rfc3339(cert.not_before()),
        "notAfter": rfc3339(cert.not_after()),
        "key": cert.public_key().algorithm().to_string(),
        "sha256": cert.fingerprint(),
    }))
}
