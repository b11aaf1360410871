//! Okta's policy objects, as its public Policy API serialises them.
//!
//! Every struct refuses unknown fields, so a misspelt condition is an error
//! at load rather than a condition silently ignored: for access control, a
//! condition the engine does not understand must never read as "any".
//! Fields that Okta adds for bookkeeping (`created`, `_links`, ...) are
//! accepted and carried through unchanged.

mod actions;
mod assurance;
mod common;
mod conditions;
mod policy;
mod zone;

pub use actions::{
    Access, AppSignOnAction, AuthenticatorConstraint, ConstraintSet, FactorMode, Requirement,
    RuleActions, VerificationMethod, VerificationMethodType,
};
pub use assurance::{AssurancePlatform, DeviceAssurance, IncludeList, OsVersionRequirement};
pub use common::{OsType, PlatformType, RiskLevel, Status};
pub use conditions::{
    AssuranceCondition, Connection, DeviceCondition, ElCondition, IncludeExclude, NetworkCondition,
    OsCondition, PeopleCondition, PlatformCondition, PlatformEntry, RiskScoreCondition,
    RuleConditions,
};
pub use policy::{Policy, PolicyRule, PolicyType};
pub use zone::{Gateway, GatewayType, NetworkZone, ZoneType};
