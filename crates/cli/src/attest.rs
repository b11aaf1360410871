//! `devicetrust attest …`: is this device managed? JSON on stdout; exit 0
//! managed (or valid), 1 not managed (or refused), 2 usage or input error.

use std::path::PathBuf;

use crate::commands::attest::{self as commands, CheckProofArgs, Report, VerifyArgs};
use clap::Subcommand;
use devicetrust_pki::Backend;

use crate::CliError;
use crate::output::print_json;

/// Management attestation commands.
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Check a desktop client certificate against trusted CAs (and CRLs).
    Verify {
        /// A trusted CA (our intermediate, or an uploaded one); repeatable.
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// An intermediate to build the path with; repeatable.
        #[arg(long = "intermediate")]
        intermediates: Vec<PathBuf>,
        /// A CRL to check; repeatable.
        #[arg(long = "crl")]
        crls: Vec<PathBuf>,
        /// The device's certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Check as of this RFC 3339 time (default now).
        #[arg(long)]
        at: Option<String>,
        /// The registered device ID the certificate must name.
        #[arg(long)]
        device: Option<String>,
    },
    /// Is FILE an acceptable CA upload (PEM or DER X.509 CA certificate)?
    UploadCheck {
        /// The upload.
        file: PathBuf,
    },
    /// Issue a nonce bound to an org and a device.
    Nonce {
        /// The server's nonce key file (32 bytes, hex).
        #[arg(long)]
        nonce_key: PathBuf,
        /// The org.
        #[arg(long)]
        org: String,
        /// The device ID.
        #[arg(long)]
        device: String,
        /// Issue as of this RFC 3339 time (default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Sign a nonce with the device certificate's key (what Okta Verify does).
    Prove {
        /// The device key.
        #[arg(long)]
        key: PathBuf,
        /// The nonce.
        #[arg(long)]
        nonce: String,
    },
    /// Check a signed nonce against the device certificate.
    CheckProof {
        /// The server's nonce key file.
        #[arg(long)]
        nonce_key: PathBuf,
        /// The org.
        #[arg(long)]
        org: String,
        /// The device ID.
        #[arg(long)]
        device: String,
        /// The device certificate.
        #[arg(long)]
        cert: PathBuf,
        /// The nonce.
        #[arg(long)]
        nonce: String,
        /// The proof: what `attest prove` printed.
        #[arg(long)]
        proof: String,
        /// Check as of this RFC 3339 time (default now).
        #[arg(long)]
        at: Option<String>,
    },
}

fn finish(report: &Report) -> Result<(), CliError> {
    print_json(&report.json);
    match report.exit_code {
        0 => Ok(()),
        2 => Err(CliError::Usage("bad input (see the JSON above)".into())),
        _ => Err(CliError::Failed("not managed (see the JSON above)".into())),
    }
}

pub(crate) fn run(cmd: AttestCommand, backend: &'static dyn Backend) -> Result<(), CliError> {
    let report = match cmd {
        AttestCommand::Verify {
            trust,
            intermediates,
            crls,
            cert,
            at,
            device,
        } => commands::verify(
            &VerifyArgs {
                trust,
                intermediates,
                crls,
                cert,
                at,
                device,
            },
            backend,
        ),
        AttestCommand::UploadCheck { file } => commands::upload_check(&file),
        AttestCommand::Nonce {
            nonce_key,
            org,
            device,
            at,
        } => commands::issue_nonce(&nonce_key, &org, &device, at.as_deref()),
        AttestCommand::Prove { key, nonce } => commands::prove(&key, &nonce, backend),
        AttestCommand::CheckProof {
            nonce_key,
            org,
            device,
            cert,
            nonce,
            proof,
            at,
        } => commands::check_proof(
            &CheckProofArgs {
                nonce_key,
                org,
                device,
                cert,
                nonce,
                proof,
                at,
            },
            backend,
        ),
    };
    finish(&report)
}
