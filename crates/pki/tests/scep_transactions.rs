//! SCEP transactions under concurrency and restarts (issue #12, holes 4
//! and 5): copies of one PKCSReq sent at once issue exactly one
//! certificate, and every copy gets that certificate or PENDING; another key
//! with the same transaction ID is refused; a store that outlives the
//! responder answers a replay with the same certificate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use devicetrust_pki::scep::{
    Challenge, ChallengeContext, ChallengeError, ChallengeKind, ContentEncryption,
    DynamicChallenges, MemoryScepTransactions, MessageType, PkiMessage, PkiStatus, RequestMessage,
    ScepConfig, ScepPolicy, ScepService, ScepTransactions, StaticChallenge, parse_certs_only,
};
use devicetrust_pki::{
    Ca, CaConfig, Certificate, KeyAlgorithm, MemoryLedger, PrivateKey, RequestBuilder,
    default_backend,
};

const COPIES: usize = 20;

/// A challenge that takes its time, so concurrent copies of a request
/// overlap inside the window between "known transaction?" and issuance.
#[derive(Debug)]
struct Slow(Arc<dyn Challenge>);

impl Challenge for Slow {
    fn kind(&self) -> ChallengeKind {
        self.0.kind()
    }

    fn verify(&self, ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError> {
        std::thread::sleep(Duration::from_millis(50));
        self.0.verify(ctx)
    }
}

struct World {
    ca: Arc<Ca>,
    ledger: Arc<MemoryLedger>,
    ra_key: PrivateKey,
    ra_cert: Certificate,
}

fn world() -> World {
    let backend = default_backend();
    let ledger = Arc::new(MemoryLedger::new());
    let ca = Arc::new(
        Ca::create(CaConfig::default(), backend, ledger.clone())
            .unwrap()
            .ca,
    );
    let ra_key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=SCEP RA").unwrap();
    World {
        ca,
        ledger,
        ra_key,
        ra_cert,
    }
}

impl World {
    fn service(&self, challenge: Arc<dyn Challenge>, config: ScepConfig) -> ScepService {
        ScepService::new(
            self.ca.clone(),
            self.ra_cert.clone(),
            &self.ra_key,
            challenge,
            config,
        )
        .unwrap()
    }

    fn issued(&self) -> usize {
        self.ledger.snapshot().unwrap().certificates.len()
    }
}

struct Device {
    key: PrivateKey,
    cert: Certificate,
}

fn device() -> Device {
    let backend = default_backend();
    let key = backend.generate(KeyAlgorithm::RSA2048).unwrap();
    let cert =
        Certificate::self_signed("CN=device", backend.signer(&key).unwrap().as_ref(), 1).unwrap();
    Device { key, cert }
}

fn request(
    service: &ScepService,
    d: &Device,
    message_type: MessageType,
    transaction_id: &str,
    challenge: Option<&str>,
) -> Vec<u8> {
    let signer = default_backend().signer(&d.key).unwrap();
    let mut builder = RequestBuilder::new("CN=device");
    if let Some(c) = challenge {
        builder = builder.challenge_password(c);
    }
    let csr = builder.sign(signer.as_ref()).unwrap();
    RequestMessage {
        message_type,
        transaction_id,
        payload: &csr,
        recipient: service.ra_certificate(),
        encryption: ContentEncryption::Aes256Cbc,
        signer_cert: &d.cert,
        signer: signer.as_ref(),
    }
    .encode()
    .unwrap()
    .0
}

/// The reply's status, failure text and certificate.
fn answer(
    service: &ScepService,
    d: &Device,
    body: &[u8],
) -> (PkiStatus, Option<String>, Option<Certificate>) {
    let reply = service.pki_operation(body).unwrap();
    let policy = ScepPolicy::default();
    let rep = PkiMessage::decode(&reply, &policy, default_backend()).unwrap();
    let status = rep.pki_status.unwrap();
    let cert = (status == PkiStatus::Success).then(|| {
        let decrypter = default_backend().decrypter(&d.key).unwrap();
        let (inner, _) = rep.decrypt(&d.cert, decrypter.as_ref(), &policy).unwrap();
        parse_certs_only(&inner).unwrap().remove(0)
    });
    (status, rep.fail_info_text.clone(), cert)
}

/// Sends `body` `COPIES` times at once; asserts one certificate was issued
/// and every reply is it or PENDING, then that a CertPoll hands it out.
fn copies_issue_one_certificate(w: &World, service: &ScepService, d: &Device, body: &[u8]) {
    let before = w.issued();
    let barrier = Barrier::new(COPIES);
    let replies: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..COPIES)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    answer(service, d, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(w.issued(), before + 1, "exactly one certificate issued");
    let mut issued: Option<Certificate> = None;
    for (status, text, cert) in replies {
        match status {
            PkiStatus::Success => {
                let cert = cert.unwrap();
                if let Some(first) = &issued {
                    assert_eq!(
                        first.der(),
                        cert.der(),
                        "every SUCCESS is the same certificate"
                    );
                }
                issued = Some(cert);
            }
            PkiStatus::Pending => {}
            other => panic!("copy answered {other:?}: {text:?}"),
        }
    }
    let poll = request(service, d, MessageType::CertPoll, "tx-race", None);
    let (status, text, polled) = answer(service, d, &poll);
    assert_eq!(status, PkiStatus::Success, "{text:?}");
    let polled = polled.unwrap();
    assert_eq!(polled.public_key(), d.key.public_key());
    if let Some(issued) = issued {
        assert_eq!(issued.der(), polled.der());
    }
    // A resend after the fact gets the same certificate again.
    let (status, _, again) = answer(service, d, body);
    assert_eq!(status, PkiStatus::Success);
    assert_eq!(again.unwrap().der(), polled.der());
    assert_eq!(w.issued(), before + 1);
}

#[test]
fn concurrent_copies_with_a_static_challenge_issue_one_certificate() {
    let w = world();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let service = w.service(Arc::new(Slow(Arc::new(challenge))), ScepConfig::default());
    let d = device();
    let body = request(&service, &d, MessageType::PkcsReq, "tx-race", Some(&secret));
    copies_issue_one_certificate(&w, &service, &d, &body);
}

#[test]
fn concurrent_copies_with_a_dynamic_challenge_issue_one_certificate() {
    let w = world();
    let (dynamic, _) =
        DynamicChallenges::generate(DynamicChallenges::DEFAULT_VALIDITY, 16).unwrap();
    let dynamic = Arc::new(dynamic);
    let service = w.service(Arc::new(Slow(dynamic.clone())), ScepConfig::default());
    let challenge = dynamic.issue(time::OffsetDateTime::now_utc()).unwrap();
    let d = device();
    let body = request(
        &service,
        &d,
        MessageType::PkcsReq,
        "tx-race",
        Some(&challenge),
    );
    copies_issue_one_certificate(&w, &service, &d, &body);
}

#[test]
fn another_key_with_a_transaction_in_progress_is_refused() {
    let w = world();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let service = w.service(Arc::new(Slow(Arc::new(challenge))), ScepConfig::default());
    let first = device();
    let second = device();
    let first_body = request(
        &service,
        &first,
        MessageType::PkcsReq,
        "tx-race",
        Some(&secret),
    );
    let second_body = request(
        &service,
        &second,
        MessageType::PkcsReq,
        "tx-race",
        Some(&secret),
    );
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| answer(&service, &first, &first_body));
        // Inside the first request's slow challenge check.
        std::thread::sleep(Duration::from_millis(20));
        let b = scope.spawn(|| answer(&service, &second, &second_body));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.0, PkiStatus::Success);
    assert_eq!(b.0, PkiStatus::Failure);
    assert!(b.1.unwrap().contains("different key"));
    assert_eq!(
        w.issued(),
        2,
        "the RA certificate and one device certificate"
    );
}

#[test]
fn concurrent_approvals_issue_one_certificate() {
    let w = world();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let service = w.service(
        Arc::new(challenge),
        ScepConfig {
            manual_approval: true,
            ..ScepConfig::default()
        },
    );
    let d = device();
    let body = request(&service, &d, MessageType::PkcsReq, "tx-race", Some(&secret));
    assert_eq!(answer(&service, &d, &body).0, PkiStatus::Pending);
    let before = w.issued();
    let approved = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| service.approve("tx-race").is_ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(approved, 1);
    assert_eq!(w.issued(), before + 1);
    assert!(service.reject("tx-race", "too late").is_err());
}

#[test]
fn a_store_that_outlives_the_responder_answers_a_replay_with_the_same_certificate() {
    let w = world();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let challenge: Arc<dyn Challenge> = Arc::new(challenge);
    let store: Arc<dyn ScepTransactions> = Arc::new(MemoryScepTransactions::new());
    let d = device();
    let first = w
        .service(challenge.clone(), ScepConfig::default())
        .with_transactions(store.clone());
    let body = request(&first, &d, MessageType::PkcsReq, "tx-replay", Some(&secret));
    let (status, _, cert) = answer(&first, &d, &body);
    assert_eq!(status, PkiStatus::Success);
    drop(first);
    let issued = w.issued();

    let restarted = w
        .service(challenge, ScepConfig::default())
        .with_transactions(store);
    let (status, _, again) = answer(&restarted, &d, &body);
    assert_eq!(status, PkiStatus::Success);
    assert_eq!(again.unwrap().der(), cert.unwrap().der());
    assert_eq!(w.issued(), issued, "nothing issued for the replay");
}

#[test]
fn an_unavailable_validator_releases_the_claim() {
    #[derive(Debug)]
    struct Flaky(std::sync::atomic::AtomicBool);
    impl Challenge for Flaky {
        fn kind(&self) -> ChallengeKind {
            ChallengeKind::Intune
        }
        fn verify(&self, _ctx: &ChallengeContext<'_>) -> Result<(), ChallengeError> {
            if self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                Ok(())
            } else {
                Err(ChallengeError::Unavailable("down".into()))
            }
        }
    }
    let w = world();
    let service = w.service(
        Arc::new(Flaky(std::sync::atomic::AtomicBool::new(false))),
        ScepConfig::default(),
    );
    let d = device();
    let body = request(&service, &d, MessageType::PkcsReq, "tx-flaky", Some("x"));
    assert_eq!(answer(&service, &d, &body).0, PkiStatus::Failure);
    assert_eq!(
        answer(&service, &d, &body).0,
        PkiStatus::Success,
        "asked again"
    );
}

#[test]
fn a_pending_request_outlives_the_responder_and_is_approved_after() {
    let w = world();
    let (challenge, secret) = StaticChallenge::generate().unwrap();
    let challenge: Arc<dyn Challenge> = Arc::new(challenge);
    let store: Arc<dyn ScepTransactions> = Arc::new(MemoryScepTransactions::new());
    let held = ScepConfig {
        manual_approval: true,
        ..ScepConfig::default()
    };
    let d = device();
    let first = w
        .service(challenge.clone(), held.clone())
        .with_transactions(store.clone());
    let body = request(&first, &d, MessageType::PkcsReq, "tx-held", Some(&secret));
    assert_eq!(answer(&first, &d, &body).0, PkiStatus::Pending);
    drop(first);

    let restarted = w.service(challenge, held).with_transactions(store);
    let pending = restarted.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].transaction_id, "tx-held");
    assert_eq!(pending[0].subject, "CN=device");
    let approved = restarted.approve("tx-held").unwrap();
    let poll = request(&restarted, &d, MessageType::CertPoll, "tx-held", None);
    let (status, _, cert) = answer(&restarted, &d, &poll);
    assert_eq!(status, PkiStatus::Success);
    assert_eq!(cert.unwrap().der(), approved.der());
    assert!(restarted.pending().unwrap().is_empty());
}
