//! The warm-path goal, measured robustly on a busy machine: a warm desktop
//! attestation and one plain signature verification, timed alternately in
//! the same loop (so load changes hit both alike), medians compared.
//! Goal: warm ≤ 1.2 × verify. `cargo bench --bench ratio [--features aws-lc]`.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devicetrust_attestation::{
    Attestor, Configurations, DesktopRequest, DesktopTrust, Platform, nonce,
};
use devicetrust_pki::{
    Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, backends,
};
use time::OffsetDateTime;

const ROUNDS: usize = 3000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("backend     key      warm        verify      warm/verify");
    for backend in backends() {
        for key in [KeyAlgorithm::EcP256, KeyAlgorithm::RSA2048] {
            let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca;
            let device_key = backend.generate(key)?;
            let signer = backend.signer(&device_key)?;
            let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42")
                .sign(signer.as_ref())?;
            let leaf = ca.issue(&ca.parse_request(&csr)?, &IssueOptions::default())?;
            let leaf_der = leaf.der().to_vec();
            let now = OffsetDateTime::now_utc();
            let mut trust = DesktopTrust::our_ca(&ca);
            trust.set_crl(ca.crl(now)?);
            let mut configurations = Configurations::new();
            configurations.add_desktop(Platform::MacOs, trust)?;
            let attestor = Attestor::new(configurations, backend)?;
            // The device's work, untimed: a signed nonce per round.
            let mut proofs = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let issued = attestor.issue_nonce("acme", "dev-42", now)?;
                let proof = nonce::prove(signer.as_ref(), &issued.nonce)?;
                proofs.push((issued.nonce, proof));
            }
            let message = nonce::signed_message("a nonce of typical length");
            let signature = signer.sign(&message)?;
            let (mut warm, mut verify) = (Vec::new(), Vec::new());
            for (round, (issued, proof)) in proofs.iter().enumerate() {
                let start = Instant::now();
                let parsed = attestor.parse_certificate(&leaf_der)?;
                let outcome = attestor.attest_desktop(
                    &DesktopRequest {
                        hardware_id: None,
                        platform: Platform::MacOs,
                        org: "acme",
                        device_id: "dev-42",
                        leaf: parsed.as_ref(),
                        intermediates: &[],
                        nonce: issued,
                        proof,
                    },
                    now,
                );
                let attest_time = start.elapsed();
                if !outcome.is_managed() {
                    return Err(format!("not managed: {outcome:?}").into());
                }
                let start = Instant::now();
                backend.verify(
                    signer.public_key(),
                    signer.algorithm(),
                    &message,
                    &signature,
                )?;
                let verify_time = start.elapsed();
                // The first rounds fill the caches: that is the cold path.
                if round >= 10 {
                    warm.push(attest_time);
                    verify.push(verify_time);
                }
            }
            let (w, v) = (median(warm), median(verify));
            println!(
                "{:<11} {:<8} {:>9.1?} {:>11.1?} {:>10.2}",
                backend.name(),
                key.to_string(),
                w,
                v,
                w.as_secs_f64() / v.as_secs_f64().max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(())
}
