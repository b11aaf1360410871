//! Admin API tokens: random, shown once, stored as SHA-256, compared in
//! constant time. Rotating one revokes the token it replaces.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::admin_audit::{self, AdminEvent};
use super::settings::{Settings, SettingsStore, StoredToken};
use crate::DataError;

/// Revoked tokens kept in the settings file (oldest dropped first).
const MAX_REVOKED_KEPT: usize = 16;

/// Tokens start with this, so secret scanners and people can tell them apart.
pub const TOKEN_PREFIX: &str = "dtadm_";

/// A freshly made token: its stored form, and the token itself (shown once).
pub(crate) fn generate(now: OffsetDateTime) -> Result<(StoredToken, Zeroizing<String>), DataError> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut_slice())
        .map_err(|e| DataError::Pki(devicetrust_pki::Error::Random(e.to_string())))?;
    let token = Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(raw.as_slice())
    ));
    let digest = Sha256::digest(token.as_bytes());
    let id = format!("tok{}", hex::encode(digest.get(..6).unwrap_or_default()));
    Ok((
        StoredToken {
            id,
            sha256: hex::encode(digest),
            created: now,
            revoked: None,
        },
        token,
    ))
}

/// An admin token as presented, hashed once for every check it goes
/// through (the stored form is the same digest, so it is kept as that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    sha256_hex: String,
}

impl PresentedToken {
    /// Hashes `token`.
    pub fn new(token: &str) -> Self {
        // Hex, as stored, so no stored digest is decoded (allocated) per check.
        Self {
            sha256_hex: hex::encode(Sha256::digest(token.as_bytes())),
        }
    }
}

/// The live token `presented` matches, if any. Every live token is compared
/// in full and in constant time, so timing says nothing about which matched.
pub(crate) fn check<'a>(
    settings: &'a Settings,
    presented: &PresentedToken,
) -> Option<&'a StoredToken> {
    // Revoked tokens are skipped: that a token was revoked is not a secret.
    let digest = presented.sha256_hex.as_bytes();
    let mut found = None;
    for token in settings.admin_tokens.iter().filter(|t| t.revoked.is_none()) {
        if bool::from(token.sha256.as_bytes().ct_eq(digest)) {
            found = Some(token);
        }
    }
    found
}

/// Rotates the token `used` (by ID): a new token, returned once, and the
/// used one revoked, in one settings update. `None` when `used` is no
/// longer live (a concurrent rotation revoked it first).
pub(crate) fn rotate(
    file: &SettingsStore,
    used: &str,
    now: OffsetDateTime,
) -> Result<Option<(StoredToken, Zeroizing<String>)>, DataError> {
    let (stored, token) = generate(now)?;
    let audit = AdminEvent::new(now, used, "system.api_token.rotate", "Token", used)?
        .with_details(serde_json::json!({ "newTokenId": stored.id }));
    file.update(|s| {
        let Some(old) = s
            .admin_tokens
            .iter_mut()
            .find(|t| t.id == used && t.revoked.is_none())
        else {
            return Ok(None);
        };
        old.revoked = Some(now);
        s.admin_tokens.push(stored.clone());
        // Every request checks the token list: keep it bounded. Old revoked
        // tokens authenticate nothing; their rotations stay in the audit log.
        let revoked = s
            .admin_tokens
            .iter()
            .filter(|t| t.revoked.is_some())
            .count();
        let mut excess = revoked.saturating_sub(MAX_REVOKED_KEPT);
        s.admin_tokens.retain(|t| {
            let drop = excess > 0 && t.revoked.is_some();
            if drop {
                excess -= 1;
            }
            !drop
        });
        admin_audit::push(s, audit)?;
        Ok(Some((stored, token)))
    })
}

/// The admin token use cases.
impl crate::Service {
    /// The ID of the live admin token `presented` matches, if any
    /// (compared in constant time against every live token's digest).
    pub fn authenticate_admin(&self, presented: &str) -> Option<String> {
        check(&self.settings.read(), &PresentedToken::new(presented)).map(|t| t.id.clone())
    }

    /// Whether `presented` is a live admin token as far as this process
    /// knows, without a store read when it is: for refusing a wrong token
    /// before its request's body is read. Not the check itself: a token
    /// revoked by another process passes until this process next reads the
    /// settings, so the use case it admits checks again in its own snapshot
    /// ([`Self::decide_as_admin`]).
    pub fn precheck_admin_token(&self, presented: &PresentedToken) -> bool {
        check(&self.settings.last_read(), presented).is_some()
            || check(&self.settings.read(), presented).is_some()
    }

    /// Rotates admin token `used`: a new token, to show once, and `used`
    /// revoked with an audit event, in one update. `None` when `used` is no
    /// longer live (a concurrent rotation revoked it first).
    pub fn rotate_admin_token(
        &self,
        used: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(StoredToken, Zeroizing<String>)>, DataError> {
        rotate(&self.settings, used, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_until_revoked() {
        let now = OffsetDateTime::now_utc();
        let (stored, token) = generate(now).unwrap();
        let mut settings = Settings::default();
        settings.admin_tokens.push(stored);
        let presented = |t: &str| PresentedToken::new(t);
        assert!(check(&settings, &presented(&token)).is_some());
        assert!(check(&settings, &presented("dtadm_wrong")).is_none());
        assert!(check(&settings, &presented("")).is_none());
        settings.admin_tokens[0].revoked = Some(now);
        assert!(check(&settings, &presented(&token)).is_none());
    }

    #[test]
    fn rotation_keeps_the_token_list_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(devicetrust_store::Database::Sqlite(
            devicetrust_store::SqliteStore::open(&dir.path().join("db")).unwrap(),
        ));
        let file = SettingsStore::open(store, &dir.path().join("service.json")).unwrap();
        let now = OffsetDateTime::now_utc();
        let (first, mut token) = generate(now).unwrap();
        let mut id = first.id.clone();
        file.update(|s| {
            s.admin_tokens.push(first);
            Ok(())
        })
        .unwrap();
        for _ in 0..40 {
            let (next, t) = rotate(&file, &id, now).unwrap().unwrap();
            assert!(
                check(&file.read(), &PresentedToken::new(&token)).is_none(),
                "the rotated token is refused"
            );
            id = next.id;
            token = t;
        }
        let settings = file.read();
        assert!(check(&settings, &PresentedToken::new(&token)).is_some());
        assert_eq!(settings.admin_tokens.len(), MAX_REVOKED_KEPT + 1);
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let now = OffsetDateTime::now_utc();
        let (a, ta) = generate(now).unwrap();
        let (b, tb) = generate(now).unwrap();
        assert!(ta.starts_with(TOKEN_PREFIX) && ta.len() > 40);
        assert_ne!(*ta, *tb);
        assert_ne!(a.sha256, b.sha256);
        assert!(!a.sha256.contains(&ta[TOKEN_PREFIX.len()..]));
    }
}
