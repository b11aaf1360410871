//! A store as the CA's [`devicetrust_pki::IssuanceLedger`]: each call is one
//! of the store's transactions over the `Tx` ledger primitives, so the
//! registry's revocations and the CA's own share one source of truth.

use devicetrust_pki::LedgerError;

use crate::Error;

/// A store error as the ledger trait reports it (its own refusals as they are).
pub(crate) fn to_ledger(e: Error) -> LedgerError {
    match e {
        Error::Ledger(e) => e,
        other => LedgerError::Storage(Box::new(other)),
    }
}

/// Implements `IssuanceLedger` for a [`crate::Store`] type: reads in
/// `Store::read`, writes (the CRL number included) in `Store::write`.
macro_rules! store_is_issuance_ledger {
    ($store:ty) => {
        impl devicetrust_pki::IssuanceLedger for $store {
            fn record_issued(
                &self,
                cert: devicetrust_pki::IssuedCertificate,
            ) -> Result<(), devicetrust_pki::LedgerError> {
                crate::Store::write(self, |tx| tx.ledger_record_issued(&cert))
                    .map_err(crate::ledger::to_ledger)
            }

            fn get(
                &self,
                serial: &devicetrust_pki::SerialNumber,
            ) -> Result<Option<devicetrust_pki::IssuedCertificate>, devicetrust_pki::LedgerError>
            {
                crate::Store::read(self, |tx| tx.ledger_get(serial))
                    .map_err(crate::ledger::to_ledger)
            }

            fn revoke(
                &self,
                serial: &devicetrust_pki::SerialNumber,
                revocation: devicetrust_pki::Revocation,
            ) -> Result<devicetrust_pki::Revocation, devicetrust_pki::LedgerError> {
                crate::Store::write(self, |tx| tx.ledger_revoke(serial, revocation))
                    .map_err(crate::ledger::to_ledger)
            }

            fn revoked(
                &self,
                now: time::OffsetDateTime,
            ) -> Result<
                Vec<(devicetrust_pki::SerialNumber, devicetrust_pki::Revocation)>,
                devicetrust_pki::LedgerError,
            > {
                crate::Store::read(self, |tx| tx.ledger_revoked(now))
                    .map_err(crate::ledger::to_ledger)
            }

            fn next_crl_number(&self) -> Result<u64, devicetrust_pki::LedgerError> {
                crate::Store::write(self, |tx| tx.ledger_next_crl_number())
                    .map_err(crate::ledger::to_ledger)
            }
        }
    };
}
pub(crate) use store_is_issuance_ledger;
