//! The Okta Expression Language subset that sign-on rules use.
//!
//! An expression goes through four stages, one module each:
//! `lexer` turns text into tokens, `parser` builds an [`Expr`] tree,
//! [`check`] type-checks the tree against a [`Schema`] and resolves every
//! property path once, and [`eval`] runs the resolved tree against a
//! context. Everything that can be wrong with an expression is reported by
//! the first three stages, at load; evaluation cannot fail.

mod ast;
pub mod check;
mod error;
pub mod eval;
mod lexer;
mod parser;
mod printer;
mod schema;

pub use ast::{BinaryOp, Expr, ExprKind, Func, Literal, Span};
pub use check::{CompiledExpr, compile};
pub use error::{ExprError, ExprErrorKind};
pub use parser::{MAX_DEPTH, MAX_EXPR_BYTES, MAX_NODES, parse};
pub use schema::{DefaultSchema, Schema, Type};
