//! The CA's issuance ledger on the same database as the registry, so that a
//! deactivation's revocations and the CA's own share one source of truth.

use devicetrust_pki::{IssuanceLedger, IssuedCertificate, LedgerError, Revocation, SerialNumber};
use time::OffsetDateTime;

use super::SqliteStore;
use crate::{Error, Tx as _};

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

fn to_ledger(e: Error) -> LedgerError {
    match e {
        Error::Ledger(e) => e,
        other => LedgerError::Storage(Box::new(other)),
    }
}

impl IssuanceLedger for SqliteStore {
    fn record_issued(&self, cert: IssuedCertificate) -> Result<(), LedgerError> {
        self.transact(false, |tx| tx.ledger_record_issued(&cert))
            .map_err(to_ledger)
    }

    fn get(&self, serial: &SerialNumber) -> Result<Option<IssuedCertificate>, LedgerError> {
        self.transact(true, |tx| tx.ledger_get(serial))
            .map_err(to_ledger)
    }

    fn revoke(
        &self,
        serial: &SerialNumber,
        revocation: Revocation,
    ) -> Result<Revocation, LedgerError> {
        self.transact(false, |tx| tx.ledger_revoke(serial, revocation))
            .map_err(to_ledger)
    }

    fn revoked(&self, now: OffsetDateTime) -> Result<Vec<(SerialNumber, Revocation)>, LedgerError> {
        self.transact(true, |tx| tx.ledger_revoked(now))
            .map_err(to_ledger)
    }

    fn next_crl_number(&self) -> Result<u64, LedgerError> {
        self.transact(false, |tx| tx.ledger_next_crl_number())
            .map_err(to_ledger)
    }
}
