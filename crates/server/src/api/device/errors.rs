//! How the service's refusals read over HTTP.

use crate::api::ApiError;
use crate::service::context::DecisionError;
use crate::service::device_flows::DeviceFlowError;
use crate::service::device_keys::DeviceKeyError;
use crate::service::enrollment_tokens::EnrollmentTokenError;
use crate::service::policies::PolicyStoreError;

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
            other => ApiError::from_error(&other),
        }
    }
}

/// A device flow's refusal: signature problems read as Okta Verify's
/// "Invalid device signature" with the reason as the cause.
pub(crate) fn from_flow(e: DeviceFlowError) -> ApiError {
    match e {
        DeviceFlowError::BadSignature { reason } => {
            ApiError::unauthenticated("Invalid device signature").with_cause(reason)
        }
        DeviceFlowError::Invalid { field, why } => {
            ApiError::invalid(format!("Api validation failed: {field}")).with_cause(why)
        }
        DeviceFlowError::BadEvidence { why } => {
            ApiError::invalid("Api validation failed").with_cause(why)
        }
        e @ DeviceFlowError::UnsupportedPlatform { .. } => ApiError::invalid(e.to_string()),
        DeviceFlowError::KeyNotHeld => {
            ApiError::unauthenticated("Invalid key proof").with_cause(e.to_string())
        }
        DeviceFlowError::Key(key) => from_key(key),
        DeviceFlowError::Store(store) => from_store(store),
        DeviceFlowError::EnrollmentToken(token) => from_token(token),
        other => ApiError::from_error(&other),
    }
}

/// A decision refusal.
pub(crate) fn from_decision(e: DecisionError) -> ApiError {
    {
        match e {
            DecisionError::Invalid(m) => ApiError::invalid("Api validation failed").with_cause(m),
            DecisionError::NotFound { what, id } => ApiError::not_found(what, &id),
            DecisionError::Conflict(m) => ApiError::conflict(m),
            DecisionError::Unauthenticated => crate::api::auth::invalid_token(),
            DecisionError::Policy(PolicyStoreError::Data(d)) => ApiError::internal(&d),
            DecisionError::Policy(p) => {
                ApiError::invalid("The policy does not compile").with_cause(p.to_string())
            }
            DecisionError::Store(s) => from_store(s),
            other => ApiError::from_error(&other),
        }
    }
}
