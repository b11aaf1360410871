//! What `devicetrust policy check | eval | diff` do, as functions over the
//! files' contents: the CLI reads files and prints, and the behaviour is
//! tested here.

use devicetrust_policy::context::Context;
use devicetrust_policy::diff::{diff as diff_fleet, parse_fleet};
use devicetrust_policy::document::PolicyDocument;
use devicetrust_policy::error::LoadError;
use devicetrust_policy::lint::Severity;

/// What a command prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Process exit code.
    pub exit_code: i32,
}

/// `policy check DOC.json`: one line per lint finding and a summary; exit
/// code 1 when any finding is an error.
///
/// # Errors
///
/// A [`LoadError`] when the document does not load at all.
pub fn check(document: &str) -> Result<Output, LoadError> {
    let policy = PolicyDocument::from_json(document)?.compile()?;
    let findings = policy.lint();
    let mut stdout = String::new();
    for f in &findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let code = serde_json::to_value(f.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        stdout.push_str(&format!(
            "{severity}[{code}] `{}` ({}): {}\n",
            f.path, f.rule, f.message
        ));
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    stdout.push_str(&format!(
        "{} rule(s) checked: {errors} error(s), {} warning(s)\n",
        policy.document().rules.len(),
        findings.len() - errors
    ));
    Ok(Output {
        stdout,
        exit_code: i32::from(errors > 0),
    })
}

/// `policy eval --policy DOC.json --context CTX.json`: the decision with its
/// explanation, as pretty JSON; exit code 0 whatever the decision.
///
/// # Errors
///
/// A [`LoadError`] for a bad document or context.
pub fn eval(document: &str, context: &str) -> Result<Output, LoadError> {
    let policy = PolicyDocument::from_json(document)?.compile()?;
    let context = Context::from_json(context)?;
    let decision = policy.evaluate(&context);
    Ok(Output {
        stdout: pretty(&decision),
        exit_code: 0,
    })
}

/// `policy diff OLD.json NEW.json --contexts FLEET.jsonl`: every context
/// whose outcome changes, as pretty JSON; exit code 0.
///
/// # Errors
///
/// A [`LoadError`] for a bad document or fleet line.
pub fn diff(old: &str, new: &str, fleet: &str) -> Result<Output, LoadError> {
    let old = PolicyDocument::from_json(old)?.compile()?;
    let new = PolicyDocument::from_json(new)?.compile()?;
    let fleet = parse_fleet(fleet)?;
    let changes = diff_fleet(&old, &new, &fleet);
    Ok(Output {
        stdout: pretty(&changes),
        exit_code: 0,
    })
}

/// Serialises output types, which are plain data and cannot fail to
/// serialise; should one ever fail, the output says so rather than panics.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    let mut text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
