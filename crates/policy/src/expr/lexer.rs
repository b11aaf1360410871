//! Tokens of the expression language.

use super::ast::Span;
use super::error::{ExprError, ExprErrorKind};

/// A token and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
}

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name; keywords such as `true` and `AND` are names the parser reads
    /// in context, so that `user.profile.and` stays a valid path.
    Ident(String),
    Str(String),
    Number(f64),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Question,
    Colon,
    Bang,
    Minus,
    AndAnd,
    OrOr,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Number(_) => "a number".to_owned(),
            Tok::Eof => "end of input".to_owned(),
            Tok::LParen => "`(`".to_owned(),
            Tok::RParen => "`)`".to_owned(),
            Tok::LBrace => "`{`".to_owned(),
            Tok::RBrace => "`}`".to_owned(),
            Tok::Comma => "`,`".to_owned(),
            Tok::Dot => "`.`".to_owned(),
            Tok::Question => "`?`".to_owned(),
            Tok::Colon => "`:`".to_owned(),
            Tok::Bang => "`!`".to_owned(),
            Tok::Minus => "`-`".to_owned(),
            Tok::AndAnd => "`&&`".to_owned(),
            Tok::OrOr => "`||`".to_owned(),
            Tok::EqEq => "`==`".to_owned(),
            Tok::NotEq => "`!=`".to_owned(),
            Tok::Lt => "`<`".to_owned(),
            Tok::Le => "`<=`".to_owned(),
            Tok::Gt => "`>`".to_owned(),
            Tok::Ge => "`>=`".to_owned(),
        }
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
///
/// The caller bounds `src`'s length, so the token vector is bounded too.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let single = |tok: Tok| Token {
            tok,
            span: Span {
                start,
                end: start + c.len_utf8(),
            },
        };
        let token = match c {
            '(' => single(Tok::LParen),
            ')' => single(Tok::RParen),
            '{' => single(Tok::LBrace),
            '}' => single(Tok::RBrace),
            ',' => single(Tok::Comma),
            '.' => single(Tok::Dot),
            '?' => single(Tok::Question),
            ':' => single(Tok::Colon),
            '-' => single(Tok::Minus),
            '\'' | '"' => {
                tokens.push(lex_string(src, &mut chars, start, c)?);
                continue;
            }
            '0'..='9' => {
                tokens.push(lex_number(src, &mut chars, start)?);
                continue;
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let mut end = start;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '$' {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let name = src.get(start..end).unwrap_or_default().to_owned();
                tokens.push(Token {
                    tok: Tok::Ident(name),
                    span: Span { start, end },
                });
                continue;
            }
            _ => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                let two = |tok: Tok| Token {
                    tok,
                    span: Span {
                        start,
                        end: start + 2,
                    },
                };
                let token = match (c, next) {
                    ('&', Some('&')) => two(Tok::AndAnd),
                    ('|', Some('|')) => two(Tok::OrOr),
                    ('=', Some('=')) => two(Tok::EqEq),
                    ('!', Some('=')) => two(Tok::NotEq),
                    ('<', Some('=')) => two(Tok::Le),
                    ('>', Some('=')) => two(Tok::Ge),
                    ('!', _) => single(Tok::Bang),
                    ('<', _) => single(Tok::Lt),
                    ('>', _) => single(Tok::Gt),
                    _ => {
                        return Err(ExprError::at(
                            ExprErrorKind::UnexpectedChar(c),
                            src,
                            Span {
                                start,
                                end: start + c.len_utf8(),
                            },
                        ));
                    }
                };
                if token.span.end - token.span.start == 2 {
                    chars.next();
                }
                tokens.push(token);
                continue;
            }
        };
        chars.next();
        tokens.push(token);
    }
    tokens.push(Token {
        tok: Tok::Eof,
        span: Span {
            start: src.len(),
            end: src.len(),
        },
    });
    Ok(tokens)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// Reads a string quoted by `quote`, unescaping `\\ \' \" \n \t \r`.
fn lex_string(
    src: &str,
    chars: &mut Chars<'_>,
    start: usize,
    quote: char,
) -> Result<Token, ExprError> {
    chars.next();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok(Token {
                tok: Tok::Str(value),
                span: Span { start, end: i + 1 },
            });
        }
        if c == '\\' {
            let Some((j, e)) = chars.next() else { break };
            let unescaped = match e {
                '\\' => '\\',
                '\'' => '\'',
                '"' => '"',
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                _ => {
                    return Err(ExprError::at(
                        ExprErrorKind::BadEscape,
                        src,
                        Span {
                            start: i,
                            end: j + e.len_utf8(),
                        },
                    ));
                }
            };
            value.push(unescaped);
        } else {
            value.push(c);
        }
    }
    Err(ExprError::at(
        ExprErrorKind::UnterminatedString,
        src,
        Span {
            start,
            end: src.len(),
        },
    ))
}

/// Reads `digits [. digits]`; a sign is the parser's business.
fn lex_number(src: &str, chars: &mut Chars<'_>, start: usize) -> Result<Token, ExprError> {
    let mut end = start;
    let mut seen_dot = false;
    while let Some(&(i, c)) = chars.peek() {
        if c.is_ascii_digit() {
            end = i + 1;
            chars.next();
        } else if c == '.' && !seen_dot {
            // A dot followed by a digit is a fraction; otherwise it is a
            // member access, which numbers do not have, and the parser says so.
            let rest = src.get(i + 1..).unwrap_or_default();
            if rest.starts_with(|d: char| d.is_ascii_digit()) {
                seen_dot = true;
                end = i + 1;
                chars.next();
            } else {
                break;
            }
        } else {
            break;
        }
    }
    let span = Span { start, end };
    let text = src.get(start..end).unwrap_or_default();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Token {
            tok: Tok::Number(n),
            span,
        }),
        _ => Err(ExprError::at(ExprErrorKind::NumberOutOfRange, src, span)),
    }
}
