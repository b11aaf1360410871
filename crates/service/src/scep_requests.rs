//! SCEP requests held for an admin (an integration created with
//! `manualApproval`): list, approve, reject.
//!
//! The transactions live in the store, and every replica serves every active
//! integration, so a request left PENDING on one replica is approved on
//! another, and the client's next CertPoll collects the outcome on any. Two
//! admins deciding at once never both succeed: taking the request out of
//! PENDING is one atomic store operation.

use devicetrust_errors::{ErrorKind, HasKind};
use devicetrust_pki::scep::{PendingRequest, ScepError, TransactionError};
use time::OffsetDateTime;

use crate::admin_audit::{self, AdminEvent};
use crate::{DataError, Service};

/// Why a pending SCEP request could not be listed, approved or rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScepRequestError {
    /// No active SCEP integration has this ID.
    #[error("no active SCEP device integration {id}")]
    NoIntegration {
        /// The ID asked for.
        id: String,
    },
    /// The SCEP responder refused (the request is not pending, the CA
    /// refused to sign, or its transactions could not be read).
    #[error(transparent)]
    Scep(#[from] ScepError),
    /// Storage failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl HasKind for ScepRequestError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoIntegration { .. } | Self::Scep(ScepError::NotPending { .. }) => {
                ErrorKind::NotFound
            }
            Self::Scep(ScepError::Transactions(TransactionError::Full { .. })) => {
                ErrorKind::LimitReached
            }
            Self::Scep(ScepError::Transactions(TransactionError::Storage(source))) => source
                .downcast_ref::<devicetrust_store::Error>()
                .map_or(ErrorKind::Internal, HasKind::kind),
            Self::Scep(_) => ErrorKind::Internal,
            Self::Data(e) => e.kind(),
        }
    }
}

/// A pending request, approved: the certificate its client's next CertPoll gets.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApprovedScepRequest {
    /// The SCEP transactionID.
    pub transaction_id: String,
    /// The issued certificate's serial number, hex.
    pub serial: String,
    /// Its subject, RFC 4514.
    pub subject: String,
    /// The end of its validity.
    pub not_after: OffsetDateTime,
}

impl Service {
    /// The requests of SCEP integration `integration` waiting for an admin,
    /// oldest first.
    pub fn pending_scep_requests(
        &self,
        integration: &str,
    ) -> Result<Vec<PendingRequest>, ScepRequestError> {
        Ok(self.scep_endpoint(integration)?.service.pending()?)
    }

    /// Approves a pending request: the certificate is issued now, and the
    /// client's next CertPoll (to any replica) gets it.
    pub fn approve_scep_request(
        &self,
        integration: &str,
        transaction_id: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<ApprovedScepRequest, ScepRequestError> {
        let endpoint = self.scep_endpoint(integration)?;
        let certificate = endpoint.service.approve(transaction_id)?;
        let approved = ApprovedScepRequest {
            transaction_id: transaction_id.to_owned(),
            serial: certificate.serial().map_err(ScepError::from)?.to_string(),
            subject: certificate.subject().to_string(),
            not_after: certificate.not_after(),
        };
        self.audit_scep_decision(
            AdminEvent::new(
                now,
                actor,
                "pki.scep.request.approve",
                "ScepRequest",
                transaction_id,
            )?
            .with_details(serde_json::json!({
                "integrationId": integration,
                "subject": approved.subject,
                "serialNumber": approved.serial,
            })),
        );
        Ok(approved)
    }

    /// Rejects a pending request: the client's next CertPoll gets FAILURE
    /// (badRequest). `reason` is kept with the transaction and in the audit.
    pub fn reject_scep_request(
        &self,
        integration: &str,
        transaction_id: &str,
        reason: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), ScepRequestError> {
        let endpoint = self.scep_endpoint(integration)?;
        endpoint.service.reject(transaction_id, reason)?;
        self.audit_scep_decision(
            AdminEvent::new(
                now,
                actor,
                "pki.scep.request.reject",
                "ScepRequest",
                transaction_id,
            )?
            .with_details(serde_json::json!({
                "integrationId": integration,
                "reason": reason,
            })),
        );
        Ok(())
    }

    /// The served endpoint of integration `id`, after bringing the served
    /// set up to the store (another replica may have just added it).
    fn scep_endpoint(
        &self,
        id: &str,
    ) -> Result<std::sync::Arc<crate::ScepEndpoint>, ScepRequestError> {
        self.sync()?;
        self.endpoints
            .get(id)
            .ok_or_else(|| ScepRequestError::NoIntegration { id: id.to_owned() })
    }

    /// Records an approval or rejection. The decision is already committed
    /// in the SCEP transaction (a separate store operation), so a failure
    /// here is logged rather than reported as a failed decision.
    fn audit_scep_decision(&self, event: AdminEvent) {
        if let Err(e) = self
            .settings
            .update_with(|s| admin_audit::push(s, event.clone()))
        {
            tracing::error!(
                error = %e,
                event_type = %event.event_type,
                transaction_id = %event.target_id,
                "scep decision committed, but its audit event was not recorded"
            );
        }
    }
}
