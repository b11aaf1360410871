//! The syntax tree of an expression.

/// A byte range in the expression source.
///
/// Spans locate errors and explanations; they take no part in equality, so
/// that a tree printed and parsed again compares equal to the original.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from the start of `self` to the end of `other`.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(f64),
    /// A string, already unescaped.
    String(String),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `&&`, also spelt `AND`.
    And,
    /// `||`, also spelt `OR`.
    Or,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl BinaryOp {
    /// The canonical spelling the printer uses.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
        }
    }

    /// Binding strength: higher binds tighter.
    #[must_use]
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
        }
    }
}

/// A built-in function or method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `String.stringContains(s, part)`.
    StringContains,
    /// `String.startsWith(s, prefix)`.
    StartsWith,
    /// `String.endsWith(s, suffix)`.
    EndsWith,
    /// `Arrays.contains(list, value)`.
    ArraysContains,
    /// `Arrays.size(list)`.
    ArraysSize,
    /// `Arrays.isEmpty(list)`.
    ArraysIsEmpty,
    /// `list.contains(value)`, or `s.contains(part)` on a string.
    Contains,
    /// `user.isMemberOf(group)`: the user's groups hold `group`.
    IsMemberOf,
    /// `user.isMemberOfAnyGroup(g1, g2, ...)`.
    IsMemberOfAnyGroup,
    /// `version.versionGreaterThan('9.43')`, compared part by part.
    VersionGreaterThan,
    /// `version.versionLessThan('9.43')`, compared part by part.
    VersionLessThan,
}

/// How a function is written, which the printer needs to round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallStyle {
    /// `Owner.name(args)`, with a fixed owner such as `String`.
    Static(&'static str),
    /// `receiver.name(args)`: the first argument is the receiver.
    Method,
}

impl Func {
    /// The name as written in source.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Func::StringContains => "stringContains",
            Func::StartsWith => "startsWith",
            Func::EndsWith => "endsWith",
            Func::ArraysContains => "contains",
            Func::ArraysSize => "size",
            Func::ArraysIsEmpty => "isEmpty",
            Func::Contains => "contains",
            Func::IsMemberOf => "isMemberOf",
            Func::IsMemberOfAnyGroup => "isMemberOfAnyGroup",
            Func::VersionGreaterThan => "versionGreaterThan",
            Func::VersionLessThan => "versionLessThan",
        }
    }

    pub(crate) fn style(self) -> CallStyle {
        match self {
            Func::StringContains | Func::StartsWith | Func::EndsWith => CallStyle::Static("String"),
            Func::ArraysContains | Func::ArraysSize | Func::ArraysIsEmpty => {
                CallStyle::Static("Arrays")
            }
            Func::IsMemberOf | Func::IsMemberOfAnyGroup => CallStyle::Static("user"),
            Func::Contains | Func::VersionGreaterThan | Func::VersionLessThan => CallStyle::Method,
        }
    }

    /// Resolves `Owner.name`, for the functions called on a fixed owner.
    pub(crate) fn lookup_static(owner: &str, name: &str) -> Option<Func> {
        let func = match (owner, name) {
            ("String", "stringContains") => Func::StringContains,
            ("String", "startsWith") => Func::StartsWith,
            ("String", "endsWith") => Func::EndsWith,
            ("Arrays", "contains") => Func::ArraysContains,
            ("Arrays", "size") => Func::ArraysSize,
            ("Arrays", "isEmpty") => Func::ArraysIsEmpty,
            ("user", "isMemberOf") => Func::IsMemberOf,
            ("user", "isMemberOfAnyGroup") => Func::IsMemberOfAnyGroup,
            _ => return None,
        };
        Some(func)
    }

    /// Resolves `receiver.name(...)` for methods on any value.
    pub(crate) fn lookup_method(name: &str) -> Option<Func> {
        match name {
            "contains" => Some(Func::Contains),
            "versionGreaterThan" => Some(Func::VersionGreaterThan),
            "versionLessThan" => Some(Func::VersionLessThan),
            _ => None,
        }
    }

    /// The number of arguments accepted, receiver included: `(min, max)`.
    pub(crate) fn arity(self) -> (usize, usize) {
        match self {
            Func::ArraysSize | Func::ArraysIsEmpty | Func::IsMemberOf => (1, 1),
            Func::IsMemberOfAnyGroup => (1, usize::MAX),
            Func::StringContains
            | Func::StartsWith
            | Func::EndsWith
            | Func::ArraysContains
            | Func::Contains
            | Func::VersionGreaterThan
            | Func::VersionLessThan => (2, 2),
        }
    }
}

/// An expression node: what it is, and where it came from.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The node itself.
    pub kind: ExprKind,
    /// Its place in the source.
    pub span: Span,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        // Spans are deliberately ignored: see `Span`.
        self.kind == other.kind
    }
}

/// The kinds of expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Literal(Literal),
    /// `{a, b, c}`: a list literal.
    List(Vec<Expr>),
    /// A dotted property path such as `device.provider.wsc.antiVirus`.
    Path(Vec<String>),
    /// `!operand`.
    Not(Box<Expr>),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `cond ? then : otherwise`.
    Conditional {
        /// The condition.
        cond: Box<Expr>,
        /// The value when the condition holds.
        then: Box<Expr>,
        /// The value otherwise.
        otherwise: Box<Expr>,
    },
    /// A function or method call; for a method, `args[0]` is the receiver.
    Call {
        /// The function.
        func: Func,
        /// Its arguments.
        args: Vec<Expr>,
    },
}

impl Expr {
    /// A node with an empty span, for building trees in code.
    #[must_use]
    pub fn new(kind: ExprKind) -> Expr {
        Expr {
            kind,
            span: Span::default(),
        }
    }
}
