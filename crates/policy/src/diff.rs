//! Policy diff: evaluate two versions of a policy over a fleet of contexts
//! and list who would gain or lose access, and why.

use serde::{Deserialize, Serialize};

use crate::compile::CompiledPolicy;
use crate::context::{Context, MAX_CONTEXT_BYTES};
use crate::decision::{Decision, MatchStatus, RuleExplanation, RuleRef};
use crate::error::{LoadError, from_json};
use crate::model::{Access, VerificationMethod};

/// The largest fleet file accepted, in bytes.
pub const MAX_FLEET_BYTES: usize = 256 * 1024 * 1024;

/// Parses a fleet: one context per line (JSON lines); blank lines are
/// skipped.
///
/// # Errors
///
/// [`LoadError::TooLarge`] past [`MAX_FLEET_BYTES`], or
/// [`LoadError::Line`] locating the first bad context.
pub fn parse_fleet(jsonl: &str) -> Result<Vec<(usize, Context)>, LoadError> {
    if jsonl.len() > MAX_FLEET_BYTES {
        return Err(LoadError::TooLarge {
            len: jsonl.len(),
            max: MAX_FLEET_BYTES,
        });
    }
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            from_json(line, MAX_CONTEXT_BYTES)
                .map(|ctx| (i + 1, ctx))
                .map_err(|source| LoadError::Line {
                    line: i + 1,
                    source: Box::new(source),
                })
        })
        .collect()
}

/// How a context's outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    /// Denied before, allowed now.
    Gained,
    /// Allowed before, denied now.
    Lost,
    /// Same access, but another rule or other authentication requirements.
    Changed,
}

/// One side of a change.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// `ALLOW` or `DENY`.
    pub access: Access,
    /// The deciding rule, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// Its verification method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_method: Option<VerificationMethod>,
    /// Why, in one sentence.
    pub reason: String,
}

/// A context whose outcome differs between the two versions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Line of the context in the fleet file.
    pub line: usize,
    /// The user's id, when the context has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What changed.
    pub kind: ChangeKind,
    /// Under the old version.
    pub before: Outcome,
    /// Under the new version.
    pub after: Outcome,
    /// The rule that decided under the new version, condition by condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_rule: Option<RuleExplanation>,
    /// The rule that decided before, as the new version evaluated it: the
    /// condition that no longer holds is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub former_rule: Option<RuleExplanation>,
}

fn outcome(d: &Decision) -> Outcome {
    Outcome {
        access: d.access,
        rule: d.rule.clone(),
        verification_method: d.verification_method.clone(),
        reason: d.reason.clone(),
    }
}

/// Evaluates both versions over `fleet` and lists the contexts whose
/// outcome changed, in fleet order.
#[must_use]
pub fn diff(old: &CompiledPolicy, new: &CompiledPolicy, fleet: &[(usize, Context)]) -> Vec<Change> {
    let mut changes = Vec::new();
    for (line, ctx) in fleet {
        let before = old.evaluate(ctx);
        let after = new.evaluate(ctx);
        let kind = match (before.access, after.access) {
            (Access::Deny, Access::Allow) => ChangeKind::Gained,
            (Access::Allow, Access::Deny) => ChangeKind::Lost,
            _ if before.rule != after.rule
                || before.verification_method != after.verification_method =>
            {
                ChangeKind::Changed
            }
            _ => continue,
        };
        let deciding_rule = after
            .explanation
            .rules
            .last()
            .filter(|r| r.status == MatchStatus::Match)
            .cloned();
        let former_rule = before.rule.as_ref().and_then(|former| {
            let in_new = after.explanation.rules.iter().find(|r| r.id == former.id);
            // Not evaluated under the new version (deleted, deactivated or
            // now after the deciding rule): nothing more to say.
            in_new.filter(|r| r.status != MatchStatus::Match).cloned()
        });
        changes.push(Change {
            line: *line,
            user: ctx.user.id.clone(),
            kind,
            before: outcome(&before),
            after: outcome(&after),
            deciding_rule,
            former_rule,
        });
    }
    changes
}
