//! A small subset of Okta's filter and search expressions:
//! `field op "value"` clauses joined by `and`, where op is `eq` or `sw`.
//! Values are always quoted strings, taken literally: they are compared,
//! never interpreted, so nothing in them can change what is run.

/// The longest expression accepted.
pub(super) const MAX_EXPRESSION: usize = 2048;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// Equal.
    Eq,
    /// Starts with.
    Sw,
}

/// One `field op "value"` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Clause {
    /// The attribute.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The value, unescaped.
    pub value: String,
}

impl Clause {
    /// Whether `actual` satisfies this clause.
    pub fn holds(&self, actual: &str) -> bool {
        match self.op {
            Op::Eq => actual == self.value,
            Op::Sw => actual.starts_with(&self.value),
        }
    }
}

fn skip_spaces(rest: &str) -> &str {
    rest.trim_start_matches(' ')
}

fn word(rest: &str) -> (&str, &str) {
    let end = rest.find([' ', '"']).unwrap_or(rest.len());
    rest.split_at(end)
}

fn quoted(rest: &str) -> Result<(String, &str), String> {
    let Some(body) = rest.strip_prefix('"') else {
        return Err("values must be double-quoted strings".into());
    };
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, body.get(i + 1..).unwrap_or_default())),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                _ => return Err("only \\\" and \\\\ may be escaped in a value".into()),
            },
            c => value.push(c),
        }
    }
    Err("unterminated string".into())
}

/// Parses `expr`; the error says what is wrong (never echoing more than the field name).
pub(super) fn parse(expr: &str) -> Result<Vec<Clause>, String> {
    if expr.len() > MAX_EXPRESSION {
        return Err(format!("the expression is over {MAX_EXPRESSION} bytes"));
    }
    let mut clauses = Vec::new();
    let mut rest = skip_spaces(expr);
    loop {
        let (field, after) = word(rest);
        if field.is_empty() {
            return Err("expected an attribute name".into());
        }
        let (op, after) = word(skip_spaces(after));
        let op = match op.to_ascii_lowercase().as_str() {
            "eq" => Op::Eq,
            "sw" => Op::Sw,
            _ => return Err(format!("unsupported operator after {field} (use eq or sw)")),
        };
        let (value, after) = quoted(skip_spaces(after))?;
        clauses.push(Clause {
            field: field.to_owned(),
            op,
            value,
        });
        rest = skip_spaces(after);
        if rest.is_empty() {
            return Ok(clauses);
        }
        let (joiner, after) = word(rest);
        if !joiner.eq_ignore_ascii_case("and") {
            return Err("clauses must be joined with `and`".into());
        }
        rest = skip_spaces(after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clauses_and_refuses_the_rest() {
        let c = parse(r#"status eq "ACTIVE" and profile.displayName sw "Al\"ice\\""#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].field, "profile.displayName");
        assert_eq!(c[1].op, Op::Sw);
        assert_eq!(c[1].value, "Al\"ice\\");
        assert!(c[1].holds("Al\"ice\\'s Mac"));
        assert!(!c[1].holds("Bob"));
        let injection = parse(r#"profile.displayName eq "'; DROP TABLE devices;--""#).unwrap();
        assert_eq!(injection[0].value, "'; DROP TABLE devices;--");
        for bad in [
            "",
            "status",
            "status eq ACTIVE",
            r#"status gt "1""#,
            r#"status eq "A" or status eq "B""#,
            r#"status eq "A"#,
            r#"status eq "\n""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("a eq \"{}\"", "x".repeat(MAX_EXPRESSION))).is_err());
    }
}
