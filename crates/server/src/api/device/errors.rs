//! How the service's refusals read over HTTP.

use crate::api::ApiError;
use crate::service::context::DecisionError;
use crate::service::device_keys::DeviceKeyError;
use crate::service::enrollment_tokens::EnrollmentTokenError;
use crate::service::policies::PolicyStoreError;

/// 429 E0000047: a bound was reached; retry later.
pub(crate) fn too_many(summary: impl Into<String>) -> ApiError {
    ApiError::too_many(summary)
}

// Free functions rather than `From` impls: the admin API maps the same
// errors its own way, and two `From` impls could not coexist.

/// A registry or store refusal (the same mapping as the admin API's).
pub(crate) fn from_store(e: devicetrust_store::Error) -> ApiError {
    ApiError::from_store(e)
}

/// An enrollment token refusal.
pub(crate) fn from_token(e: EnrollmentTokenError) -> ApiError {
    ApiError::from_error(&e)
}

/// A device key or signature refusal.
pub(crate) fn from_key(e: DeviceKeyError) -> ApiError {
    {
        match e {
            DeviceKeyError::BadKey(_) => {
                ApiError::invalid("Api validation failed: publicKey").with_cause(e.to_string())
            }
            DeviceKeyError::NoKey(_) | DeviceKeyError::BadSignature(_) => {
                ApiError::unauthenticated("Invalid device signature").with_cause(e.to_string())
            }
            DeviceKeyError::Store(s) => from_store(s),
        }
    }
}

/// A decision refusal.
pub(crate) fn from_decision(e: DecisionError) -> ApiError {
    {
        match e {
            DecisionError::Invalid(m) => ApiError::invalid("Api validation failed").with_cause(m),
            DecisionError::NotFound { what, id } => ApiError::not_found(what, &id),
            DecisionError::Conflict(m) => ApiError::conflict(m),
            DecisionError::Policy(PolicyStoreError::Data(d)) => ApiError::internal(&d),
            DecisionError::Policy(p) => {
                ApiError::invalid("The policy does not compile").with_cause(p.to_string())
            }
            DecisionError::Store(s) => from_store(s),
        }
    }
}
