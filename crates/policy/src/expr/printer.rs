//! Prints a tree back as source that parses to the same tree.
//!
//! Parentheses are written only where precedence needs them, strings are
//! always double-quoted, and operators take their canonical spelling
//! (`&&` for `AND`), so printing is also a normal form.

use std::fmt::{self, Display, Formatter, Write as _};

use super::ast::{CallStyle, Expr, ExprKind, Literal};

/// Precedence of the conditional `?:`, the loosest construct.
const TERNARY: u8 = 0;
/// Precedence of unary `!` and of negative number literals.
const UNARY: u8 = 5;
/// Precedence of primaries, paths and calls.
const ATOM: u8 = 6;

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self)
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            // Rust prints the shortest decimal that reads back as the same
            // double, with no exponent, which the lexer accepts.
            Literal::Number(n) => write!(f, "{n}"),
            Literal::String(s) => write_string(f, s),
        }
    }
}

fn write_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Conditional { .. } => TERNARY,
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Not(_) => UNARY,
        ExprKind::Literal(Literal::Number(n)) if n.is_sign_negative() => UNARY,
        _ => ATOM,
    }
}

/// Writes `expr`, parenthesised when its precedence is below `min`.
fn write_operand(f: &mut Formatter<'_>, expr: &Expr, min: u8) -> fmt::Result {
    if precedence(expr) < min {
        f.write_char('(')?;
        write_expr(f, expr)?;
        f.write_char(')')
    } else {
        write_expr(f, expr)
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_expr(f, item)?;
    }
    Ok(())
}

fn write_expr(f: &mut Formatter<'_>, expr: &Expr) -> fmt::Result {
    match &expr.kind {
        ExprKind::Literal(lit) => write!(f, "{lit}"),
        ExprKind::List(items) => {
            f.write_char('{')?;
            write_list(f, items)?;
            f.write_char('}')
        }
        ExprKind::Path(segments) => {
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    f.write_char('.')?;
                }
                f.write_str(segment)?;
            }
            Ok(())
        }
        ExprKind::Not(operand) => {
            f.write_char('!')?;
            write_operand(f, operand, UNARY)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let prec = op.precedence();
            // Left-associative: a right operand of equal precedence needs
            // parentheses, a left one does not.
            write_operand(f, lhs, prec)?;
            write!(f, " {} ", op.symbol())?;
            write_operand(f, rhs, prec + 1)
        }
        ExprKind::Conditional {
            cond,
            then,
            otherwise,
        } => {
            // The condition is parsed at `or` level, so a nested `?:` there
            // needs parentheses; both branches are full expressions.
            write_operand(f, cond, TERNARY + 1)?;
            f.write_str(" ? ")?;
            write_expr(f, then)?;
            f.write_str(" : ")?;
            write_expr(f, otherwise)
        }
        ExprKind::Call { func, args } => match func.style() {
            CallStyle::Static(owner) => {
                write!(f, "{owner}.{}(", func.name())?;
                write_list(f, args)?;
                f.write_char(')')
            }
            CallStyle::Method => {
                let (receiver, rest) = match args.split_first() {
                    Some(split) => split,
                    None => return write!(f, "{}()", func.name()),
                };
                write_operand(f, receiver, ATOM)?;
                write!(f, ".{}(", func.name())?;
                write_list(f, rest)?;
                f.write_char(')')
            }
        },
    }
}
