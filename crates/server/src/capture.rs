//! Optional capture of raw PKIOperation traffic, for fixtures and fuzz seeds.
//!
//! When the environment variable [`CAPTURE_DIR_ENV`] names a folder at start,
//! every PKIOperation request body (after GET's base64 is undone) and the
//! reply sent back are written there as
//! `<configuration>-<n>-request.der` and `<configuration>-<n>-reply.der`.
//! Requests carry challenge passwords encrypted to the RA, so a capture
//! folder is as sensitive as the RA key: use it with throw-away
//! configurations only. Failures to write are logged and otherwise ignored.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the capture folder.
pub const CAPTURE_DIR_ENV: &str = "DEVICETRUST_SCEP_CAPTURE_DIR";

static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

fn dir() -> Option<&'static PathBuf> {
    DIR.get_or_init(|| std::env::var_os(CAPTURE_DIR_ENV).map(PathBuf::from))
        .as_ref()
}

/// Whether capturing is on.
pub(crate) fn enabled() -> bool {
    dir().is_some()
}

/// Writes one exchange (`reply` is `None` when none was sent).
pub(crate) fn exchange(configuration: &str, request: &[u8], reply: Option<&[u8]>) {
    let Some(dir) = dir() else { return };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // The ID comes from the URL: keep only what is safe in a file name.
    let id: String = configuration
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    let files = [("request", Some(request)), ("reply", reply)];
    for (what, bytes) in files {
        let Some(bytes) = bytes else { continue };
        let path = dir.join(format!("{id}-{n}-{what}.der"));
        // Requests carry challenges: the captures are as private as the data folder.
        let written = devicetrust_service::secret_file::create_private_dir(dir)
            .and_then(|()| devicetrust_service::secret_file::write_private(&path, bytes));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "scep capture not written");
        }
    }
}
