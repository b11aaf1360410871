//! Driving the device lifecycle on your own store: Okta Verify enrolls a
//! device, the CA issues it a certificate, and an admin suspends and then
//! deactivates it. Each transition's effects (sessions ended, certificates
//! revoked) commit with it and are audited.
//!
//! Run with `cargo run --example device_lifecycle`.

use std::sync::Arc;

use devicetrust_devices::{
    Actor, AuditQuery, DeviceProfile, EnrollmentRequest, Operation, OrgId, Platform, SessionMethod,
    UserId,
};
use devicetrust_pki::{Ca, CaConfig, IssueOptions, KeyAlgorithm, RequestBuilder, default_backend};
use devicetrust_store::{Registry, SqliteStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    // One SQLite file is both the registry and the CA's issuance ledger, so a
    // deactivation and the revocations it causes commit together.
    let store = Arc::new(SqliteStore::open(&dir.path().join("devices.sqlite3"))?);
    let backend = default_backend();
    let ca = Ca::create(CaConfig::default(), backend, store.clone())?.ca;
    let registry = Registry::new(store);
    let (org, admin) = (OrgId::new("acme")?, Actor::new("admin@acme")?);
    let now = time::OffsetDateTime::now_utc();

    let alice = UserId::new("alice")?;
    let mut profile = DeviceProfile::new("alice's MacBook", Platform::Macos);
    profile.udid = Some("F1C2-8A7B".into());
    let device = registry.enroll(
        &org,
        &admin,
        &EnrollmentRequest::new(alice.clone(), profile),
        now,
    )?;
    println!("enrolled {} ({:?})", device.id, device.status);

    let key = backend.generate(KeyAlgorithm::EcP256)?;
    let csr = RequestBuilder::new("CN=alice managementAttestation F1C2-8A7B")
        .sign(backend.signer(&key)?.as_ref())?;
    let cert = ca.issue(&ca.parse_request(&csr)?, &IssueOptions::default())?;
    registry.bind_certificate(&org, &device.id, &cert.serial()?)?;
    registry.sign_in(&org, &device.id, &alice, SessionMethod::OktaVerify, now)?;

    for operation in [
        Operation::Suspend,
        Operation::Unsuspend,
        Operation::Deactivate,
    ] {
        let out = registry.transition(&org, &admin, &device.id, operation, now)?;
        let status = out.device.map(|d| d.status);
        println!("{operation:?} -> {status:?}");
        for applied in &out.event.effects {
            println!(
                "  {:?}: {} session(s), {} certificate(s)",
                applied.effect,
                applied.sessions.len(),
                applied.certificates.len()
            );
        }
    }
    let crl = ca.crl(now)?;
    println!("the CRL now lists {} certificate(s)", crl.len());
    assert!(
        crl.revocation(&cert.serial()?).is_some(),
        "deactivation revokes"
    );

    registry.transition(&org, &admin, &device.id, Operation::Delete, now)?;
    let query = AuditQuery {
        device_id: Some(device.id.clone()),
        limit: 100,
        ..AuditQuery::default()
    };
    for event in registry.audit(&org, &query)? {
        println!(
            "audit #{}: {:?} by {} -> {:?}",
            event.seq, event.action, event.actor, event.outcome
        );
    }
    Ok(())
}
