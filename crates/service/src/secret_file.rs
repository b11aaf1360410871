//! Secrets we must present later (the Intune client secret), kept in their
//! own files beside the data folder's other private material.
//!
//! A secret we *verify* (the static challenge, the challenge URL's password)
//! is stored as its SHA-256. A secret we *present* to someone else cannot be:
//! it has to be read back. So it stays out of `integrations.json` (which
//! `integrations list` prints and admins copy around) and lives alone in a
//! file created with mode 0600, like the RA keys, read into [`Zeroizing`]
//! memory only when the service starts.

use std::io::{Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

/// Largest secret file read.
const MAX_SECRET: u64 = 4096;

/// Writes `secret` to a new file at `path` with mode 0600 (never overwrites).
pub(crate) fn write(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}

/// Writes `bytes` to `path` readable by the owner only (0600, whatever the
/// umask), replacing any file there, and syncs it. For temporary files
/// renamed into place and for captures.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A leftover file keeps its mode when opened; a new one gets ours.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `dir` (and its parents) with mode 0700, whatever the umask.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Reads a secret file (at most 4 KiB), without a trailing line break.
pub(crate) fn read(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let file = std::fs::File::open(path)?;
    let mut raw = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > MAX_SECRET {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "secret file over 4 KiB",
        ));
    }
    let text = std::str::from_utf8(&raw)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "secret is not UTF-8"))?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}
