//! App sign-on policy engine: Okta-shaped rules over device state, device
//! assurance, network zones, risk and custom expressions on EDR signals,
//! with an explanation of every decision.
//!
//! # Semantics
//!
//! These follow Okta's documented behaviour for app sign-on (authentication)
//! policies:
//!
//! - Only `ACTIVE` rules are evaluated, in ascending `priority`, not in the
//!   order of the rule array; the first rule whose conditions all hold
//!   decides ("the rule with priority 1 is evaluated first; if its
//!   conditions aren't met, Okta moves to priority 2, and so on": Okta
//!   developer guide, *Policy and rule prioritization*). When no rule
//!   matches, access is denied and the decision says no rule matched.
//! - The conditions of a rule are AND'd ("rules are applied when all these
//!   conditions are met": Okta help, *About Okta sign-on policies*).
//! - Device state is exact, as in the rule editor's *Registered / Not
//!   managed* and *Registered / Managed* choices: a rule for unmanaged
//!   devices does not match a managed one. `managed` requires
//!   `registered: true`; a document that breaks this is refused at load.
//! - Several device assurance policies in one rule are alternatives, and
//!   each applies only to its own platform. `osVersion.minimum` compares
//!   numerically part by part, so 14.10 is newer than 14.2.
//! - Custom expressions use the Okta Expression Language subset that rules
//!   use, including `versionGreaterThan`/`versionLessThan` for
//!   `device.provider.oktaVerify.version` (Okta help, *Expression Language
//!   attributes for devices*). They are parsed and type-checked at load
//!   against the user and device profiles and each EDR provider's published
//!   schema ([`devicetrust_edr::schemas`]), so a misspelt attribute is a
//!   load error with its line and column, never a sign-in failure.
//! - At sign-in, evaluation never fails: an absent attribute reads as null,
//!   comparisons with null are undefined, and undefined never matches. A
//!   stale EDR provider reads as absent, and the explanation says so.
//!
//! The decision's explanation follows the shape of Okta's policy simulation
//! API (`MATCH`, `NOT_MATCH`, `UNDEFINED` per condition, with expected and
//! actual values) and goes further for custom expressions: it names the
//! sub-expression that did not hold and every attribute it read.
//!
//! # Limits
//!
//! Every input is bounded before it is trusted: documents
//! ([`document::MAX_DOCUMENT_BYTES`]), contexts
//! ([`context::MAX_CONTEXT_BYTES`]), fleets ([`diff::MAX_FLEET_BYTES`]),
//! JSON nesting (serde_json's 128 levels), expressions
//! ([`expr::MAX_EXPR_BYTES`], [`expr::MAX_DEPTH`], [`expr::MAX_NODES`]) and
//! the quadratic shadowing lint ([`lint::MAX_SHADOW_RULES`]). Nothing here
//! panics on any input, and evaluation returns a decision for every context.
//!
//! # Example
//!
//! ```
//! use devicetrust_policy::{Context, PolicyDocument};
//! use devicetrust_policy::model::Access;
//!
//! let document = PolicyDocument::from_json(r#"{
//!   "policy": {"id": "rst1", "name": "Sensitive app", "type": "ACCESS_POLICY", "status": "ACTIVE"},
//!   "rules": [
//!     {"id": "rul2", "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE", "system": true,
//!      "actions": {"appSignOn": {"access": "DENY"}}},
//!     {"id": "rul1", "name": "Healthy Windows", "priority": 1, "status": "ACTIVE",
//!      "conditions": {
//!        "platform": {"include": [{"type": "DESKTOP", "os": {"type": "WINDOWS"}}]},
//!        "elCondition": {"condition":
//!          "device.provider.wsc.antiVirus == 'GOOD' && device.provider.wsc.fireWall == 'GOOD'"}},
//!      "actions": {"appSignOn": {"access": "ALLOW",
//!        "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}}}
//!   ]
//! }"#)?;
//! let policy = document.compile()?;
//!
//! let context = Context::from_json(r#"{
//!   "user": {"id": "00u1", "groups": ["Everyone"]},
//!   "device": {"registered": true, "platform": "WINDOWS",
//!              "provider": {"wsc": {"antiVirus": "GOOD", "fireWall": "SNOOZE"}}}
//! }"#)?;
//! let decision = policy.evaluate(&context);
//! assert_eq!(decision.access, Access::Deny);
//! assert_eq!(decision.rule.as_ref().map(|r| r.id.as_str()), Some("rul2"));
//!
//! // Why: rule 1's expression failed on the firewall, which was snoozed.
//! let why = decision.explanation.rules[0].conditions[1].false_sub_expression.as_ref();
//! assert_eq!(why.map(|s| s.expression.as_str()), Some("device.provider.wsc.fireWall == 'GOOD'"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compile;
mod conditions;
pub mod context;
pub mod decision;
pub mod diff;
pub mod document;
mod env;
pub mod error;
mod evaluate;
mod explain;
pub mod expr;
mod index;
pub mod lint;
pub mod model;
pub mod net;
pub mod version;

pub use compile::CompiledPolicy;
pub use context::Context;
pub use decision::{Decision, MatchStatus};
pub use document::PolicyDocument;
pub use error::LoadError;
pub use evaluate::Verdict;
