//! The current CRL, kept in the store beside the CRL number, so that every
//! process on the database (the service, the CLI, a replica) serves the same
//! CRL. It is re-signed only when the revoked set changes or it nears its
//! next update, so the public `/pki/crl` does not sign and spend a CRL
//! number on every request.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use devicetrust_pki::{Ca, Revocation, SerialNumber};
use devicetrust_store::{Database, SettingsDocument, Store as _};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::DataError;

/// A CRL is re-signed once it is this old, well before its next update.
const REFRESH_AFTER: Duration = Duration::hours(1);
/// The store document holding the current CRL.
const DOCUMENT: &str = "pki.currentCrl";

/// The current CRL as stored.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCrl {
    /// The CRL, DER in base64.
    der: String,
    /// SHA-256 (hex) of the revocations it lists.
    revoked: String,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    signed: OffsetDateTime,
}

#[derive(Debug)]
struct Cached {
    revision: i64,
    der: Arc<Vec<u8>>,
    /// The revocations it lists, compared as they are on the fast path (the
    /// digest is only for the stored copy).
    revoked: Vec<(SerialNumber, Revocation)>,
    signed: OffsetDateTime,
}

/// This process's copy of the stored current CRL.
#[derive(Debug, Default)]
pub struct CrlCache {
    current: Mutex<Option<Cached>>,
}

use crate::settings::storage;

fn internal(e: &dyn std::fmt::Display) -> DataError {
    DataError::File {
        path: DOCUMENT.into(),
        reason: e.to_string(),
    }
}

fn revoked_digest(revoked: &[(SerialNumber, Revocation)]) -> Result<String, DataError> {
    let json = serde_json::to_vec(revoked).map_err(|e| internal(&e))?;
    Ok(hex::encode(Sha256::digest(json)))
}

/// How far after a request's `now` a stored CRL may have been signed and
/// still be served to it: requests take `now` before they queue for the
/// write lock, so the CRL the one ahead just signed is a little younger.
const SIGNED_AFTER_NOW: Duration = Duration::seconds(5);

fn fresh(signed: OffsetDateTime, now: OffsetDateTime) -> bool {
    signed - now <= SIGNED_AFTER_NOW && now - signed < REFRESH_AFTER
}

impl CrlCache {
    /// The current CRL (DER): the stored one while it lists exactly the
    /// ledger's revocations and is fresh, else a newly signed one, stored
    /// for every process. Costs one revision read when nothing changed.
    pub fn current(
        &self,
        ca: &Ca,
        store: &Database,
        now: OffsetDateTime,
    ) -> Result<Arc<Vec<u8>>, DataError> {
        let revoked = ca
            .ledger()
            .revoked(now)
            .map_err(devicetrust_pki::Error::from)?;
        let revision = store
            .settings_revision(DOCUMENT)
            .map_err(storage)?
            .unwrap_or(0);
        let mut slot = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = slot.as_ref()
            && cached.revision == revision
            && cached.revoked == revoked
            && fresh(cached.signed, now)
        {
            return Ok(cached.der.clone());
        }
        let digest = revoked_digest(&revoked)?;
        // Re-signed in the transaction that stores it, under the store's
        // write lock: one process (replica) signs at a time, and one that
        // waited finds the CRL the other stored and serves it, spending no
        // CRL number. The revoked set is read again under the lock.
        let signed = store
            .write(|tx| {
                if let Some(document) = tx.settings_document(DOCUMENT)?
                    && let Ok(crl) = serde_json::from_str::<StoredCrl>(&document.body)
                    && crl.revoked == digest
                    && fresh(crl.signed, now)
                    && let Ok(der) = STANDARD.decode(&crl.der)
                {
                    return Ok(Ok((document.revision, der, revoked.clone(), crl.signed)));
                }
                let revoked = tx.ledger_revoked(now)?;
                let number = tx.ledger_next_crl_number()?;
                let crl = match ca.sign_crl(now, number, &revoked) {
                    Ok(crl) => crl,
                    Err(e) => return Ok(Err(DataError::from(e))),
                };
                let body = match revoked_digest(&revoked).and_then(|digest| {
                    serde_json::to_string(&StoredCrl {
                        der: STANDARD.encode(crl.der()),
                        revoked: digest,
                        signed: now,
                    })
                    .map_err(|e| internal(&e))
                }) {
                    Ok(body) => body,
                    Err(e) => return Ok(Err(e)),
                };
                let revision = tx
                    .settings_revision(DOCUMENT)?
                    .unwrap_or(0)
                    .saturating_add(1);
                tx.put_settings_document(DOCUMENT, &SettingsDocument { revision, body })?;
                Ok(Ok((revision, crl.der().to_vec(), revoked, now)))
            })
            .map_err(storage)??;
        let (revision, der, revoked, signed) = signed;
        let der = Arc::new(der);
        *slot = Some(Cached {
            revision,
            der: der.clone(),
            revoked,
            signed,
        });
        Ok(der)
    }
}
