//! Load errors: everything wrong with a document is reported here, before
//! any sign-in is evaluated.

use serde::de::DeserializeOwned;

use crate::expr::ExprError;

/// Why a policy document or a context was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The input is larger than the limit.
    #[error("input is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Malformed JSON, or JSON of the wrong shape.
    #[error("invalid json at `{path}` (line {line}, column {column}): {message}")]
    Json {
        /// JSON path of the offending value, such as `rules[0].conditions`.
        path: String,
        /// 1-based line in the input.
        line: usize,
        /// 1-based column in the input.
        column: usize,
        /// What serde reported.
        message: String,
    },
    /// Two rules share a priority, so their order would be arbitrary.
    #[error(
        "duplicate priority {priority} at `{path}`: rules `{first}` and `{second}` both use it"
    )]
    DuplicatePriority {
        /// The shared priority.
        priority: u32,
        /// JSON path of the second rule.
        path: String,
        /// Id of the first rule.
        first: String,
        /// Id of the second rule.
        second: String,
    },
    /// Two objects of one kind share an id.
    #[error("duplicate id `{id}` at `{path}`")]
    DuplicateId {
        /// The shared id.
        id: String,
        /// JSON path of the second object.
        path: String,
    },
    /// An object a document references by id has none.
    #[error("`{path}`: missing id")]
    MissingId {
        /// JSON path of the id.
        path: String,
    },
    /// A `managed` condition without `registered: true`.
    #[error("`{path}`: managed requires registered: true")]
    ManagedWithoutRegistered {
        /// JSON path of the device condition.
        path: String,
    },
    /// A condition names a zone or assurance policy that is not in the document.
    #[error("`{path}`: unknown {kind} `{id}`")]
    UnknownReference {
        /// `network zone` or `device assurance`.
        kind: &'static str,
        /// The id.
        id: String,
        /// JSON path of the reference.
        path: String,
    },
    /// A zone gateway that does not parse.
    #[error("`{path}`: invalid gateway {value:?}: {reason}")]
    InvalidGateway {
        /// JSON path of the gateway value.
        path: String,
        /// The value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A minimum OS version that is not dotted numbers.
    #[error("`{path}`: invalid os version {value:?}")]
    InvalidVersion {
        /// JSON path of the version.
        path: String,
        /// The value.
        value: String,
    },
    /// A network condition inconsistent with its connection type.
    #[error("`{path}`: {reason}")]
    InvalidCondition {
        /// JSON path of the condition.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bad line in a JSON-lines input.
    #[error("line {line}: {source}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: Box<LoadError>,
    },
    /// A custom expression that does not parse or type-check.
    #[error("`{path}`: {source}")]
    Expression {
        /// JSON path of the expression.
        path: String,
        /// The positioned error.
        #[source]
        source: Box<ExprError>,
    },
}

/// Deserialises `json`, bounded by `max` bytes, reporting the JSON path of
/// the first problem.
pub(crate) fn from_json<T: DeserializeOwned>(json: &str, max: usize) -> Result<T, LoadError> {
    if json.len() > max {
        return Err(LoadError::TooLarge {
            len: json.len(),
            max,
        });
    }
    // serde_json refuses nesting deeper than 128 levels by itself, which
    // bounds the recursion of every derived `Deserialize` here.
    // The fast path parses without tracking paths; only a failure pays for
    // a second, path-tracking parse to say where the problem is.
    if let Ok(value) = serde_json::from_str(json) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(path, &e.into_inner())
    })?;
    // Trailing data after the document is an error too.
    de.end().map_err(|e| json_error(".".to_owned(), &e))?;
    Ok(value)
}

fn json_error(path: String, e: &serde_json::Error) -> LoadError {
    // serde_json appends the position to its message; the error carries it
    // in fields already, so the message goes without it.
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = message
        .strip_suffix(&suffix)
        .map_or_else(|| message.clone(), str::to_owned);
    LoadError::Json {
        path,
        line: e.line(),
        column: e.column(),
        message,
    }
}
