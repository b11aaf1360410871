//! A recursive-descent parser with bounded depth and size.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expr       := or ( "?" expr ":" expr )?
//! or         := and ( ("||" | "OR" | "or") and )*
//! and        := equality ( ("&&" | "AND" | "and") equality )*
//! equality   := relational ( ("==" | "!=") relational )*
//! relational := unary ( ("<" | "<=" | ">" | ">=") unary )*
//! unary      := "!" unary | "-" NUMBER | postfix
//! postfix    := primary ( "." NAME ( "(" args? ")" )? )*
//! primary    := NUMBER | STRING | "true" | "false" | "null" | NAME
//!             | "(" expr ")" | "{" ( expr ( "," expr )* )? "}"
//! ```

use super::ast::{BinaryOp, CallStyle, Expr, ExprKind, Func, Literal, Span};
use super::error::{ExprError, ExprErrorKind};
use super::lexer::{Tok, Token, tokenize};

/// The longest expression source accepted, in bytes.
///
/// Okta's own editor caps custom expressions well below this; the bound
/// keeps a hostile document from making the parser work for long.
pub const MAX_EXPR_BYTES: usize = 16 * 1024;

/// The deepest nesting accepted: each parenthesis, operand and argument
/// level counts one. It bounds recursion in the parser, the checker, the
/// printer and the evaluator alike.
pub const MAX_DEPTH: usize = 64;

/// The most nodes an expression may have.
pub const MAX_NODES: usize = 4096;

/// Parses `src` into a tree, without type-checking it.
///
/// # Errors
///
/// An [`ExprError`] with the line and column of the first problem.
///
/// # Examples
///
/// ```
/// use devicetrust_policy::expr::parse;
///
/// let expr = parse(r#"device.provider.wsc.fireWall == 'GOOD'"#)?;
/// assert_eq!(expr.to_string(), r#"device.provider.wsc.fireWall == "GOOD""#);
/// # Ok::<(), devicetrust_policy::expr::ExprError>(())
/// ```
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.len() > MAX_EXPR_BYTES {
        return Err(ExprError::at(
            ExprErrorKind::TooLong {
                len: src.len(),
                max: MAX_EXPR_BYTES,
            },
            src,
            Span { start: 0, end: 0 },
        ));
    }
    let tokens = tokenize(src)?;
    let mut parser = Parser {
        src,
        tokens,
        pos: 0,
        depth: 0,
        nodes: 0,
    };
    let expr = parser.expr()?;
    let next = parser.peek_token();
    if next.tok != Tok::Eof {
        return Err(parser.expected("an operator or end of input"));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn peek_token(&self) -> Token {
        self.tokens.get(self.pos).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            span: Span {
                start: self.src.len(),
                end: self.src.len(),
            },
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn advance(&mut self) -> Token {
        let token = self.peek_token();
        self.pos += 1;
        token
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, expected: &'static str) -> Result<Token, ExprError> {
        if self.peek() == Some(tok) {
            Ok(self.advance())
        } else {
            Err(self.expected(expected))
        }
    }

    fn expected(&self, expected: &'static str) -> ExprError {
        let token = self.peek_token();
        ExprError::at(
            ExprErrorKind::Expected {
                expected,
                found: token.tok.describe(),
            },
            self.src,
            token.span,
        )
    }

    fn error(&self, kind: ExprErrorKind, span: Span) -> ExprError {
        ExprError::at(kind, self.src, span)
    }

    fn node(&mut self, kind: ExprKind, span: Span) -> Result<Expr, ExprError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(ExprErrorKind::TooManyNodes { max: MAX_NODES }, span));
        }
        Ok(Expr { kind, span })
    }

    /// Goes one nesting level deeper, refusing to pass [`MAX_DEPTH`].
    fn deeper(&mut self) -> Result<(), ExprError> {
        if self.depth >= MAX_DEPTH {
            let span = self.peek_token().span;
            return Err(self.error(ExprErrorKind::TooDeep { max: MAX_DEPTH }, span));
        }
        self.depth += 1;
        Ok(())
    }

    /// Runs `f` one nesting level deeper. An error ends the whole parse, so
    /// the level needs restoring only on success.
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        self.deeper()?;
        let result = f(self)?;
        self.depth -= 1;
        Ok(result)
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.nested(|p| {
            let cond = p.or()?;
            if !p.eat(&Tok::Question) {
                return Ok(cond);
            }
            let then = p.expr()?;
            p.expect(&Tok::Colon, "`:`")?;
            let otherwise = p.expr()?;
            let span = cond.span.to(otherwise.span);
            p.node(
                ExprKind::Conditional {
                    cond: Box::new(cond),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                },
                span,
            )
        })
    }

    fn binary_level(
        &mut self,
        next: fn(&mut Self) -> Result<Expr, ExprError>,
        op_of: fn(&Tok) -> Option<BinaryOp>,
    ) -> Result<Expr, ExprError> {
        let mut lhs = next(self)?;
        // A chain `a && b && c` nests to the left without recursing here,
        // so each link counts one level explicitly: the tree's depth, not
        // just the parser's, stays under the bound.
        let saved = self.depth;
        while let Some(op) = self.peek().and_then(op_of) {
            self.deeper()?;
            self.pos += 1;
            let rhs = next(self)?;
            let span = lhs.span.to(rhs.span);
            lhs = self.node(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            )?;
        }
        self.depth = saved;
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.binary_level(Self::and, |tok| match tok {
            Tok::OrOr => Some(BinaryOp::Or),
            Tok::Ident(name) if name == "OR" || name == "or" => Some(BinaryOp::Or),
            _ => None,
        })
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        self.binary_level(Self::equality, |tok| match tok {
            Tok::AndAnd => Some(BinaryOp::And),
            Tok::Ident(name) if name == "AND" || name == "and" => Some(BinaryOp::And),
            _ => None,
        })
    }

    fn equality(&mut self) -> Result<Expr, ExprError> {
        self.binary_level(Self::relational, |tok| match tok {
            Tok::EqEq => Some(BinaryOp::Eq),
            Tok::NotEq => Some(BinaryOp::Ne),
            _ => None,
        })
    }

    fn relational(&mut self) -> Result<Expr, ExprError> {
        self.binary_level(Self::unary, |tok| match tok {
            Tok::Lt => Some(BinaryOp::Lt),
            Tok::Le => Some(BinaryOp::Le),
            Tok::Gt => Some(BinaryOp::Gt),
            Tok::Ge => Some(BinaryOp::Ge),
            _ => None,
        })
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let token = self.peek_token();
        match token.tok {
            Tok::Bang => {
                self.pos += 1;
                let operand = self.nested(Self::unary)?;
                let span = token.span.to(operand.span);
                self.node(ExprKind::Not(Box::new(operand)), span)
            }
            Tok::Minus => {
                self.pos += 1;
                let number = self.peek_token();
                let Tok::Number(n) = number.tok else {
                    return Err(self.expected("a number after `-`"));
                };
                self.pos += 1;
                self.node(
                    ExprKind::Literal(Literal::Number(-n)),
                    token.span.to(number.span),
                )
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut expr = self.primary()?;
        let saved = self.depth;
        while self.eat(&Tok::Dot) {
            let name_token = self.advance();
            let Tok::Ident(name) = name_token.tok else {
                self.pos -= 1;
                return Err(self.expected("a name after `.`"));
            };
            if self.peek() == Some(&Tok::LParen) {
                // A call chain nests its receivers, like a binary chain.
                self.deeper()?;
                expr = self.call(expr, &name, name_token.span)?;
            } else if let ExprKind::Path(segments) = &mut expr.kind {
                segments.push(name);
                expr.span = expr.span.to(name_token.span);
            } else {
                return Err(self.expected("`(`: only paths have properties"));
            }
        }
        self.depth = saved;
        Ok(expr)
    }

    /// Parses the argument list of `receiver.name(...)`.
    fn call(&mut self, receiver: Expr, name: &str, name_span: Span) -> Result<Expr, ExprError> {
        let owner = match &receiver.kind {
            ExprKind::Path(segments) if segments.len() == 1 => segments.first().map(String::as_str),
            _ => None,
        };
        let static_func = owner.and_then(|owner| Func::lookup_static(owner, name));
        let func = match static_func.or_else(|| Func::lookup_method(name)) {
            Some(func) => func,
            None => {
                let full = match owner {
                    Some(owner) => format!("{owner}.{name}"),
                    None => name.to_owned(),
                };
                return Err(self.error(ExprErrorKind::UnknownFunction(full), name_span));
            }
        };
        let mut args = Vec::new();
        if func.style() == CallStyle::Method {
            args.push(receiver.clone());
        }
        self.expect(&Tok::LParen, "`(`")?;
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.nested(Self::expr)?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `)`")?;
            }
        }
        let close = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(name_span, |t| t.span);
        let span = receiver.span.to(close);
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            // Receivers are counted as arguments internally, not in messages.
            let receiver_count = usize::from(func.style() == CallStyle::Method);
            let expected = if max == usize::MAX {
                format!("at least {}", min - receiver_count)
            } else {
                (min - receiver_count).to_string()
            };
            return Err(self.error(
                ExprErrorKind::Arity {
                    func: func.name(),
                    expected,
                    found: args.len() - receiver_count,
                },
                span,
            ));
        }
        self.node(ExprKind::Call { func, args }, span)
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let token = self.advance();
        match token.tok {
            Tok::Number(n) => self.node(ExprKind::Literal(Literal::Number(n)), token.span),
            Tok::Str(s) => self.node(ExprKind::Literal(Literal::String(s)), token.span),
            Tok::Ident(name) => {
                let kind = match name.as_str() {
                    "true" => ExprKind::Literal(Literal::Bool(true)),
                    "false" => ExprKind::Literal(Literal::Bool(false)),
                    "null" => ExprKind::Literal(Literal::Null),
                    "AND" | "and" | "OR" | "or" => {
                        self.pos -= 1;
                        return Err(self.expected("an operand"));
                    }
                    _ => ExprKind::Path(vec![name]),
                };
                self.node(kind, token.span)
            }
            Tok::LParen => {
                let inner = self.expr()?;
                let close = self.expect(&Tok::RParen, "`)`")?;
                // Parentheses leave no node: the printer adds them back
                // where precedence needs them.
                Ok(Expr {
                    kind: inner.kind,
                    span: token.span.to(close.span),
                })
            }
            Tok::LBrace => {
                let mut items = Vec::new();
                if !self.eat(&Tok::RBrace) {
                    loop {
                        items.push(self.nested(Self::expr)?);
                        if self.eat(&Tok::RBrace) {
                            break;
                        }
                        self.expect(&Tok::Comma, "`,` or `}`")?;
                    }
                }
                let close = self
                    .tokens
                    .get(self.pos.saturating_sub(1))
                    .map_or(token.span, |t| t.span);
                self.node(ExprKind::List(items), token.span.to(close))
            }
            _ => {
                self.pos -= 1;
                Err(self.expected("an operand"))
            }
        }
    }
}
