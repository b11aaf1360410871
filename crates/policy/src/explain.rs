//! Explains why an expression did not hold, down to the sub-expression.
//!
//! Okta's Access Testing Tool stops at "the custom expression was false".
//! Here the walk follows the evaluation: for `a && b` it descends into the
//! first operand that did not hold, for `c ? x : y` into the branch taken;
//! anything else (a comparison, a call, an `||` whose sides both failed) is
//! the culprit, reported with every attribute it read.

use devicetrust_edr::Lookup;
use serde_json::{Value as Json, json};
use time::format_description::well_known::Rfc3339;

use crate::decision::{AttributeReading, Presence, SubExpression};
use crate::env::EvalEnv;
use crate::expr::CompiledExpr;
use crate::expr::check::{Attr, Node, NodeKind};
use crate::expr::eval::{Env, Value, eval, truth};

/// The sub-expression of `expr` that made it false or undefined.
pub(crate) fn false_sub_expression(expr: &CompiledExpr, env: &EvalEnv<'_>) -> SubExpression {
    let node = culprit(&expr.root, env);
    let mut attributes = Vec::new();
    readings(node, expr, env, &mut attributes);
    SubExpression {
        expression: expr.text(node.span).to_owned(),
        attributes,
    }
}

/// Follows the evaluation to the node that decided the outcome. Recursion
/// is bounded by the parser's depth limit.
fn culprit<'a>(node: &'a Node, env: &EvalEnv<'_>) -> &'a Node {
    match &node.kind {
        NodeKind::And(lhs, rhs) => {
            if truth(eval(lhs, env)) == Some(true) {
                culprit(rhs, env)
            } else {
                culprit(lhs, env)
            }
        }
        NodeKind::Cond {
            cond,
            then,
            otherwise,
        } => match truth(eval(cond, env)) {
            Some(true) => culprit(then, env),
            Some(false) => culprit(otherwise, env),
            None => culprit(cond, env),
        },
        _ => node,
    }
}

/// Collects a reading of every attribute under `node`, once each.
fn readings(node: &Node, expr: &CompiledExpr, env: &EvalEnv<'_>, out: &mut Vec<AttributeReading>) {
    match &node.kind {
        NodeKind::Attr { attr, .. } => {
            let path = expr.text(node.span).to_owned();
            if out.iter().any(|r| r.path == path) {
                return;
            }
            out.push(reading(path, attr, env));
        }
        NodeKind::Lit(_) => {}
        NodeKind::List(items) | NodeKind::Call { args: items, .. } => {
            for item in items {
                readings(item, expr, env, out);
            }
        }
        NodeKind::Not(operand) => readings(operand, expr, env, out),
        NodeKind::And(lhs, rhs) | NodeKind::Or(lhs, rhs) | NodeKind::Compare { lhs, rhs, .. } => {
            readings(lhs, expr, env, out);
            readings(rhs, expr, env, out);
        }
        NodeKind::Cond {
            cond,
            then,
            otherwise,
        } => {
            readings(cond, expr, env, out);
            readings(then, expr, env, out);
            readings(otherwise, expr, env, out);
        }
    }
}

fn reading(path: String, attr: &Attr, env: &EvalEnv<'_>) -> AttributeReading {
    if let Attr::Provider { provider, name } = attr
        && let Lookup::Stale {
            collected_at,
            max_age,
        } = env.signals.lookup(provider, name)
    {
        return AttributeReading {
            path,
            presence: Presence::Stale,
            value: Json::Null,
            collected_at: collected_at.format(&Rfc3339).ok(),
            max_age_seconds: Some(max_age.whole_seconds()),
        };
    }
    let value = to_json(env.attr(attr));
    let presence = if value.is_null() {
        Presence::Absent
    } else {
        Presence::Present
    };
    AttributeReading {
        path,
        presence,
        value,
        collected_at: None,
        max_age_seconds: None,
    }
}

/// A run-time value as JSON, for explanations.
pub(crate) fn to_json(v: Value<'_>) -> Json {
    match v {
        Value::Null | Value::Nodes(_) => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Number(n) => json!(n),
        Value::Str(s) => json!(s),
        Value::Time(t) => t.format(&Rfc3339).map_or(Json::Null, Json::String),
        Value::Strings(items) => json!(items),
        Value::Json(items) => Json::Array(items.to_vec()),
    }
}
