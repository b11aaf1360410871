//! Recording a device's management proof, in one transaction with what it
//! binds: the management certificate to the device (so one certificate
//! proves for one device only), and a certificate our CA issued to the
//! device's ledger entries (so deactivating the device revokes it).

use devicetrust_devices::{DeviceId, DeviceStatus, OrgId};
use devicetrust_pki::SerialNumber;

use crate::device_api::{ManagementProof, ProofReason};
use crate::{Registry, Result, Store, Tx};

/// The certificate a desktop proof was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvingCertificate {
    /// Hex SHA-256 of the leaf's DER.
    pub sha256: String,
    /// Its serial, when our CA issued it (another CA's serial could collide with ours).
    pub our_serial: Option<SerialNumber>,
}

/// The reason kind of a certificate that already proved for another device.
pub const BOUND_ELSEWHERE: &str = "certificate_bound_to_another_device";

impl<S: Store> Registry<S> {
    /// Records `proof` as `device`'s latest management proof, made over a
    /// request signed by the key `signing_key_spki_hex`. A successful
    /// desktop proof binds its certificate to the device: a certificate
    /// that already proved for another device is refused (the proof is
    /// recorded as failed), whether or not it names a device. All in one
    /// transaction; returns the proof as recorded, or `None` when the
    /// device's key was retired or replaced meanwhile (nothing is recorded:
    /// what a retired key proves does not count).
    pub fn record_management_proof(
        &self,
        org: &OrgId,
        device: &DeviceId,
        signing_key_spki_hex: &str,
        mut proof: ManagementProof,
        certificate: Option<&ProvingCertificate>,
    ) -> Result<Option<ManagementProof>> {
        self.store().write(|tx| {
            let current = tx.device_key(org, device)?;
            if current.is_none_or(|k| k.spki_hex != signing_key_spki_hex) {
                return Ok(None);
            }
            let active = tx
                .device(org, device)?
                .is_some_and(|d| d.status == DeviceStatus::Active);
            if proof.managed && !active {
                fail(
                    &mut proof,
                    "device_not_active",
                    "the device is not ACTIVE".into(),
                );
            }
            if proof.managed
                && let Some(cert) = certificate
            {
                bind(tx, org, device, cert, &mut proof)?;
            }
            tx.put_management_proof(org, device, &proof)?;
            Ok(Some(proof))
        })
    }
}

fn bind(
    tx: &mut dyn Tx,
    org: &OrgId,
    device: &DeviceId,
    cert: &ProvingCertificate,
    proof: &mut ManagementProof,
) -> Result<()> {
    match tx.certificate_device(org, &cert.sha256)? {
        Some(bound) if bound != *device => {
            fail(
                proof,
                BOUND_ELSEWHERE,
                format!("this certificate already proved management for device {bound}"),
            );
            return Ok(());
        }
        Some(_) => {}
        None => tx.bind_certificate_to_device(org, &cert.sha256, device)?,
    }
    // Bind our CA's certificate to the device so deactivation revokes it. A
    // certificate not in our ledger has nothing for us to revoke.
    if let Some(serial) = &cert.our_serial
        && tx.ledger_get(serial)?.is_some()
    {
        tx.bind_certificate(org, device, serial)?;
    }
    Ok(())
}

fn fail(proof: &mut ManagementProof, kind: &str, message: String) {
    proof.managed = false;
    proof.configuration_id = None;
    proof.reasons.push(ProofReason {
        kind: kind.to_owned(),
        message,
    });
}
