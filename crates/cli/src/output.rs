//! Printing results and reading and writing files for the commands.

use std::path::Path;

use crate::CliError;

/// Prints a JSON value on one line of stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// Reads a file of at most 1 MiB.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    const LIMIT: u64 = 1024 * 1024;
    let io = |source| CliError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > LIMIT {
        return Err(CliError::Usage(format!(
            "{}: {len} bytes is over the {LIMIT}-byte limit",
            path.display()
        )));
    }
    std::fs::read(path).map_err(io)
}

/// Writes a file (replacing it).
pub(crate) fn write_output(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// RFC 3339 text for JSON.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// The `p`th percentile (0 to 100, nearest rank) of sorted latencies.
pub(crate) fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a rank among at most millions of samples, clamped below"
    )]
    let rank =
        ((p.clamp(0.0, 100.0) / 100.0) * (sorted.len().saturating_sub(1) as f64)).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}
