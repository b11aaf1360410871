//! SCEP figures, per crypto backend: one PKCSReq handled in process by
//! `ScepService::pki_operation`, end to end: decode the SignedData, verify the
//! requester's signature, decrypt the envelope (RSA-2048 RA), parse and
//! verify the PKCS#10, check the static challenge, issue (P-256 CA, as
//! `devicetrust serve` creates), record, and encode the signed, encrypted
//! CertRep.
//!
//! Every iteration must be a new enrollment: the service remembers
//! transaction IDs and answers a resend from memory without issuing. So the
//! requests are built before the clock starts, one per iteration, each with
//! its own transaction ID (`iter_custom`); they share the device key and
//! CSR, which the service allows (only a transaction ID reused with a
//! *different* key is refused), and the static challenge may be used any
//! number of times. Building a request costs the device an RSA signature,
//! which stays out of the timed loop.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use devicetrust_pki::scep::{
    ContentEncryption, MessageType, PkiMessage, PkiStatus, RequestMessage, ScepConfig, ScepService,
    StaticChallenge,
};
use devicetrust_pki::{
    Backend, Ca, CaConfig, Certificate, KeyAlgorithm, MemoryLedger, PrivateKey, RequestBuilder,
    Signer, backends,
};

struct Setup {
    backend: &'static dyn Backend,
    service: ScepService,
    device_cert: Certificate,
    device_signer: Box<dyn Signer>,
    csr: Vec<u8>,
}

#[expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]
fn setup(backend: &'static dyn Backend) -> Setup {
    let ca = Arc::new(
        Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))
            .expect("ca")
            .ca,
    );
    let ra_key = backend.generate(KeyAlgorithm::RSA2048).expect("ra key");
    let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=SCEP RA").expect("ra");
    let (challenge, secret) = StaticChallenge::generate().expect("challenge");
    let service = ScepService::new(
        ca,
        ra_cert,
        &ra_key,
        Arc::new(challenge),
        ScepConfig::default(),
    )
    .expect("service");
    let device: PrivateKey = backend.generate(KeyAlgorithm::RSA2048).expect("device key");
    let device_signer = backend.signer(&device).expect("signer");
    let device_cert =
        Certificate::self_signed("CN=device", device_signer.as_ref(), 1).expect("self-signed");
    let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-1")
        .challenge_password(&secret)
        .sign(device_signer.as_ref())
        .expect("csr");
    Setup {
        backend,
        service,
        device_cert,
        device_signer,
        csr,
    }
}

impl Setup {
    #[expect(
        clippy::expect_used,
        reason = "a bench that cannot set up should stop loudly"
    )]
    fn request(&self, n: u64) -> Vec<u8> {
        RequestMessage {
            message_type: MessageType::PkcsReq,
            transaction_id: &format!("bench-{n:016}"),
            payload: &self.csr,
            recipient: self.service.ra_certificate(),
            encryption: ContentEncryption::Aes128Cbc,
            signer_cert: &self.device_cert,
            signer: self.device_signer.as_ref(),
        }
        .encode()
        .expect("request")
        .0
    }
}

#[expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]
fn pki_operation(c: &mut Criterion) {
    for backend in backends() {
        let setup = setup(backend);
        // Once outside the clock: the reply really is a SUCCESS.
        let reply = setup
            .service
            .pki_operation(&setup.request(u64::MAX))
            .expect("reply");
        let rep = PkiMessage::decode(&reply, &setup.service.config().policy, setup.backend)
            .expect("CertRep");
        assert_eq!(rep.pki_status, Some(PkiStatus::Success));
        let mut next = 0u64;
        c.bench_function(&format!("scep_pkcsreq/{}", backend.name()), |b| {
            b.iter_custom(|iters| {
                let requests: Vec<Vec<u8>> = (0..iters).map(|i| setup.request(next + i)).collect();
                next += iters;
                let start = Instant::now();
                for request in &requests {
                    black_box(
                        setup
                            .service
                            .pki_operation(black_box(request))
                            .expect("reply"),
                    );
                }
                start.elapsed()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = pki_operation
}
criterion_main!(benches);
