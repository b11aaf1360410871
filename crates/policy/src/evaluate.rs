//! First-match evaluation and the explanation of a decision.
//!
//! Okta evaluates the active rules of an app sign-on policy in ascending
//! priority; the first rule whose conditions all hold decides. When none
//! does, access is denied.

use devicetrust_edr::SignalSource;
use serde_json::{Value, json};

use crate::compile::{CompiledPolicy, CompiledRule, Condition};
use crate::conditions::assurance_checks;
use crate::context::Context;
use crate::decision::{
    AssuranceExplanation, CheckExplanation, ConditionExplanation, Decision, Explanation,
    MatchStatus, RuleExplanation, RuleRef,
};
use crate::env::EvalEnv;
use crate::explain::false_sub_expression;
use crate::model::{Access, PolicyRule};

/// A decision without its explanation: the fast path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<'a> {
    /// `ALLOW` or `DENY`.
    pub access: Access,
    /// The rule that decided, if any.
    pub rule: Option<&'a PolicyRule>,
}

impl CompiledPolicy {
    /// Decides, reading EDR signals from the context itself.
    #[must_use]
    pub fn evaluate(&self, ctx: &Context) -> Decision {
        self.evaluate_with(ctx, ctx)
    }

    /// Decides, reading EDR signals from `signals`; a stale provider reads
    /// as absent and the explanation says it was stale.
    #[must_use]
    pub fn evaluate_with(&self, ctx: &Context, signals: &dyn SignalSource) -> Decision {
        let env = EvalEnv { ctx, signals };
        let mut explained = Vec::new();
        for rule in &self.rules {
            let conditions: Vec<ConditionExplanation> = rule
                .conditions
                .iter()
                .zip(&rule.expected)
                .map(|(c, expected)| self.explain_condition(c, expected.clone(), &env))
                .collect();
            let status = MatchStatus::all(conditions.iter().map(|c| c.status));
            explained.push(RuleExplanation {
                id: rule.rule.id.clone(),
                name: rule.rule.name.clone(),
                priority: rule.rule.priority,
                status,
                conditions,
            });
            if status == MatchStatus::Match {
                let action = &rule.rule.actions.app_sign_on;
                return Decision {
                    access: action.access,
                    rule: Some(RuleRef {
                        id: rule.rule.id.clone(),
                        name: rule.rule.name.clone(),
                    }),
                    verification_method: action.verification_method.clone(),
                    reason: format!(
                        "rule {:?} (priority {}) is the first active rule whose conditions all match",
                        rule.rule.name, rule.rule.priority
                    ),
                    explanation: Explanation { rules: explained },
                };
            }
        }
        Decision {
            access: Access::Deny,
            rule: None,
            verification_method: None,
            reason: format!(
                "no rule matched: {} active rule(s) evaluated",
                explained.len()
            ),
            explanation: Explanation { rules: explained },
        }
    }

    /// Decides without building an explanation.
    ///
    /// This is the fast path: an evaluation plan built at load narrows the
    /// rules by group, user, platform and zone before any is evaluated, so
    /// its cost grows slowly with the number of rules. It decides exactly
    /// as [`evaluate`](Self::evaluate) does.
    #[must_use]
    pub fn decide<'a>(&'a self, ctx: &Context) -> Verdict<'a> {
        self.decide_with(ctx, ctx)
    }

    /// Decides without an explanation, reading EDR signals from `signals`.
    #[must_use]
    pub fn decide_with<'a>(&'a self, ctx: &Context, signals: &dyn SignalSource) -> Verdict<'a> {
        let env = EvalEnv { ctx, signals };
        self.plan
            .candidates(ctx, &self.zones)
            .iter()
            .filter_map(|i| self.rules.get(i))
            .find(|rule| self.rule_matches(rule, &env))
            .map_or(
                Verdict {
                    access: Access::Deny,
                    rule: None,
                },
                |rule| Verdict {
                    access: rule.rule.actions.app_sign_on.access,
                    rule: Some(&rule.rule),
                },
            )
    }

    /// Decides by checking every active rule in priority order, without
    /// the plan: the reference the plan is tested against.
    #[doc(hidden)]
    #[must_use]
    pub fn decide_naive<'a>(&'a self, ctx: &Context) -> Verdict<'a> {
        let env = EvalEnv { ctx, signals: ctx };
        self.rules
            .iter()
            .find(|rule| self.rule_matches(rule, &env))
            .map_or(
                Verdict {
                    access: Access::Deny,
                    rule: None,
                },
                |rule| Verdict {
                    access: rule.rule.actions.app_sign_on.access,
                    rule: Some(&rule.rule),
                },
            )
    }

    pub(crate) fn rule_matches(&self, rule: &CompiledRule, env: &EvalEnv<'_>) -> bool {
        rule.conditions
            .iter()
            .all(|c| self.condition_status(c, env) == MatchStatus::Match)
    }

    /// What `condition` asks for, as JSON in the rule's own terms. It
    /// depends on the document alone, so it is computed once, at load.
    pub(crate) fn expected(&self, condition: &Condition) -> Value {
        let zone_ids = |list: &[usize]| -> Vec<&str> {
            list.iter()
                .filter_map(|&i| self.zones.get(i))
                .map(|z| z.zone.id.as_str())
                .collect()
        };
        match condition {
            Condition::Users(ie) | Condition::Groups(ie) | Condition::UserType(ie) => json!(ie),
            Condition::Registered(wanted) | Condition::Managed(wanted) => json!(wanted),
            Condition::Assurance(indices) => {
                let ids: Vec<&str> = indices
                    .iter()
                    .filter_map(|&i| self.assurances.get(i))
                    .map(|a| a.assurance.id.as_str())
                    .collect();
                json!({ "include": ids })
            }
            Condition::Platform(platform) => json!(platform),
            Condition::Network { include, exclude } => {
                json!({ "connection": "ZONE", "include": zone_ids(include), "exclude": zone_ids(exclude) })
            }
            Condition::Risk(level) => json!({ "level": level }),
            Condition::Expression(expr) => json!(expr.source()),
        }
    }

    fn explain_condition(
        &self,
        condition: &Condition,
        expected: Value,
        env: &EvalEnv<'_>,
    ) -> ConditionExplanation {
        let ctx = env.ctx;
        let status = self.condition_status(condition, env);
        let device = ctx.device.as_ref();
        let mut out = ConditionExplanation {
            condition: condition.name().to_owned(),
            status,
            expected,
            actual: Value::Null,
            false_sub_expression: None,
            assurances: Vec::new(),
        };
        out.actual = match condition {
            Condition::Users(_) => json!(ctx.user.id),
            Condition::Groups(_) => json!(ctx.user.groups),
            Condition::UserType(_) => json!(ctx.user.user_type),
            Condition::Registered(_) => json!(device.is_some_and(|d| d.registered)),
            Condition::Managed(_) => json!(device.is_some_and(|d| d.managed)),
            Condition::Assurance(indices) => {
                out.assurances = indices
                    .iter()
                    .filter_map(|&i| self.assurances.get(i))
                    .map(|a| {
                        let checks = assurance_checks(a, device);
                        AssuranceExplanation {
                            id: a.assurance.id.clone(),
                            name: a.assurance.name.clone(),
                            status: checks.status(),
                            failed: checks
                                .0
                                .into_iter()
                                .filter(|c| c.status != MatchStatus::Match)
                                .map(|c| CheckExplanation {
                                    check: c.name.to_owned(),
                                    status: c.status,
                                    expected: c.expected,
                                    actual: c.actual,
                                })
                                .collect(),
                        }
                    })
                    .collect();
                device.map_or(
                    Value::Null,
                    |d| json!({ "platform": d.platform, "profile": d.profile }),
                )
            }
            Condition::Platform(_) => device.and_then(|d| d.platform).map_or(
                Value::Null,
                |os| json!({ "type": os.platform_type(), "os": { "type": os } }),
            ),
            Condition::Network { .. } => ctx.network.ip.map_or(Value::Null, |ip| {
                let zones: Vec<&str> = self
                    .zones
                    .iter()
                    .filter(|z| z.contains(ip))
                    .map(|z| z.zone.id.as_str())
                    .collect();
                json!({ "ip": ip, "zones": zones })
            }),
            Condition::Risk(_) => json!(ctx.risk.level),
            Condition::Expression(expr) => {
                if status != MatchStatus::Match {
                    out.false_sub_expression = Some(false_sub_expression(expr, env));
                }
                match status {
                    MatchStatus::Match => json!(true),
                    MatchStatus::NotMatch => json!(false),
                    MatchStatus::Undefined => Value::Null,
                }
            }
        };
        out
    }
}
