//! The CA's issuance ledger on the same database as the registry, so that a
//! deactivation's revocations and the CA's own share one source of truth.

use super::SqliteStore;
use crate::Error;

impl SqliteStore {
    /// How many certificates the ledger holds (revoked ones included).
    pub fn ledger_count(&self) -> crate::Result<u64> {
        self.transact(true, |tx| {
            let n: i64 = tx
                .conn()
                .query_row("SELECT COUNT(*) FROM ledger_certificates", [], |r| r.get(0))
                .map_err(Error::storage("counting ledger certificates"))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

// The CA's issuance ledger on the same database as the registry.
crate::ledger::store_is_issuance_ledger!(SqliteStore);
