//! Load-time lints: rules that can never decide, conditions that can never
//! hold, and catch-alls in the wrong place or too permissive.
//!
//! The checks are conservative: a finding is always real (a rule reported
//! as shadowed is unreachable for every context), but not every dead rule
//! is found, since deciding that in general means reasoning about custom
//! expressions.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::compile::{CompiledPolicy, CompiledRule, Condition, IdFilter};
use crate::model::{Access, FactorMode, PlatformEntry, Status};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// The policy does not do what it says.
    Error,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LintCode {
    /// An earlier rule matches every context this rule matches.
    ShadowedRule,
    /// A condition no context can satisfy.
    Unsatisfiable,
    /// A rule without conditions that is not the last active rule.
    CatchAllNotLast,
    /// A rule without conditions that allows access with one factor.
    PermissiveCatchAll,
    /// The policy itself is `INACTIVE`, so Okta would not apply it at all.
    InactivePolicy,
    /// The policy has no active rule, so it denies everyone.
    NoActiveRule,
    /// Too many active rules to look for shadowing within the time bound.
    ShadowingNotAnalysed,
}

/// The most active rules checked pairwise for shadowing. The check is
/// quadratic, so past this bound it is skipped, and the report says so.
pub const MAX_SHADOW_RULES: usize = 500;

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Finding {
    /// Its severity.
    pub severity: Severity,
    /// What it is about.
    pub code: LintCode,
    /// The rule concerned, or the policy's id for policy-wide findings.
    pub rule: String,
    /// JSON path of the rule in the document.
    pub path: String,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl CompiledPolicy {
    /// Lints the active rules. Findings come in rule priority order.
    #[must_use]
    pub fn lint(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let policy = &self.document.policy;
        let policy_finding = |code, message: String| Finding {
            severity: Severity::Warning,
            code,
            rule: policy.id.clone(),
            path: "policy".to_owned(),
            message,
        };
        if policy.status == Status::Inactive {
            findings.push(policy_finding(
                LintCode::InactivePolicy,
                format!(
                    "policy {:?} is INACTIVE: Okta would not apply it",
                    policy.name
                ),
            ));
        }
        let analyse_shadowing = self.rules.len() <= MAX_SHADOW_RULES;
        if !analyse_shadowing {
            findings.push(policy_finding(
                LintCode::ShadowingNotAnalysed,
                format!(
                    "{} active rules exceed the {MAX_SHADOW_RULES} checked for shadowing",
                    self.rules.len()
                ),
            ));
        }
        if self.rules.is_empty() {
            findings.push(policy_finding(
                LintCode::NoActiveRule,
                format!(
                    "policy {:?} has no active rule, so it denies every sign-in",
                    policy.name
                ),
            ));
        }
        let last = self.rules.len().saturating_sub(1);
        for (i, rule) in self.rules.iter().enumerate() {
            let finding = |severity, code, message: String| Finding {
                severity,
                code,
                rule: rule.rule.id.clone(),
                path: format!("rules[{}]", rule.index),
                message,
            };
            if let Some(reason) = self.unsatisfiable(rule) {
                findings.push(finding(
                    Severity::Error,
                    LintCode::Unsatisfiable,
                    format!("rule {:?} can never match: {reason}", rule.rule.name),
                ));
            }
            let earlier = if analyse_shadowing {
                self.rules.get(..i).unwrap_or_default()
            } else {
                &[]
            };
            if let Some(shadow) = earlier.iter().find(|e| shadows(e, rule)) {
                findings.push(finding(
                    Severity::Warning,
                    LintCode::ShadowedRule,
                    format!(
                        "rule {:?} is unreachable: rule {:?} (priority {}) matches every context it matches",
                        rule.rule.name, shadow.rule.name, shadow.rule.priority
                    ),
                ));
            }
            if rule.conditions.is_empty() {
                if i != last {
                    findings.push(finding(
                        Severity::Error,
                        LintCode::CatchAllNotLast,
                        format!(
                            "rule {:?} has no conditions but is not last: the {} active rule(s) after it never apply",
                            rule.rule.name,
                            last - i
                        ),
                    ));
                }
                let action = &rule.rule.actions.app_sign_on;
                let one_factor = action
                    .verification_method
                    .as_ref()
                    .is_none_or(|m| m.factor_mode == Some(FactorMode::OneFactor));
                if action.access == Access::Allow && one_factor {
                    findings.push(finding(
                        Severity::Warning,
                        LintCode::PermissiveCatchAll,
                        format!(
                            "rule {:?} allows every user on every device with one factor",
                            rule.rule.name
                        ),
                    ));
                }
            }
        }
        findings
    }

    /// Why no context can satisfy `rule`, if that is evident.
    fn unsatisfiable(&self, rule: &CompiledRule) -> Option<String> {
        for condition in &rule.conditions {
            let reason = match condition {
                Condition::Users(ie) | Condition::Groups(ie) | Condition::UserType(ie)
                    if !ie.include.is_empty()
                        && ie.include.iter().all(|i| ie.exclude.contains(i)) =>
                {
                    format!("every id {} includes is also excluded", condition.name())
                }
                Condition::Network { include, exclude } if !include.is_empty() => {
                    let usable = include.iter().any(|z| {
                        exclude.binary_search(z).is_err()
                            && self.zones.get(*z).is_some_and(|z| {
                                z.zone.status == Status::Active && !z.blocks.is_empty()
                            })
                    });
                    if usable {
                        continue;
                    }
                    "every included zone is inactive, empty or excluded".to_owned()
                }
                Condition::Platform(p)
                    if !p.include.is_empty() && {
                        let excluded: HashSet<&PlatformEntry> = p.exclude.iter().collect();
                        p.include.iter().all(|i| excluded.contains(i))
                    } =>
                {
                    "every included platform is also excluded".to_owned()
                }
                Condition::Assurance(indices) => {
                    let Some(Condition::Platform(p)) = rule
                        .conditions
                        .iter()
                        .find(|c| matches!(c, Condition::Platform(_)))
                    else {
                        continue;
                    };
                    let possible =
                        indices
                            .iter()
                            .filter_map(|&a| self.assurances.get(a))
                            .any(|a| {
                                let os = a.assurance.platform.os();
                                let fits =
                                    |e: &PlatformEntry| crate::conditions::entry_matches(e, os);
                                (p.include.is_empty() || p.include.iter().any(fits))
                                    && !p.exclude.iter().any(fits)
                            });
                    if possible {
                        continue;
                    }
                    "no device assurance policy it names is for a platform the rule allows"
                        .to_owned()
                }
                _ => continue,
            };
            return Some(reason);
        }
        None
    }
}

/// Whether `earlier` matches every context that `later` matches: each of
/// its conditions is implied by some condition of `later`.
fn shadows(earlier: &CompiledRule, later: &CompiledRule) -> bool {
    earlier
        .conditions
        .iter()
        .all(|e| later.conditions.iter().any(|l| implies(l, e)))
}

/// Whether `a` holding implies `b` holding, for conditions of one kind.
fn implies(a: &Condition, b: &Condition) -> bool {
    match (a, b) {
        (Condition::Users(a), Condition::Users(b))
        | (Condition::Groups(a), Condition::Groups(b))
        | (Condition::UserType(a), Condition::UserType(b)) => narrower(a, b),
        (Condition::Registered(a), Condition::Registered(b))
        | (Condition::Managed(a), Condition::Managed(b)) => a == b,
        (Condition::Assurance(a), Condition::Assurance(b)) => subset(a, b),
        (Condition::Platform(a), Condition::Platform(b)) => {
            let b_include: HashSet<&PlatformEntry> = b.include.iter().collect();
            let a_exclude: HashSet<&PlatformEntry> = a.exclude.iter().collect();
            let a_in = |e: &PlatformEntry| b.include.is_empty() || b_include.contains(e);
            !a.include.is_empty()
                && a.include.iter().all(a_in)
                && b.exclude.iter().all(|x| a_exclude.contains(x))
        }
        (
            Condition::Network {
                include: ai,
                exclude: ae,
            },
            Condition::Network {
                include: bi,
                exclude: be,
            },
        ) => {
            let include_ok = bi.is_empty() || (!ai.is_empty() && subset(ai, bi));
            include_ok && subset(be, ae)
        }
        (Condition::Risk(a), Condition::Risk(b)) => a == b,
        // Expressions are compared by normal form: the same tree printed
        // the same way.
        (Condition::Expression(a), Condition::Expression(b)) => a.expr() == b.expr(),
        _ => false,
    }
}

/// Whether sorted `a` is a subset of sorted `b`.
fn subset(a: &[usize], b: &[usize]) -> bool {
    a.iter().all(|x| b.binary_search(x).is_ok())
}

/// Whether every value `a` admits, `b` admits too.
fn narrower(a: &IdFilter, b: &IdFilter) -> bool {
    let include_ok = b.include.is_empty()
        || (!a.include.is_empty() && a.include.iter().all(|x| b.include.contains(x)));
    include_ok && b.exclude.iter().all(|x| a.exclude.contains(x))
}
