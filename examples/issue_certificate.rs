//! Embedding the CA: create one in memory, issue a management-attestation
//! certificate from a device's PKCS#10 request, and print it.
//!
//! Run with `cargo run --example issue_certificate`.

use std::sync::Arc;

use devicetrust_pki::{
    Ca, CaConfig, IssueOptions, KeyAlgorithm, MemoryLedger, RequestBuilder, default_backend,
};

fn main() -> Result<(), devicetrust_pki::Error> {
    let backend = default_backend();
    // In a service the ledger is the store's; in memory is enough to try it.
    let ca = Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca;

    // What the device (its MDM's SCEP payload) does: a key and a request.
    let device_key = backend.generate(KeyAlgorithm::EcP256)?;
    let csr = RequestBuilder::new("CN=alice@example.com managementAttestation dev-42")
        .sign(backend.signer(&device_key)?.as_ref())?;

    let request = ca.parse_request(&csr)?;
    let cert = ca.issue(&request, &IssueOptions::default())?;
    println!("issued serial {} to {}", cert.serial()?, cert.subject());
    print!("{}", cert.to_pem()?);
    print!("{}", ca.chain_pem()?);
    Ok(())
}
