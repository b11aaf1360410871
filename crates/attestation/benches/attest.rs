//! A full desktop attestation (parse the presented leaf, build and check its
//! chain to our intermediate, revocation against the ledger and a CRL,
//! device binding, and the nonce signature), per backend and leaf key:
//!
//! - `cold`: no caches, so the leaf is parsed and the leaf's and the CRL's
//!   issuer signatures are verified every time (three verifications in all);
//! - `warm`: the caches hold the parsed leaf and those two signatures, so
//!   only the nonce signature is verified;
//! - `verify`: one plain signature verification with the same key and
//!   backend, the reference for the goal warm ≤ 1.2 × verify.
//!
//! Signing the nonce (the device's work) happens in the untimed setup.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use devicetrust_attestation::nonce::{self, NonceService};
use devicetrust_attestation::{
    Attestor, CertificateCache, Configurations, DesktopRequest, DesktopTrust, Platform,
    SignatureCache,
};
use devicetrust_pki::{
    Backend, Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, Signer,
    backends,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

struct Setup {
    leaf_der: Vec<u8>,
    signer: Box<dyn Signer>,
    cold: Attestor,
    warm: Attestor,
}

fn attestor(ca: &Ca, backend: &'static dyn Backend, cache: usize) -> Result<Attestor, String> {
    let mut trust = DesktopTrust::our_ca(ca);
    trust.set_crl(
        ca.crl(OffsetDateTime::now_utc())
            .map_err(|e| e.to_string())?,
    );
    let mut configurations = Configurations::new();
    configurations
        .add_desktop(Platform::MacOs, trust)
        .map_err(|e| e.to_string())?;
    // Room for every iteration's nonce: a full replay cache would refuse them.
    let nonces = NonceService::with_key(Zeroizing::new([9u8; 32])).with_replay_capacity(50_000_000);
    Ok(Attestor::new(configurations, backend)
        .map_err(|e| e.to_string())?
        .with_cache(SignatureCache::new(cache))
        .with_certificate_cache(CertificateCache::new(cache))
        .with_nonce_service(nonces))
}

fn setup(backend: &'static dyn Backend, key: KeyAlgorithm) -> Result<Setup, String> {
    let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
        .map_err(|e| e.to_string())?
        .ca;
    let device_key = backend.generate(key).map_err(|e| e.to_string())?;
    let signer = backend.signer(&device_key).map_err(|e| e.to_string())?;
    let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42")
        .sign(signer.as_ref())
        .map_err(|e| e.to_string())?;
    let request = ca.parse_request(&csr).map_err(|e| e.to_string())?;
    let leaf = ca
        .issue(&request, &IssueOptions::default())
        .map_err(|e| e.to_string())?;
    Ok(Setup {
        leaf_der: leaf.der().to_vec(),
        signer,
        cold: attestor(&ca, backend, 0)?,
        warm: attestor(&ca, backend, 1024)?,
    })
}

/// One attestation of the presented leaf bytes with a fresh signed nonce.
fn attest(attestor: &Attestor, leaf_der: &[u8], nonce: &str, proof: &nonce::Proof) -> bool {
    let Ok(leaf) = attestor.parse_certificate(leaf_der) else {
        return false;
    };
    attestor
        .attest_desktop(
            &DesktopRequest {
                hardware_id: None,
                platform: Platform::MacOs,
                org: "acme",
                device_id: "dev-42",
                leaf: leaf.as_ref(),
                intermediates: &[],
                nonce,
                proof,
            },
            OffsetDateTime::now_utc(),
        )
        .is_managed()
}

fn fresh(attestor: &Attestor, signer: &dyn Signer) -> (String, nonce::Proof) {
    let now = OffsetDateTime::now_utc();
    let issued = attestor
        .issue_nonce("acme", "dev-42", now)
        .map_or_else(|_| String::new(), |n| n.nonce);
    let proof = nonce::prove(signer, &issued).unwrap_or(nonce::Proof {
        algorithm: signer.algorithm(),
        signature: String::new(),
    });
    (issued, proof)
}

fn bench(c: &mut Criterion) {
    for backend in backends() {
        for (key_name, key) in [
            ("p256", KeyAlgorithm::EcP256),
            ("rsa2048", KeyAlgorithm::RSA2048),
        ] {
            let s = match setup(backend, key) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("setup failed for {} {key_name}: {e}", backend.name());
                    std::process::exit(1);
                }
            };
            // Both paths must attest, or the figures mean nothing.
            for attestor in [&s.cold, &s.warm] {
                let (n, p) = fresh(attestor, s.signer.as_ref());
                if !attest(attestor, &s.leaf_der, &n, &p) {
                    eprintln!("attestation failed for {} {key_name}", backend.name());
                    std::process::exit(1);
                }
            }
            let mut group = c.benchmark_group(format!("attest/{}/{key_name}", backend.name()));
            group.sample_size(30);
            group.measurement_time(std::time::Duration::from_secs(4));
            group.bench_function("cold", |b| {
                b.iter_batched(
                    || fresh(&s.cold, s.signer.as_ref()),
                    |(n, p)| black_box(attest(&s.cold, &s.leaf_der, &n, &p)),
                    BatchSize::SmallInput,
                );
            });
            group.bench_function("warm", |b| {
                b.iter_batched(
                    || fresh(&s.warm, s.signer.as_ref()),
                    |(n, p)| black_box(attest(&s.warm, &s.leaf_der, &n, &p)),
                    BatchSize::SmallInput,
                );
            });
            let message = nonce::signed_message("a nonce of typical length");
            let signature = s.signer.sign(&message).unwrap_or_default();
            let public = s.signer.public_key().clone();
            let algorithm = s.signer.algorithm();
            group.bench_function("verify", |b| {
                b.iter(|| {
                    black_box(
                        backend
                            .verify(&public, algorithm, &message, &signature)
                            .is_ok(),
                    )
                });
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
