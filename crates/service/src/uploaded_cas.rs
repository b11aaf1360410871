//! Uploaded CAs ("use my own CA"): org-wide, trusted by every desktop
//! integration with `ca: UPLOADED`. Each is checked by the attestation
//! crate's upload rules, saved as PEM in the settings file, and added to
//! (or removed from) those integrations' trust at once, under the
//! attestor's write lock like every integration change.

use devicetrust_attestation::upload::check_upload;
use devicetrust_attestation::{CaDetails, ConfigurationId, DesktopTrust};
use devicetrust_pki::Certificate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Service;
use super::admin_audit::{self, AdminEvent};
use super::integrations::{
    INTEGRATIONS, IntegrationError, IntegrationKind, StoredIntegration, integrations, invalid,
    write_attestor,
};
use super::settings::Settings;
use crate::DataError;

const CAS: &str = "certificateAuthorities";

/// The most uploaded CAs kept: attestation tries each on every desktop check.
pub const MAX_CAS: usize = 100;

/// One uploaded CA as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCa {
    /// Its ID: derived from its fingerprint, so the same certificate keeps it.
    pub id: String,
    /// The certificate, PEM.
    pub pem: String,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl StoredCa {
    /// The certificate's details.
    pub fn details(&self) -> Result<CaDetails, DataError> {
        let cert = Certificate::parse(self.pem.as_bytes())?;
        Ok(CaDetails::of(&cert))
    }
}

/// The uploaded CAs, in upload order.
pub fn cas(settings: &Settings) -> Result<Vec<StoredCa>, DataError> {
    settings.section(CAS)
}

/// A "use my own CA" trust holding every uploaded CA.
pub(super) fn uploaded_trust(cas: &[StoredCa]) -> Result<DesktopTrust, DataError> {
    let mut trust = DesktopTrust::uploaded();
    for ca in cas {
        trust.upload(ca.pem.as_bytes()).map_err(invalid)?;
    }
    Ok(trust)
}

/// The attestation configurations of the saved "use my own CA" integrations.
fn uploaded_ids(all: &[StoredIntegration]) -> impl Iterator<Item = ConfigurationId> + '_ {
    all.iter()
        .filter(|i| i.kind == IntegrationKind::Uploaded)
        .map(|i| ConfigurationId(i.configuration_id))
}

/// Refuses a write computed from `read` when another process changed the
/// uploaded CAs or the integrations since: its result would drop that change.
fn unchanged_since(current: &Settings, read: &Settings) -> Result<(), IntegrationError> {
    for (section, what) in [
        (CAS, "certificate authorities"),
        (INTEGRATIONS, "integrations"),
    ] {
        if current.sections.get(section) != read.sections.get(section) {
            return Err(IntegrationError::Raced { what });
        }
    }
    Ok(())
}

impl Service {
    /// Uploads CA certificates (PEM or DER, checked by
    /// [`check_upload`]); every "use my own CA" integration trusts them at
    /// once. Returns each certificate's record and whether it was new.
    pub fn upload_ca(
        &self,
        input: &[u8],
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<(StoredCa, bool)>, IntegrationError> {
        let certs = check_upload(input)?;
        // Computed from what the store holds now; the write checks it still does.
        self.sync()?;
        let mut attestor = write_attestor(self);
        let settings = self.settings.read();
        let mut saved = cas(&settings)?;
        let mut next = attestor.configurations().clone();
        let uploaded = integrations(&settings)?;
        let mut out = Vec::with_capacity(certs.len());
        let mut events = Vec::new();
        for cert in &certs {
            let fingerprint = cert.fingerprint().to_ascii_lowercase();
            let id = format!("ca{}", fingerprint.get(..20).unwrap_or(&fingerprint));
            if let Some(existing) = saved.iter().find(|c| c.id == id) {
                out.push((existing.clone(), false));
                continue;
            }
            if saved.len() >= MAX_CAS {
                return Err(IntegrationError::Invalid(format!(
                    "at most {MAX_CAS} CAs can be uploaded; delete one first"
                )));
            }
            let pem = cert.to_pem().map_err(DataError::from)?;
            for config in uploaded_ids(&uploaded) {
                next.desktop_mut(config)?.upload(pem.as_bytes())?;
            }
            let stored = StoredCa {
                id: id.clone(),
                pem,
                created: now,
            };
            events.push(
                AdminEvent::new(now, actor, "pki.ca.upload", "CertificateAuthority", &id)?
                    .with_details(serde_json::json!({
                        "subject": cert.subject().to_string(),
                        "sha256": fingerprint,
                    })),
            );
            saved.push(stored.clone());
            out.push((stored, true));
        }
        if !events.is_empty() {
            self.settings.update_with(|s| {
                unchanged_since(s, &settings)?;
                s.set_section(CAS, &saved)?;
                events
                    .into_iter()
                    .try_for_each(|e| admin_audit::push(s, e))
                    .map_err(IntegrationError::from)
            })?;
            *attestor.configurations_mut() = next;
        }
        Ok(out)
    }
}

impl Service {
    /// Deletes an uploaded CA: no integration trusts it any more.
    pub fn delete_ca(
        &self,
        id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), IntegrationError> {
        self.sync()?;
        let mut attestor = write_attestor(self);
        let settings = self.settings.read();
        let mut saved = cas(&settings)?;
        let position =
            saved
                .iter()
                .position(|c| c.id == id)
                .ok_or_else(|| IntegrationError::NotFound {
                    what: "CertificateAuthority",
                    id: id.to_owned(),
                })?;
        let removed = saved.remove(position);
        let fingerprint = removed.details()?.fingerprint;
        let mut next = attestor.configurations().clone();
        for config in uploaded_ids(&integrations(&settings)?) {
            next.desktop_mut(config)?.remove(&fingerprint);
        }
        let audit = AdminEvent::new(now, actor, "pki.ca.delete", "CertificateAuthority", id)?;
        self.settings.update_with(|s| {
            unchanged_since(s, &settings)?;
            s.set_section(CAS, &saved)?;
            admin_audit::push(s, audit).map_err(IntegrationError::from)
        })?;
        *attestor.configurations_mut() = next;
        Ok(())
    }
}

impl Service {
    /// An uploaded CA by ID.
    pub fn uploaded_ca(&self, id: &str) -> Result<StoredCa, IntegrationError> {
        cas(&self.settings.read())?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| IntegrationError::NotFound {
                what: "CertificateAuthority",
                id: id.to_owned(),
            })
    }
}

/// The certificate authority use cases that read.
impl Service {
    /// Every uploaded CA.
    pub fn list_cas(&self) -> Result<Vec<StoredCa>, DataError> {
        cas(&self.settings.read())
    }

    /// Our issuing (intermediate) CA certificate, PEM.
    pub fn intermediate_pem(&self) -> Result<String, devicetrust_pki::Error> {
        self.ca.intermediate().to_pem()
    }

    /// Our current CRL, DER: re-signed when a revocation or its next update
    /// makes the cached one stale.
    pub fn current_crl(
        &self,
        now: time::OffsetDateTime,
    ) -> Result<std::sync::Arc<Vec<u8>>, DataError> {
        self.crl.current(&self.ca, &self.store, now)
    }
}
