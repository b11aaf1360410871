//! Mounting the SCEP router in your own axum app: your routes and a SCEP
//! endpoint with a static challenge, on one listener. The example serves on
//! a loopback port, asks its own SCEP endpoint for its capabilities and CA
//! certificates, and stops.
//!
//! Run with `cargo run --example mount_scep_router`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use devicetrust_pki::scep::{ScepConfig, ScepService, StaticChallenge, parse_certs_only};
use devicetrust_pki::{Ca, CaConfig, KeyAlgorithm, MemoryLedger, default_backend};
use devicetrust_server::scep_router;
use devicetrust_service::{ScepEndpoint, ScepEndpoints};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = default_backend();
    let ca = Arc::new(Ca::create(CaConfig::default(), backend, Arc::new(MemoryLedger::new()))?.ca);
    // SCEP envelopes are RSA key transport: the RA decrypts, whatever the CA's key type.
    let ra_key = backend.generate(KeyAlgorithm::RSA2048)?;
    let ra_cert = ca.issue_ra_certificate(&ra_key, "CN=My SCEP RA")?;
    let (challenge, secret) = StaticChallenge::generate()?;
    let endpoints = Arc::new(ScepEndpoints::new());
    endpoints.insert(ScepEndpoint {
        id: "macos".into(),
        service: ScepService::new(
            ca,
            ra_cert,
            &ra_key,
            Arc::new(challenge),
            ScepConfig::default(),
        )?,
        dynamic: None,
    });
    println!("give the MDM the secret once: {} characters", secret.len());

    let app = Router::new()
        .route("/my-app/health", get(|| async { "mine" }))
        .merge(scep_router(endpoints));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/scep/macos/pkiclient.exe", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // What an MDM asks first. ureq is blocking, so it runs off the runtime.
    let (caps, certs) = tokio::task::spawn_blocking(move || -> Result<_, ureq::Error> {
        let caps = ureq::get(&format!("{url}?operation=GetCACaps"))
            .call()?
            .body_mut()
            .read_to_string()?;
        let certs = ureq::get(&format!("{url}?operation=GetCACert"))
            .call()?
            .body_mut()
            .read_to_vec()?;
        Ok((caps, certs))
    })
    .await??;
    println!(
        "GetCACaps: {}",
        caps.split_whitespace().collect::<Vec<_>>().join(", ")
    );
    for cert in parse_certs_only(&certs)? {
        println!("GetCACert: {}", cert.subject());
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}
