//! Type-checks a parsed expression and resolves its paths.
//!
//! The checker runs once, at load. It turns every property path into an
//! `Attr` so that evaluation never looks at path strings, and it refuses
//! anything that could only fail at sign-in: unknown attributes, operands
//! of the wrong type, strings that an enumerated attribute can never hold
//! and versions that do not parse.

use super::ast::{BinaryOp, Expr, ExprKind, Func, Literal, Span};
use super::error::{ExprError, ExprErrorKind};
use super::parser::parse;
use super::schema::{PLATFORMS, Schema, Type};
use crate::version::Version;

/// Okta's risk levels, as `risk.level` reads them.
const RISK_LEVELS: &[&str] = &["HIGH", "LOW", "MEDIUM"];

/// A resolved property path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attr {
    UserId,
    UserType,
    UserProfile(String),
    DeviceRegistered,
    DeviceManaged,
    DevicePlatform,
    DeviceProfile(String),
    Provider { provider: String, name: String },
    RiskLevel,
}

/// A checked node. Spans point into the source for explanations.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Lit(Literal),
    List(Vec<Node>),
    Attr {
        attr: Attr,
        ty: Type,
    },
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare {
        op: BinaryOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    Cond {
        cond: Box<Node>,
        then: Box<Node>,
        otherwise: Box<Node>,
    },
    Call {
        func: Func,
        args: Vec<Node>,
    },
}

/// An expression that parsed and type-checked, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    source: String,
    expr: Expr,
    pub(crate) root: Node,
}

impl CompiledExpr {
    /// The source text as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed tree.
    #[must_use]
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The source text of `span`.
    pub(crate) fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).unwrap_or_default()
    }
}

/// Parses and type-checks `src` as a boolean condition.
///
/// # Errors
///
/// An [`ExprError`] locating the first syntax or type error.
///
/// # Examples
///
/// ```
/// use devicetrust_policy::expr::{DefaultSchema, compile};
///
/// let schema = DefaultSchema::new();
/// assert!(compile(r#"device.provider.wsc.fireWall == "GOOD""#, &schema).is_ok());
/// let err = compile(r#"device.provider.wsc.fireWal == "GOOD""#, &schema).unwrap_err();
/// assert_eq!(err.to_string(),
///     "line 1, column 1: unknown attribute `device.provider.wsc.fireWal`, at `device.provider.wsc.fireWal`");
/// ```
pub fn compile(src: &str, schema: &dyn Schema) -> Result<CompiledExpr, ExprError> {
    let expr = parse(src)?;
    let checker = Checker { src, schema };
    let (root, ty) = checker.check(&expr)?;
    if ty != Type::Bool {
        return Err(checker.mismatch("boolean", ty, expr.span));
    }
    Ok(CompiledExpr {
        source: src.to_owned(),
        expr,
        root,
    })
}

struct Checker<'a> {
    src: &'a str,
    schema: &'a dyn Schema,
}

impl Checker<'_> {
    fn error(&self, kind: ExprErrorKind, span: Span) -> ExprError {
        ExprError::at(kind, self.src, span)
    }

    fn mismatch(&self, expected: &str, found: Type, span: Span) -> ExprError {
        self.error(
            ExprErrorKind::TypeMismatch {
                expected: expected.to_owned(),
                found: found.to_string(),
            },
            span,
        )
    }

    /// Checks `expr` and returns its node and type. Recursion is bounded
    /// by the parser's depth limit.
    fn check(&self, expr: &Expr) -> Result<(Node, Type), ExprError> {
        let span = expr.span;
        let node = |kind| Node { kind, span };
        match &expr.kind {
            ExprKind::Literal(lit) => {
                let ty = match lit {
                    Literal::Null => Type::Null,
                    Literal::Bool(_) => Type::Bool,
                    Literal::Number(_) => Type::Number,
                    Literal::String(_) => Type::String,
                };
                Ok((node(NodeKind::Lit(lit.clone())), ty))
            }
            ExprKind::List(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                let mut item_ty: Option<Type> = None;
                for item in items {
                    let (n, ty) = self.check(item)?;
                    let family = if ty.is_stringy() {
                        Type::String
                    } else if ty == Type::Number {
                        Type::Number
                    } else {
                        return Err(self.mismatch("string or number list item", ty, item.span));
                    };
                    match item_ty {
                        Some(seen) if seen != family => {
                            return Err(self.mismatch(&seen.to_string(), ty, item.span));
                        }
                        _ => item_ty = Some(family),
                    }
                    nodes.push(n);
                }
                let ty = if item_ty == Some(Type::Number) {
                    Type::NumberList
                } else {
                    Type::StringList
                };
                Ok((node(NodeKind::List(nodes)), ty))
            }
            ExprKind::Path(segments) => {
                let (attr, ty) = self.resolve(segments, span)?;
                Ok((node(NodeKind::Attr { attr, ty }), ty))
            }
            ExprKind::Not(operand) => {
                let n = self.boolean(operand)?;
                Ok((node(NodeKind::Not(Box::new(n))), Type::Bool))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span),
            ExprKind::Conditional {
                cond,
                then,
                otherwise,
            } => {
                let c = self.boolean(cond)?;
                let (t, tt) = self.check(then)?;
                let (o, ot) = self.check(otherwise)?;
                let ty = unify(tt, ot)
                    .ok_or_else(|| self.mismatch(&tt.to_string(), ot, otherwise.span))?;
                let kind = NodeKind::Cond {
                    cond: Box::new(c),
                    then: Box::new(t),
                    otherwise: Box::new(o),
                };
                Ok((node(kind), ty))
            }
            ExprKind::Call { func, args } => self.call(*func, args, span),
        }
    }

    fn boolean(&self, expr: &Expr) -> Result<Node, ExprError> {
        let (n, ty) = self.check(expr)?;
        if ty != Type::Bool {
            return Err(self.mismatch("boolean", ty, expr.span));
        }
        Ok(n)
    }

    fn stringy(&self, expr: &Expr) -> Result<Node, ExprError> {
        let (n, ty) = self.check(expr)?;
        if !ty.is_stringy() {
            return Err(self.mismatch("string", ty, expr.span));
        }
        Ok(n)
    }

    fn resolve(&self, segments: &[String], span: Span) -> Result<(Attr, Type), ExprError> {
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let found = match parts.as_slice() {
            ["user", "id"] => Some((Attr::UserId, Type::String)),
            ["user", "type"] => Some((Attr::UserType, Type::String)),
            ["user", "profile", name] => self
                .schema
                .user_profile(name)
                .map(|ty| (Attr::UserProfile((*name).to_owned()), ty)),
            ["device", "registered"] | ["device", "profile", "registered"] => {
                Some((Attr::DeviceRegistered, Type::Bool))
            }
            ["device", "managed"] | ["device", "profile", "managed"] => {
                Some((Attr::DeviceManaged, Type::Bool))
            }
            ["device", "platform"] | ["device", "profile", "platform"] => {
                Some((Attr::DevicePlatform, Type::Enum(PLATFORMS)))
            }
            ["device", "profile", name] => self
                .schema
                .device_profile(name)
                .map(|ty| (Attr::DeviceProfile((*name).to_owned()), ty)),
            ["device", "provider", provider, name] => {
                self.schema.provider_attribute(provider, name).map(|ty| {
                    let attr = Attr::Provider {
                        provider: (*provider).to_owned(),
                        name: (*name).to_owned(),
                    };
                    (attr, ty)
                })
            }
            ["risk", "level"] => Some((Attr::RiskLevel, Type::Enum(RISK_LEVELS))),
            _ => None,
        };
        found.ok_or_else(|| self.error(ExprErrorKind::UnknownAttribute(segments.join(".")), span))
    }

    fn binary(
        &self,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Result<(Node, Type), ExprError> {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = Box::new(self.boolean(lhs)?);
            let r = Box::new(self.boolean(rhs)?);
            let kind = if op == BinaryOp::And {
                NodeKind::And(l, r)
            } else {
                NodeKind::Or(l, r)
            };
            return Ok((Node { kind, span }, Type::Bool));
        }
        let (l, lt) = self.check(lhs)?;
        let (r, rt) = self.check(rhs)?;
        let equality = matches!(op, BinaryOp::Eq | BinaryOp::Ne);
        // A timestamp attribute may meet an RFC 3339 string literal.
        let timestamp_vs_literal = self.timestamp_literal(lt, &r) || self.timestamp_literal(rt, &l);
        let comparable = timestamp_vs_literal
            || if equality {
                lt == Type::Null || rt == Type::Null || unify(lt, rt).is_some()
            } else {
                matches!(
                    (lt, rt),
                    (Type::Number, Type::Number) | (Type::Timestamp, Type::Timestamp)
                ) || (lt.is_stringy() && rt.is_stringy())
            };
        if !comparable {
            return Err(self.mismatch(&lt.to_string(), rt, rhs.span));
        }
        self.enum_literal(lt, &l, &r)?;
        self.enum_literal(rt, &r, &l)?;
        self.timestamp_string(lt, &r)?;
        self.timestamp_string(rt, &l)?;
        let kind = NodeKind::Compare {
            op,
            lhs: Box::new(l),
            rhs: Box::new(r),
        };
        Ok((Node { kind, span }, Type::Bool))
    }

    /// Whether `other` is a string literal and `ty` a timestamp.
    fn timestamp_literal(&self, ty: Type, other: &Node) -> bool {
        ty == Type::Timestamp && matches!(other.kind, NodeKind::Lit(Literal::String(_)))
    }

    /// A string literal compared with a timestamp must be RFC 3339.
    fn timestamp_string(&self, ty: Type, other: &Node) -> Result<(), ExprError> {
        if ty != Type::Timestamp {
            return Ok(());
        }
        if let NodeKind::Lit(Literal::String(s)) = &other.kind
            && crate::expr::eval::parse_timestamp(s).is_none()
        {
            return Err(self.mismatch("rfc 3339 timestamp", Type::String, other.span));
        }
        Ok(())
    }

    /// A string literal compared with an enumerated attribute must be one
    /// of its values; otherwise the comparison could never hold.
    fn enum_literal(&self, ty: Type, attr: &Node, other: &Node) -> Result<(), ExprError> {
        let Type::Enum(values) = ty else {
            return Ok(());
        };
        let NodeKind::Lit(Literal::String(s)) = &other.kind else {
            return Ok(());
        };
        if values.contains(&s.as_str()) {
            return Ok(());
        }
        Err(self.error(
            ExprErrorKind::NotAnEnumValue {
                value: s.clone(),
                attribute: self
                    .src
                    .get(attr.span.start..attr.span.end)
                    .unwrap_or_default()
                    .to_owned(),
                allowed: values.join(", "),
            },
            other.span,
        ))
    }

    fn call(&self, func: Func, args: &[Expr], span: Span) -> Result<(Node, Type), ExprError> {
        let mut nodes = Vec::with_capacity(args.len());
        let ty = match (func, args) {
            (Func::StringContains | Func::StartsWith | Func::EndsWith, [s, part]) => {
                nodes.push(self.stringy(s)?);
                nodes.push(self.stringy(part)?);
                Type::Bool
            }
            (Func::ArraysContains | Func::Contains, [list, item]) => {
                let (l, lt) = self.check(list)?;
                let (i, it) = self.check(item)?;
                let ok = match lt.item() {
                    Some(item_ty) => it == Type::Null || unify(item_ty, it).is_some(),
                    // `"text".contains("x")` is a substring test.
                    None => func == Func::Contains && lt.is_stringy() && it.is_stringy(),
                };
                if !ok {
                    return Err(self.mismatch(
                        "a list and an item of its type",
                        lt,
                        list.span.to(item.span),
                    ));
                }
                if let Some(item_ty) = lt.item() {
                    self.enum_literal(item_ty, &l, &i)?;
                }
                nodes.push(l);
                nodes.push(i);
                Type::Bool
            }
            (Func::ArraysSize | Func::ArraysIsEmpty, [list]) => {
                let (l, lt) = self.check(list)?;
                if !lt.is_list() {
                    return Err(self.mismatch("list", lt, list.span));
                }
                nodes.push(l);
                if func == Func::ArraysSize {
                    Type::Number
                } else {
                    Type::Bool
                }
            }
            (Func::IsMemberOf | Func::IsMemberOfAnyGroup, groups) => {
                for group in groups {
                    nodes.push(self.stringy(group)?);
                }
                Type::Bool
            }
            (Func::VersionGreaterThan | Func::VersionLessThan, [version, bound]) => {
                nodes.push(self.stringy(version)?);
                let b = self.stringy(bound)?;
                if let NodeKind::Lit(Literal::String(s)) = &b.kind
                    && Version::parse(s).is_none()
                {
                    return Err(self.error(ExprErrorKind::BadVersion(s.clone()), bound.span));
                }
                nodes.push(b);
                Type::Bool
            }
            // The parser checks arity, so this is unreachable in practice;
            // it is still an error rather than a panic.
            _ => {
                return Err(self.error(
                    ExprErrorKind::Arity {
                        func: func.name(),
                        expected: "a different number of".to_owned(),
                        found: args.len(),
                    },
                    span,
                ));
            }
        };
        Ok((
            Node {
                kind: NodeKind::Call { func, args: nodes },
                span,
            },
            ty,
        ))
    }
}

/// The common type of two branches or operands, if they have one.
fn unify(a: Type, b: Type) -> Option<Type> {
    match (a, b) {
        _ if a == b => Some(a),
        (Type::Null, other) | (other, Type::Null) => Some(other),
        (a, b) if a.is_stringy() && b.is_stringy() => Some(Type::String),
        (a, b) if a.is_list() && b.is_list() => match (a.item(), b.item()) {
            (Some(x), Some(y)) if x.is_stringy() && y.is_stringy() => Some(Type::StringList),
            _ => None,
        },
        _ => None,
    }
}
