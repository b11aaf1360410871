//! `devicetrust scep …`: a SCEP client usable against any server, and a decoder.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::{Subcommand, ValueEnum};
use devicetrust_pki::scep::client::{Enrollment, ScepClient, transaction_id_for};
use devicetrust_pki::scep::{ContentEncryption, MessageType, PkiMessage, ScepPolicy};
use devicetrust_pki::{
    Backend, Certificate, CertificateRequest, KeyAlgorithm, KeyPolicy, PrivateKey, RequestBuilder,
};
use serde_json::json;

use crate::CliError;
use crate::http_transport::HttpTransport;
use crate::output::{percentile, print_json, read_input, write_output};

/// SCEP client commands.
#[derive(Debug, Subcommand)]
pub enum ScepCommand {
    /// Print the server's capabilities (GetCACaps).
    Getcaps {
        /// The SCEP URL.
        #[arg(long)]
        url: String,
    },
    /// Fetch the CA (and RA) certificates (GetCACert).
    Getca {
        /// The SCEP URL.
        #[arg(long)]
        url: String,
        /// Where to write them, PEM.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Enroll: make (or reuse) a key, send a PKCSReq, write the certificate.
    Enroll(EnrollArgs),
    /// Poll for a pending request (CertPoll).
    Poll {
        /// The SCEP URL.
        #[arg(long)]
        url: String,
        /// The key the request was made with.
        #[arg(long)]
        key: PathBuf,
        /// The subject the request was made for.
        #[arg(long)]
        subject: String,
        /// Where to write the certificate once issued.
        #[arg(long)]
        out: PathBuf,
    },
    /// Renew: a RenewalReq signed by the current certificate, no challenge.
    Renew {
        /// The SCEP URL.
        #[arg(long)]
        url: String,
        /// The current key.
        #[arg(long)]
        key: PathBuf,
        /// The current certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Where to write the new certificate.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decode a PKIMessage (DER) as JSON; with the recipient's key, also its request.
    Decode {
        /// The message.
        file: PathBuf,
        /// The recipient's private key (the RA's for a request, the requester's for a reply).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Enroll many times and report throughput and latency.
    Load {
        /// The SCEP URL.
        #[arg(long)]
        url: String,
        /// How many enrollments.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// How many at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// The challenge password.
        #[arg(long)]
        challenge: Option<String>,
        /// Distinct keys to generate up front (reused across enrollments, each with its own transaction).
        #[arg(long, default_value_t = 16)]
        keys: usize,
    },
}

/// Content encryption on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Encryption {
    /// AES-256-CBC.
    Aes256,
    /// AES-128-CBC.
    Aes128,
    /// DES-EDE3-CBC.
    Des3,
    /// DES-CBC (only for old servers).
    Des,
}

impl From<Encryption> for ContentEncryption {
    fn from(e: Encryption) -> Self {
        match e {
            Encryption::Aes256 => Self::Aes256Cbc,
            Encryption::Aes128 => Self::Aes128Cbc,
            Encryption::Des3 => Self::DesEde3Cbc,
            Encryption::Des => Self::DesCbc,
        }
    }
}

/// Arguments of `scep enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The SCEP URL.
    #[arg(long)]
    pub url: String,
    /// Subject of the request, RFC 4514.
    #[arg(long)]
    pub subject: String,
    /// The challenge password.
    #[arg(long)]
    pub challenge: Option<String>,
    /// The private key (RSA): read if it exists, else created (RSA-2048, mode 0600).
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the certificate (PEM).
    #[arg(long)]
    pub out: PathBuf,
    /// Content encryption (default: the strongest the server offers).
    #[arg(long, value_enum)]
    pub encryption: Option<Encryption>,
}

fn client(url: &str, backend: &'static dyn Backend) -> Result<ScepClient<HttpTransport>, CliError> {
    // A client accepts what servers send: SHA-1 and single DES included.
    ScepClient::connect(HttpTransport::new(url), backend, ScepPolicy::lenient())
        .map_err(|e| CliError::Failed(e.to_string()))
}

fn key_at(path: &Path, backend: &'static dyn Backend) -> Result<PrivateKey, CliError> {
    if path.exists() {
        Ok(PrivateKey::read_pem_file(path)?)
    } else {
        let key = backend.generate(KeyAlgorithm::RSA2048)?;
        key.write_pem_file(path)?;
        Ok(key)
    }
}

fn finish(outcome: Enrollment, out: &Path, transaction_id: &str) -> Result<(), CliError> {
    match outcome {
        Enrollment::Issued { certificate, .. } => {
            write_output(out, certificate.to_pem()?.as_bytes())?;
            print_json(&json!({
                "status": "SUCCESS",
                "transactionId": transaction_id,
                "certificate": crate::ca::cert_json(&certificate)?,
                "out": out,
            }));
            Ok(())
        }
        Enrollment::Pending => {
            print_json(&json!({ "status": "PENDING", "transactionId": transaction_id }));
            Err(CliError::Pending)
        }
        Enrollment::Failed { fail_info, text } => {
            print_json(&json!({
                "status": "FAILURE",
                "transactionId": transaction_id,
                "failInfo": fail_info.map(|f| f.name()),
                "failInfoText": text,
            }));
            Err(CliError::Failed(format!(
                "the server refused: {}{}",
                fail_info.map_or("no failInfo", |f| f.name()),
                text.map(|t| format!(" ({t})")).unwrap_or_default()
            )))
        }
        _ => Err(CliError::Failed("unexpected reply".into())),
    }
}

fn scep_failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub(crate) fn run(cmd: ScepCommand, backend: &'static dyn Backend) -> Result<(), CliError> {
    match cmd {
        ScepCommand::Getcaps { url } => {
            let c = client(&url, backend)?;
            print_json(&json!({ "capabilities": c.capabilities().0 }));
        }
        ScepCommand::Getca { url, out } => {
            let c = client(&url, backend)?;
            let mut pem = String::new();
            let mut list = Vec::new();
            for cert in c.ca_certificates() {
                pem.push_str(&cert.to_pem()?);
                list.push(crate::ca::cert_json(cert)?);
            }
            if let Some(out) = &out {
                write_output(out, pem.as_bytes())?;
            }
            print_json(
                &json!({ "certificates": list, "recipient": c.recipient().subject().to_string() }),
            );
        }
        ScepCommand::Enroll(args) => {
            let c = client(&args.url, backend)?;
            let key = key_at(&args.key, backend)?;
            let signer = backend.signer(&key)?;
            let mut builder = RequestBuilder::new(&args.subject);
            if let Some(challenge) = &args.challenge {
                builder = builder.challenge_password(challenge);
            }
            let csr = builder.sign(signer.as_ref())?;
            let self_signed = Certificate::self_signed(&args.subject, signer.as_ref(), 7)?;
            let outcome = c
                .enroll(
                    &key,
                    &csr,
                    &self_signed,
                    MessageType::PkcsReq,
                    args.encryption.map(Into::into),
                )
                .map_err(scep_failed)?;
            finish(outcome, &args.out, &transaction_id_for(&key))?;
        }
        ScepCommand::Poll {
            url,
            key,
            subject,
            out,
        } => {
            let c = client(&url, backend)?;
            let key = PrivateKey::read_pem_file(&key)?;
            let signer = backend.signer(&key)?;
            let self_signed = Certificate::self_signed(&subject, signer.as_ref(), 7)?;
            let name = x509_name(&subject)?;
            let outcome = c.poll(&key, &self_signed, &name).map_err(scep_failed)?;
            finish(outcome, &out, &transaction_id_for(&key))?;
        }
        ScepCommand::Renew {
            url,
            key,
            cert,
            out,
        } => {
            let c = client(&url, backend)?;
            let key = PrivateKey::read_pem_file(&key)?;
            let current = Certificate::parse(&read_input(&cert)?)?;
            let signer = backend.signer(&key)?;
            let csr = RequestBuilder::new(&current.subject().to_string()).sign(signer.as_ref())?;
            let outcome = c
                .enroll(&key, &csr, &current, MessageType::RenewalReq, None)
                .map_err(scep_failed)?;
            finish(outcome, &out, &transaction_id_for(&key))?;
        }
        ScepCommand::Decode { file, key } => decode(&file, key.as_deref(), backend)?,
        ScepCommand::Load {
            url,
            count,
            concurrency,
            challenge,
            keys,
        } => load(
            &url,
            count,
            concurrency,
            challenge.as_deref(),
            keys,
            backend,
        )?,
    }
    Ok(())
}

fn x509_name(subject: &str) -> Result<devicetrust_pki::x509_cert::name::Name, CliError> {
    devicetrust_pki::x509_cert::name::Name::from_str(subject)
        .map_err(|e| CliError::Usage(format!("bad subject {subject:?}: {e}")))
}

fn decode(file: &Path, key: Option<&Path>, backend: &'static dyn Backend) -> Result<(), CliError> {
    let der = read_input(file)?;
    let policy = ScepPolicy::lenient();
    let msg = match PkiMessage::decode(&der, &policy, backend) {
        Ok(m) => m,
        Err(rejected) => {
            print_json(&json!({
                "verified": false,
                "error": rejected.error.to_string(),
                "failInfo": rejected.fail_info().name(),
                "transactionId": rejected.reply_to.as_ref().map(|r| r.transaction_id.clone()),
                "signer": rejected.reply_to.as_ref().map(|r| r.signer.subject().to_string()),
            }));
            return Err(CliError::Failed(format!("message refused: {rejected}")));
        }
    };
    let mut out = json!({
        "verified": true,
        "messageType": msg.message_type.name(),
        "transactionId": msg.transaction_id,
        "senderNonce": hex::encode(&msg.sender_nonce),
        "recipientNonce": msg.recipient_nonce.as_ref().map(hex::encode),
        "pkiStatus": msg.pki_status.map(|s| s.name()),
        "failInfo": msg.fail_info.map(|f| f.name()),
        "failInfoText": msg.fail_info_text,
        "digestAlgorithm": msg.digest.name(),
        "signatureAlgorithm": msg.signature_algorithm.name(),
        "contentEncryption": msg.content_encryption().map(|c| c.name()),
        "signer": msg.signer.subject().to_string(),
    });
    if let Some(key_path) = key {
        let key = PrivateKey::read_pem_file(key_path)?;
        let decrypter = backend.decrypter(&key)?;
        let (plain, _) = msg
            .decrypt_with_key(decrypter.as_ref(), &policy)
            .map_err(scep_failed)?;
        if matches!(
            msg.message_type,
            MessageType::PkcsReq | MessageType::RenewalReq
        ) {
            let lenient_keys = KeyPolicy {
                allow_sha1: true,
                min_rsa_bits: 1024,
                ..KeyPolicy::default()
            };
            let csr = CertificateRequest::from_der(&plain, &lenient_keys, backend)?;
            if let Some(fields) = out.as_object_mut() {
                fields.insert(
                    "csr".into(),
                    json!({
                        "subject": csr.subject().to_string(),
                        "key": csr.public_key().algorithm().to_string(),
                        "challengePassword": csr.challenge_password().is_some(),
                    }),
                );
            }
        } else if let Ok(certs) = devicetrust_pki::scep::parse_certs_only(&plain) {
            let list: Result<Vec<_>, _> = certs.iter().map(crate::ca::cert_json).collect();
            if let Some(fields) = out.as_object_mut() {
                fields.insert("certificates".into(), json!(list?));
            }
        }
    }
    print_json(&out);
    Ok(())
}

fn load(
    url: &str,
    count: usize,
    concurrency: usize,
    challenge: Option<&str>,
    keys: usize,
    backend: &'static dyn Backend,
) -> Result<(), CliError> {
    if count == 0 || concurrency == 0 {
        return Err(CliError::Usage(
            "--count and --concurrency must be at least 1".into(),
        ));
    }
    let client = client(url, backend)?;
    // Keys, requests and self-signed certificates are made before the clock starts.
    let mut prepared = Vec::new();
    for i in 0..keys.clamp(1, count) {
        let key = backend.generate(KeyAlgorithm::RSA2048)?;
        let signer = backend.signer(&key)?;
        let subject = format!("CN=load-{i}");
        let mut builder = RequestBuilder::new(&subject);
        if let Some(c) = challenge {
            builder = builder.challenge_password(c);
        }
        let csr = builder.sign(signer.as_ref())?;
        let cert = Certificate::self_signed(&subject, signer.as_ref(), 1)?;
        prepared.push((key, csr, cert));
    }
    let run_id = hex::encode(devicetrust_pki::SerialNumber::random()?.as_bytes());
    // Messages too: signing and encrypting them is the client's work, not the server's.
    let mut messages = Vec::with_capacity(count);
    for i in 0..count {
        let Some((key, csr, cert)) = prepared.get(i % prepared.len()) else {
            break;
        };
        messages.push(
            client
                .prepare(key, csr, cert, &format!("load-{run_id}-{i}"))
                .map_err(scep_failed)?,
        );
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::new();
                    let mut errors = 0usize;
                    while let Some(message) =
                        messages.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    {
                        let t = Instant::now();
                        let outcome = client.send_prepared(message);
                        latencies.push(t.elapsed());
                        if !matches!(outcome, Ok(devicetrust_pki::scep::PkiStatus::Success)) {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = results
        .iter()
        .flat_map(|(l, _)| l.iter().copied())
        .collect();
    let errors: usize = results.iter().map(|(_, e)| e).sum();
    latencies.sort();
    print_json(&json!({
        "url": url,
        "count": latencies.len(),
        "concurrency": concurrency,
        "errors": errors,
        "seconds": elapsed.as_secs_f64(),
        "throughputPerSecond": latencies.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        "p50Ms": percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        "p99Ms": percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
    }));
    if errors > 0 {
        return Err(CliError::Failed(format!("{errors} enrollment(s) failed")));
    }
    Ok(())
}
