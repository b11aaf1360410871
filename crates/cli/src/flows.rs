//! The flows the demo and the load command share: what an MDM does over
//! SCEP, what Okta Verify does to register, and the management proof.

use devicetrust_pki::scep::client::{Enrollment, ScepClient};
use devicetrust_pki::scep::{MessageType, ScepPolicy};
use devicetrust_pki::{Backend, Certificate, KeyAlgorithm, PrivateKey, RequestBuilder};
use serde_json::{Value, json};

use crate::CliError;
use crate::api_client::{Admin, Answer, DeviceClient};
use crate::http_transport::HttpTransport;

/// What a Mac holds after SCEP: the MDM's key and certificate.
pub(crate) struct MdmIdentity {
    pub(crate) key: PrivateKey,
    pub(crate) cert: Certificate,
    /// The leaf, then the intermediate, as PEM.
    pub(crate) chain_pem: Vec<String>,
}

/// The string at `pointer` in `v`, or empty.
pub(crate) fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn register(
    admin: &Admin,
    device: &mut DeviceClient,
    user: &str,
    profile: Value,
) -> Result<Answer, CliError> {
    let minted = admin.post(
        &format!("/api/v1/users/{user}/enrollment-tokens"),
        &json!({}),
    )?;
    let token = text(&minted.json(), "/token");
    Ok(device.register(&token, &profile, "BIOMETRIC")?)
}

/// Fetches a nonce and signs it with the SCEP certificate's key.
pub(crate) fn prove_desktop(
    backend: &'static dyn Backend,
    device: &DeviceClient,
    mdm: &MdmIdentity,
) -> Result<(Answer, Value), CliError> {
    let nonce = device.signed("POST", "/device/v1/nonce", Some(&json!({})))?;
    let nonce = text(&nonce.json(), "/nonce");
    let signer = backend.signer(&mdm.key)?;
    let proof = devicetrust_attestation::nonce::prove(signer.as_ref(), &nonce)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let body = json!({"nonce": nonce, "signature": proof.signature, "certificates": mdm.chain_pem});
    Ok((
        device.signed("POST", "/device/v1/management-proof", Some(&body))?,
        body,
    ))
}

/// What the Mac's MDM does with the SCEP payload.
pub(crate) fn scep_enroll(
    backend: &'static dyn Backend,
    url: &str,
    challenge: &str,
    udid: &str,
) -> Result<MdmIdentity, CliError> {
    let fail = |e: &dyn std::fmt::Display| CliError::Failed(e.to_string());
    let client = ScepClient::connect(HttpTransport::new(url), backend, ScepPolicy::default())
        .map_err(|e| fail(&e))?;
    let key = backend.generate(KeyAlgorithm::RSA2048)?;
    let signer = backend.signer(&key)?;
    let subject = format!("CN=alice managementAttestation {udid}");
    let csr = RequestBuilder::new(&subject)
        .challenge_password(challenge)
        .sign(signer.as_ref())?;
    let throwaway = Certificate::self_signed(&subject, signer.as_ref(), 1)?;
    match client
        .enroll(&key, &csr, &throwaway, MessageType::PkcsReq, None)
        .map_err(|e| fail(&e))?
    {
        Enrollment::Issued { certificate, .. } => {
            let mut chain_pem = vec![certificate.to_pem()?];
            for c in client.ca_certificates() {
                if c.is_ca().unwrap_or(false) && c.subject() != c.issuer() {
                    chain_pem.push(c.to_pem()?);
                }
            }
            Ok(MdmIdentity {
                key,
                cert: *certificate,
                chain_pem,
            })
        }
        other => Err(fail(&format!("not issued: {other:?}"))),
    }
}
