//! `devicetrust demo`: the README's main job. It tells the device-trust
//! story step by step and checks every expectation on the way; it exits 0
//! only if all of them held.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use devicetrust_pki::{
    Backend, CaConfig, CaDir, Crl, Error as PkiError, IssueOptions, KeyAlgorithm, RequestBuilder,
    RevocationReason,
};
use time::OffsetDateTime;

use crate::CliError;

/// Options of the demo.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Key type of the CA.
    #[arg(long, default_value = "p256")]
    pub key: KeyAlgorithm,
    /// Keep the CA here instead of a temporary folder (must not exist yet).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

struct Narrator {
    step: usize,
    failures: usize,
}

impl Narrator {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n{}. {title}", self.step);
    }

    fn say(&self, line: &str) {
        println!("   {line}");
    }

    fn check(&mut self, ok: bool, expectation: &str) {
        if ok {
            println!("   ✓ {expectation}");
        } else {
            self.failures += 1;
            println!("   ✗ {expectation}");
        }
    }
}

pub(crate) fn run(args: &DemoArgs, backend: &'static dyn Backend) -> Result<(), CliError> {
    let temp = tempfile::tempdir().map_err(|source| CliError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().join("ca"));
    let mut n = Narrator {
        step: 0,
        failures: 0,
    };
    println!(
        "devicetrust demo: management attestation with our own CA (crypto backend: {})",
        backend.name()
    );

    n.step("An admin creates the organisation's CA (root + intermediate).");
    let started = Instant::now();
    let ca = CaDir::new(&dir).init(
        CaConfig {
            key: args.key,
            crl_distribution_point: Some("http://127.0.0.1:8080/pki/crl".into()),
            ..CaConfig::default()
        },
        backend,
    )?;
    n.say(&format!(
        "folder {} ({} keys, {} ms)",
        dir.display(),
        args.key,
        started.elapsed().as_millis()
    ));
    n.say(&format!("root:         {}", ca.root().subject()));
    n.say(&format!("intermediate: {}", ca.intermediate().subject()));
    n.check(
        private_mode(&dir.join("intermediate.key")),
        "CA private keys are written with mode 0600",
    );
    n.check(
        ca.intermediate()
            .basic_constraints()?
            .is_some_and(|b| b.ca && b.path_len_constraint == Some(0)),
        "the intermediate is a CA limited to end-entity certificates (pathLen 0)",
    );

    n.step("The admin downloads the intermediate certificate for the MDM (\"Download x509 certificate\").");
    let pem = ca.intermediate().to_pem()?;
    n.say(&format!(
        "{} bytes of PEM, SHA-256 {}",
        pem.len(),
        ca.intermediate().fingerprint()
    ));
    n.check(
        pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "exported as PEM",
    );

    n.step(
        "A managed Mac makes a key pair and a PKCS#10 request, as the MDM's SCEP payload would.",
    );
    let device_id = format!(
        "dev-{}",
        hex::encode(
            devicetrust_pki::SerialNumber::random()?
                .as_bytes()
                .get(..6)
                .unwrap_or_default()
        )
    );
    let device_key = backend.generate(KeyAlgorithm::EcP256)?;
    let subject = format!("CN=alice@example.com managementAttestation {device_id}");
    let csr = RequestBuilder::new(&subject)
        .challenge_password("demo-static-secret")
        .sign(backend.signer(&device_key)?.as_ref())?;
    n.say(&format!(
        "request for {subject:?}, {} bytes of DER",
        csr.len()
    ));

    n.step("The CA verifies the request and issues a client certificate.");
    let request = ca.parse_request(&csr)?;
    n.check(
        request.challenge_password() == Some("demo-static-secret"),
        "the request's signature verified and its challenge was read",
    );
    let cert = ca.issue(&request, &IssueOptions::default())?;
    let serial = cert.serial()?;
    n.say(&format!(
        "serial {serial}, valid {} to {}",
        cert.not_before().date(),
        cert.not_after().date()
    ));
    n.check(
        cert.key_usage()?.is_some_and(|ku| ku.digital_signature()) && !cert.is_ca()?,
        "profile: digitalSignature, clientAuth, CA:FALSE",
    );

    n.step("Okta Verify's check: does the device certificate chain to our CA?");
    let now = OffsetDateTime::now_utc();
    let verdict = ca.verify(&cert, None, now);
    n.check(
        verdict.is_ok(),
        "the certificate verifies: the device counts as managed",
    );

    n.step("The device is reported lost: the admin revokes its certificate and publishes a CRL.");
    let ca = CaDir::new(&dir).open(backend)?;
    n.check(
        ca.ledger()
            .get(&serial)
            .map_err(devicetrust_pki::Error::from)?
            .is_some(),
        "reopened from disk, the CA still knows what it issued",
    );
    let revocation = ca.revoke(&serial, RevocationReason::CessationOfOperation, now)?;
    let crl = Crl::parse(ca.crl(now)?.to_pem()?.as_bytes())?;
    n.say(&format!(
        "CRL number {:?} lists {} certificate(s)",
        crl.number(),
        crl.len()
    ));
    n.check(
        crl.revocation(&serial) == Some(revocation),
        "the CRL lists the serial with its reason",
    );

    n.step("The same certificate is presented again.");
    let refused = ca.verify(&cert, Some(&crl), now);
    match &refused {
        Err(e @ PkiError::Revoked { .. }) => n.say(&format!("refused: {e}")),
        Err(e) => n.say(&format!("refused for another reason: {e}")),
        Ok(()) => n.say("accepted"),
    }
    n.check(
        matches!(refused, Err(PkiError::Revoked { .. })),
        "the revoked certificate is refused: the device is no longer managed",
    );

    println!();
    if n.failures == 0 {
        println!("All {} steps held.", n.step);
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} expectation(s) did not hold",
            n.failures
        )))
    }
}

#[cfg(unix)]
fn private_mode(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600)
}

#[cfg(not(unix))]
fn private_mode(_: &std::path::Path) -> bool {
    true
}
