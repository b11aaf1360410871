//! Expression errors, positioned and quoting the input.

use super::ast::Span;

/// The longest excerpt of the source that an error quotes.
const MAX_EXCERPT_CHARS: usize = 60;

/// An error found while parsing or type-checking an expression.
///
/// It carries the 1-based line and column of the offending text and quotes
/// that text, so a message stands on its own in a log or a lint report.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}, at `{excerpt}`")]
pub struct ExprError {
    /// What went wrong.
    pub kind: ExprErrorKind,
    /// 1-based line of the offending text.
    pub line: usize,
    /// 1-based column, in characters, of the offending text.
    pub column: usize,
    /// The offending text, cut to a readable length.
    pub excerpt: String,
}

/// What went wrong in an expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprErrorKind {
    /// The source is longer than the limit.
    #[error("expression is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting goes deeper than the limit.
    #[error("expression nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The tree has more nodes than the limit.
    #[error("expression has more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: usize,
    },
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A string literal without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// An escape sequence that the language does not define.
    #[error("unknown escape sequence")]
    BadEscape,
    /// A number that does not fit a finite double.
    #[error("number out of range")]
    NumberOutOfRange,
    /// The parser wanted something else here.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What would have been accepted.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A function or method that the language does not have.
    #[error("unknown function `{0}`")]
    UnknownFunction(String),
    /// A call with too few or too many arguments.
    #[error("`{func}` takes {expected} argument(s), found {found}")]
    Arity {
        /// The function.
        func: &'static str,
        /// What it takes.
        expected: String,
        /// How many were given.
        found: usize,
    },
    /// A property path that the schema does not define.
    #[error("unknown attribute `{0}`")]
    UnknownAttribute(String),
    /// An operand of the wrong type.
    #[error("type mismatch: expected {expected}, found {found}")]
    TypeMismatch {
        /// The type wanted.
        expected: String,
        /// The type found.
        found: String,
    },
    /// A string compared with an enumerated attribute that cannot hold it.
    #[error("{value:?} is not a value of `{attribute}`; expected one of {allowed}")]
    NotAnEnumValue {
        /// The literal.
        value: String,
        /// The attribute.
        attribute: String,
        /// The accepted values.
        allowed: String,
    },
    /// A version literal that is not dotted numbers.
    #[error("{0:?} is not a dotted numeric version")]
    BadVersion(String),
}

impl ExprError {
    /// Builds an error for `span` of `src`, computing line and column.
    pub(crate) fn at(kind: ExprErrorKind, src: &str, span: Span) -> ExprError {
        let start = floor_char_boundary(src, span.start);
        let end = floor_char_boundary(src, span.end.max(span.start));
        let before = src.get(..start).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        let mut text = src.get(start..end).unwrap_or_default();
        if text.is_empty() {
            // Point at what follows, or say the input ended.
            text = src.get(start..).unwrap_or_default();
        }
        let mut excerpt: String = text.chars().take(MAX_EXCERPT_CHARS).collect();
        if text.chars().nth(MAX_EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        if excerpt.is_empty() {
            excerpt.push_str("end of input");
        }
        ExprError {
            kind,
            line,
            column,
            excerpt,
        }
    }
}

/// The largest char boundary at or below `i`, clamped to the source.
fn floor_char_boundary(src: &str, i: usize) -> usize {
    let mut i = i.min(src.len());
    while i > 0 && !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}
