//! A bounded cache of issuer signatures already verified.
//!
//! The same few CA certificates and CRLs sign every device's chain, and a
//! device presents the same leaf at every sign-on, so after the first
//! attestation the only signature that must be checked again is the one over
//! the fresh nonce. An entry records one fact: *these exact signed bytes
//! verified under this exact issuer key*. The key is SHA-256 over a domain
//! label, the signed object's DER and the issuer's SubjectPublicKeyInfo, so a
//! rogue issuer with the same name but another key never hits the entry.
//!
//! Only the signature is cached. Validity, key policy, CA flags, path length
//! and revocation are checked on every call: they depend on the time and on
//! configuration, and they are cheap.
//!
//! The cache is bounded: when full, the oldest entry goes (first in, first
//! out). A lost entry only costs one more verification.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Default number of entries: a large fleet's CAs, leaves and CRLs.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// A bounded set of verified (signed object, issuer key) pairs.
#[derive(Debug)]
pub struct SignatureCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    present: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

/// What kind of signed object an entry is for (part of the cache key).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signed {
    Certificate,
    Crl,
}

impl SignatureCache {
    /// A cache holding at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |e| e.present.len())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        if let Ok(mut e) = self.inner.lock() {
            e.present.clear();
            e.order.clear();
        }
    }

    pub(crate) fn key(kind: Signed, signed_der: &[u8], issuer_spki: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(match kind {
            Signed::Certificate => b"devicetrust attestation cert sig v1\0".as_slice(),
            Signed::Crl => b"devicetrust attestation crl sig v1\0".as_slice(),
        });
        // Length-prefix the first variable part so the concatenation is unambiguous.
        h.update((signed_der.len() as u64).to_be_bytes());
        h.update(signed_der);
        h.update(issuer_spki);
        h.finalize().into()
    }

    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        // A poisoned lock only means a panic elsewhere: treat it as a miss.
        self.inner.lock().is_ok_and(|e| e.present.contains(key))
    }

    pub(crate) fn insert(&self, key: [u8; 32]) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut e) = self.inner.lock() else {
            return;
        };
        if !e.present.insert(key) {
            return;
        }
        e.order.push_back(key);
        while e.order.len() > self.capacity {
            if let Some(old) = e.order.pop_front() {
                e.present.remove(&old);
            }
        }
    }
}

impl Default for SignatureCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_first_in_first_out() {
        let cache = SignatureCache::new(2);
        let keys: Vec<[u8; 32]> = (0u8..3)
            .map(|i| SignatureCache::key(Signed::Certificate, &[i], b"issuer"))
            .collect();
        for k in &keys {
            cache.insert(*k);
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.contains(&keys[0]));
        assert!(cache.contains(&keys[1]) && cache.contains(&keys[2]));
    }

    #[test]
    fn key_depends_on_issuer_and_kind() {
        let a = SignatureCache::key(Signed::Certificate, b"cert", b"issuer a");
        let b = SignatureCache::key(Signed::Certificate, b"cert", b"issuer b");
        let c = SignatureCache::key(Signed::Crl, b"cert", b"issuer a");
        assert_ne!(a, b);
        assert_ne!(a, c);
        let zero = SignatureCache::new(0);
        zero.insert(a);
        assert!(zero.is_empty());
    }
}
