//! The current CRL, re-signed only when the revoked set changes (or it
//! nears its next update), so that the public `/pki/crl` does not sign and
//! spend a CRL number on every request.

use std::sync::{Arc, Mutex};

use devicetrust_pki::{Ca, Revocation, SerialNumber};
use time::{Duration, OffsetDateTime};

/// A cached CRL is re-signed once it is this old, well before its next update.
const REFRESH_AFTER: Duration = Duration::hours(1);

#[derive(Debug)]
struct Cached {
    der: Arc<Vec<u8>>,
    revoked: Vec<(SerialNumber, Revocation)>,
    signed: OffsetDateTime,
}

/// The last CRL signed, and the revocations it lists.
#[derive(Debug, Default)]
pub struct CrlCache {
    current: Mutex<Option<Cached>>,
}

impl CrlCache {
    /// The current CRL (DER): the cached one while the ledger's revocations
    /// are unchanged and it is fresh, else a newly signed one.
    pub fn current(
        &self,
        ca: &Ca,
        now: OffsetDateTime,
    ) -> Result<Arc<Vec<u8>>, devicetrust_pki::Error> {
        let revoked = ca.ledger().revoked(now)?;
        let mut slot = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = slot.as_ref()
            && cached.revoked == revoked
            && now - cached.signed < REFRESH_AFTER
            && now >= cached.signed
        {
            return Ok(cached.der.clone());
        }
        let crl = ca.crl(now)?;
        let der = Arc::new(crl.der().to_vec());
        *slot = Some(Cached {
            der: der.clone(),
            revoked,
            signed: now,
        });
        Ok(der)
    }
}
