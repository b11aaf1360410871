//! Rule actions: access and the authentication requirements.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `ALLOW` or `DENY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Access {
    /// Access granted, subject to the verification method.
    Allow,
    /// Access refused.
    Deny,
}

/// `actions`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleActions {
    /// The app sign-on outcome.
    pub app_sign_on: AppSignOnAction,
}

/// `actions.appSignOn`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppSignOnAction {
    /// Allow or deny.
    pub access: Access,
    /// How the user must authenticate when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
}

/// Verification method types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationMethodType {
    /// Factor mode and authenticator constraints.
    Assurance,
    /// Okta's authentication method chains; carried through intact.
    AuthMethodChain,
}

/// `1FA` or `2FA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum FactorMode {
    /// Any one factor.
    #[serde(rename = "1FA")]
    OneFactor,
    /// Two factors.
    #[serde(rename = "2FA")]
    TwoFactor,
}

/// `REQUIRED` or `OPTIONAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Requirement {
    /// Must hold.
    Required,
    /// May hold.
    Optional,
}

/// `verificationMethod`. Fields that belong to the other type are refused
/// at load; `chains` is kept as given, since it is not evaluated here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationMethod {
    /// `ASSURANCE` or `AUTH_METHOD_CHAIN`.
    #[serde(rename = "type")]
    pub method_type: VerificationMethodType,
    /// 1FA or 2FA (`ASSURANCE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor_mode: Option<FactorMode>,
    /// Authenticator constraints, any one set of which suffices (`ASSURANCE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Vec<ConstraintSet>>,
    /// ISO 8601 duration after which the user authenticates again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauthenticate_in: Option<String>,
    /// ISO 8601 duration of inactivity before reauthentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_period: Option<String>,
    /// Method chains (`AUTH_METHOD_CHAIN`), kept intact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chains: Option<Value>,
}

/// One entry of `constraints`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintSet {
    /// Knowledge factor requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<AuthenticatorConstraint>,
    /// Possession factor requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possession: Option<AuthenticatorConstraint>,
}

/// Requirements on a knowledge or possession authenticator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticatorConstraint {
    /// Authenticator types, such as `password` or `security_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
    /// Authenticator methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Whether this factor is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Per-factor reauthentication period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauthenticate_in: Option<String>,
    /// Bound to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_bound: Option<Requirement>,
    /// Keys in secure hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_protection: Option<Requirement>,
    /// Phishing resistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phishing_resistant: Option<Requirement>,
    /// User presence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_presence: Option<Requirement>,
    /// User verification (biometric or PIN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<Requirement>,
    /// Which user verification methods count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification_methods: Option<Vec<String>>,
    /// Authentication methods to leave out, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_authentication_methods: Option<Value>,
    /// Authentication methods to use, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_methods: Option<Value>,
}
