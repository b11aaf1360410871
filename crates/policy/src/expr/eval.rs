//! Null-safe evaluation of checked expressions.
//!
//! Evaluation cannot fail. An attribute that the context lacks reads as
//! null; a comparison or function with a null operand is *undefined*, and
//! undefined counts as false wherever a decision is taken. Negating an
//! undefined value leaves it undefined, so a missing signal can never make
//! a condition hold: `!(device.provider.wsc.antiVirus == "BAD")` does not
//! hold for a device that sent no signals. Only an explicit `== null` or
//! `!= null` tests for absence.

use std::cmp::Ordering;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ast::{BinaryOp, Func, Literal};
use super::check::{Attr, CompiledExpr, Node, NodeKind};
use super::schema::Type;
use crate::version::Version;

/// A run-time value. Strings and lists borrow from the context or the tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
    Time(OffsetDateTime),
    Strings(&'a [String]),
    Json(&'a [serde_json::Value]),
    Nodes(&'a [Node]),
}

/// Where attribute values come from.
pub(crate) trait Env {
    /// The value of `attr`, or [`Value::Null`] when absent.
    fn attr(&self, attr: &Attr) -> Value<'_>;
    /// Whether the user belongs to `group`, by id or by name.
    fn is_member(&self, group: &str) -> bool;
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

impl CompiledExpr {
    /// Evaluates to `Some(bool)`, or `None` when undefined.
    pub(crate) fn eval(&self, env: &dyn Env) -> Option<bool> {
        truth(eval(&self.root, env))
    }
}

/// The truth of a value: `None` for undefined.
pub(crate) fn truth(v: Value<'_>) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(b),
        _ => None,
    }
}

/// Evaluates `node`. Recursion is bounded by the parser's depth limit.
pub(crate) fn eval<'a>(node: &'a Node, env: &'a dyn Env) -> Value<'a> {
    match &node.kind {
        NodeKind::Lit(lit) => literal(lit),
        NodeKind::List(items) => Value::Nodes(items),
        NodeKind::Attr { attr, ty } => {
            let v = env.attr(attr);
            match (v, ty) {
                // Timestamps arrive as RFC 3339 text in JSON contexts.
                (Value::Str(s), Type::Timestamp) => {
                    parse_timestamp(s).map_or(Value::Null, Value::Time)
                }
                _ => v,
            }
        }
        NodeKind::Not(operand) => match truth(eval(operand, env)) {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        NodeKind::And(lhs, rhs) => match truth(eval(lhs, env)) {
            Some(false) => Value::Bool(false),
            l => match (l, truth(eval(rhs, env))) {
                (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            },
        },
        NodeKind::Or(lhs, rhs) => match truth(eval(lhs, env)) {
            Some(true) => Value::Bool(true),
            l => match (l, truth(eval(rhs, env))) {
                (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            },
        },
        NodeKind::Compare { op, lhs, rhs } => compare(*op, lhs, rhs, env),
        NodeKind::Cond {
            cond,
            then,
            otherwise,
        } => match truth(eval(cond, env)) {
            Some(true) => eval(then, env),
            Some(false) => eval(otherwise, env),
            None => Value::Null,
        },
        NodeKind::Call { func, args } => call(*func, args, env),
    }
}

fn literal(lit: &Literal) -> Value<'_> {
    match lit {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Number(n) => Value::Number(*n),
        Literal::String(s) => Value::Str(s),
    }
}

fn is_null_literal(node: &Node) -> bool {
    matches!(node.kind, NodeKind::Lit(Literal::Null))
}

fn compare<'a>(op: BinaryOp, lhs: &'a Node, rhs: &'a Node, env: &'a dyn Env) -> Value<'a> {
    let l = eval(lhs, env);
    let r = eval(rhs, env);
    // `x == null` is the one way to test for absence.
    if is_null_literal(lhs) || is_null_literal(rhs) {
        let both_null = matches!(l, Value::Null) && matches!(r, Value::Null);
        return match op {
            BinaryOp::Eq => Value::Bool(both_null),
            BinaryOp::Ne => Value::Bool(!both_null),
            _ => Value::Null,
        };
    }
    let Some(ordering) = order(l, r, env) else {
        return Value::Null;
    };
    let holds = match op {
        BinaryOp::Eq => ordering == Ordering::Equal,
        BinaryOp::Ne => ordering != Ordering::Equal,
        BinaryOp::Lt => ordering == Ordering::Less,
        BinaryOp::Le => ordering != Ordering::Greater,
        BinaryOp::Gt => ordering == Ordering::Greater,
        BinaryOp::Ge => ordering != Ordering::Less,
        BinaryOp::And | BinaryOp::Or => return Value::Null,
    };
    Value::Bool(holds)
}

/// Orders two values of the same kind; `None` when either is null or the
/// kinds differ (a context value of the wrong JSON type, say).
fn order(l: Value<'_>, r: Value<'_>, env: &dyn Env) -> Option<Ordering> {
    match (l, r) {
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(&b)),
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(&b),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Time(a), Value::Time(b)) => Some(a.cmp(&b)),
        (Value::Time(a), Value::Str(b)) => Some(a.cmp(&parse_timestamp(b)?)),
        (Value::Str(a), Value::Time(b)) => Some(parse_timestamp(a)?.cmp(&b)),
        (a, b) if is_list(a) && is_list(b) => {
            // Lists are equal or not; they have no order.
            let (la, lb) = (list_len(a), list_len(b));
            if la != lb {
                return Some(Ordering::Less);
            }
            for i in 0..la {
                let equal =
                    order(list_item(a, i, env), list_item(b, i, env), env)? == Ordering::Equal;
                if !equal {
                    return Some(Ordering::Less);
                }
            }
            Some(Ordering::Equal)
        }
        _ => None,
    }
}

fn is_list(v: Value<'_>) -> bool {
    matches!(v, Value::Strings(_) | Value::Json(_) | Value::Nodes(_))
}

fn list_len(v: Value<'_>) -> usize {
    match v {
        Value::Strings(items) => items.len(),
        Value::Json(items) => items.len(),
        Value::Nodes(items) => items.len(),
        _ => 0,
    }
}

fn list_item<'a>(v: Value<'a>, i: usize, env: &'a dyn Env) -> Value<'a> {
    match v {
        Value::Strings(items) => items.get(i).map_or(Value::Null, |s| Value::Str(s)),
        Value::Json(items) => items.get(i).map_or(Value::Null, json),
        Value::Nodes(items) => items.get(i).map_or(Value::Null, |n| eval(n, env)),
        _ => Value::Null,
    }
}

/// Reads a JSON context value; objects have no expression type.
pub(crate) fn json(v: &serde_json::Value) -> Value<'_> {
    match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Value::Null, Value::Number),
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => Value::Json(items),
        serde_json::Value::Null | serde_json::Value::Object(_) => Value::Null,
    }
}

fn contains<'a>(list: Value<'a>, item: Value<'a>, env: &'a dyn Env) -> Value<'a> {
    if matches!(item, Value::Null) {
        return Value::Null;
    }
    match (list, item) {
        (Value::Str(haystack), Value::Str(needle)) => Value::Bool(haystack.contains(needle)),
        (list, item) if is_list(list) => {
            let found = (0..list_len(list))
                .any(|i| order(list_item(list, i, env), item, env) == Some(Ordering::Equal));
            Value::Bool(found)
        }
        _ => Value::Null,
    }
}

fn call<'a>(func: Func, args: &'a [Node], env: &'a dyn Env) -> Value<'a> {
    let arg = |i: usize| args.get(i).map_or(Value::Null, |n| eval(n, env));
    let strings = |f: fn(&str, &str) -> bool| match (arg(0), arg(1)) {
        (Value::Str(a), Value::Str(b)) => Value::Bool(f(a, b)),
        _ => Value::Null,
    };
    match func {
        Func::StringContains => strings(|a, b| a.contains(b)),
        Func::StartsWith => strings(|a, b| a.starts_with(b)),
        Func::EndsWith => strings(|a, b| a.ends_with(b)),
        Func::ArraysContains | Func::Contains => contains(arg(0), arg(1), env),
        Func::ArraysSize | Func::ArraysIsEmpty => {
            let list = arg(0);
            if !is_list(list) {
                return Value::Null;
            }
            let len = list_len(list);
            if func == Func::ArraysSize {
                // List lengths are far below 2^53, so the conversion is exact.
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "lengths are bounded by input size, far below 2^53"
                )]
                Value::Number(len as f64)
            } else {
                Value::Bool(len == 0)
            }
        }
        Func::IsMemberOf | Func::IsMemberOfAnyGroup => {
            let mut undefined = false;
            for i in 0..args.len() {
                match arg(i) {
                    Value::Str(group) if env.is_member(group) => return Value::Bool(true),
                    Value::Str(_) => {}
                    _ => undefined = true,
                }
            }
            if undefined {
                Value::Null
            } else {
                Value::Bool(false)
            }
        }
        Func::VersionGreaterThan | Func::VersionLessThan => {
            let (Value::Str(a), Value::Str(b)) = (arg(0), arg(1)) else {
                return Value::Null;
            };
            let (Some(a), Some(b)) = (Version::parse(a), Version::parse(b)) else {
                return Value::Null;
            };
            let wanted = if func == Func::VersionGreaterThan {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            Value::Bool(a.cmp(&b) == wanted)
        }
    }
}
