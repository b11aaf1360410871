//! PKI figures, per crypto backend: P-256 and RSA-2048 sign and verify, and
//! issuing one client certificate from a PKCS#10 request (parse, verify the
//! request's signature, build, sign, parse back, record in the ledger).
//!
//! `scripts/bench-vs-openssl` runs this and `openssl speed` in one sitting
//! and prints the README's ratio table.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use devicetrust_pki::{
    Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, backends,
};

const MESSAGE: &[u8] = b"devicetrust benchmark message: 64 bytes, about a nonce and more.";

#[expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]
fn sign_verify(c: &mut Criterion) {
    for backend in backends() {
        for key_type in [KeyAlgorithm::EcP256, KeyAlgorithm::RSA2048] {
            let key = backend.generate(key_type).expect("key generation");
            let signer = backend.signer(&key).expect("signer");
            let signature = signer.sign(MESSAGE).expect("sign");
            let alg = signer.algorithm();
            c.bench_function(&format!("sign/{key_type}/{}", backend.name()), |b| {
                b.iter(|| signer.sign(black_box(MESSAGE)).expect("sign"))
            });
            c.bench_function(&format!("verify/{key_type}/{}", backend.name()), |b| {
                b.iter(|| {
                    backend
                        .verify(
                            key.public_key(),
                            alg,
                            black_box(MESSAGE),
                            black_box(&signature),
                        )
                        .expect("verify")
                })
            });
        }
    }
}

#[expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]
fn issue(c: &mut Criterion) {
    for backend in backends() {
        for ca_key in [KeyAlgorithm::EcP256, KeyAlgorithm::RSA2048] {
            let config = CaConfig {
                key: ca_key,
                ..CaConfig::default()
            };
            let ca = Ca::create(config, backend, Arc::new(MemoryLedger::new()))
                .expect("ca")
                .ca;
            let device = backend.generate(KeyAlgorithm::EcP256).expect("device key");
            let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-1")
                .sign(backend.signer(&device).expect("signer").as_ref())
                .expect("csr");
            c.bench_function(&format!("issue/{ca_key}/{}", backend.name()), |b| {
                b.iter(|| {
                    let request = ca.parse_request(black_box(&csr)).expect("request");
                    ca.issue(&request, &IssueOptions::default()).expect("issue")
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = sign_verify, issue
}
criterion_main!(benches);
