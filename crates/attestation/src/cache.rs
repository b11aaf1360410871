//! A bounded cache of issuer signatures already verified.
//!
//! The same few CA certificates and CRLs sign every device's chain, and a
//! device presents the same leaf at every sign-on, so after the first
//! attestation the only signature that must be checked again is the one over
//! the fresh nonce. An entry records one fact: *these exact signed bytes
//! verified under this exact issuer key*. The key is SHA-256 over a domain
//! label, the signed certificate's DER (for a CRL, the SHA-256 of its DER,
//! computed once when the configuration takes the CRL) and the issuer's
//! SubjectPublicKeyInfo, so a rogue issuer with the same name but another key
//! never hits the entry.
//!
//! Only the signature is cached. Validity, key policy, CA flags, path length
//! and revocation are checked on every call: they depend on the time and on
//! configuration, and they are cheap.
//!
//! The cache is bounded: when full, the oldest entry goes (first in, first
//! out). A lost entry only costs one more verification.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use devicetrust_pki::Certificate;
use sha2::{Digest, Sha256};

/// Default number of entries: a large fleet's CAs, leaves and CRLs.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// Default number of parsed certificates kept by [`CertificateCache`].
pub const DEFAULT_CERTIFICATE_CAPACITY: usize = 4_096;

/// A bounded map, oldest entry out first. A poisoned lock (a panic
/// elsewhere) reads as empty and takes no inserts: the caches only ever save
/// work, so losing them is safe.
#[derive(Debug)]
struct Bounded<V> {
    capacity: usize,
    inner: Mutex<Entries<V>>,
}

#[derive(Debug)]
struct Entries<V> {
    map: HashMap<[u8; 32], V>,
    order: VecDeque<[u8; 32]>,
}

impl<V: Clone> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn len(&self) -> usize {
        self.inner.lock().map_or(0, |e| e.map.len())
    }

    fn clear(&self) {
        if let Ok(mut e) = self.inner.lock() {
            e.map.clear();
            e.order.clear();
        }
    }

    fn get(&self, key: &[u8; 32]) -> Option<V> {
        self.inner.lock().ok()?.map.get(key).cloned()
    }

    fn insert(&self, key: [u8; 32], value: V) {
        if self.capacity == 0 {
            return;
        }
        let Ok(mut e) = self.inner.lock() else {
            return;
        };
        if e.map.insert(key, value).is_some() {
            return;
        }
        e.order.push_back(key);
        while e.order.len() > self.capacity {
            if let Some(old) = e.order.pop_front() {
                e.map.remove(&old);
            }
        }
    }
}

/// A bounded set of verified (signed object, issuer key) pairs.
#[derive(Debug)]
pub struct SignatureCache {
    entries: Bounded<()>,
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
            entries: Bounded::new(capacity),
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// `signed` is a certificate's DER, or the SHA-256 of a CRL's DER.
    pub(crate) fn key(kind: Signed, signed: &[u8], issuer_spki: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(match kind {
            Signed::Certificate => b"devicetrust attestation cert sig v1\0".as_slice(),
            Signed::Crl => b"devicetrust attestation crl digest sig v1\0".as_slice(),
        });
        // Length-prefix the first variable part so the concatenation is unambiguous.
        h.update((signed.len() as u64).to_be_bytes());
        h.update(signed);
        h.update(issuer_spki);
        h.finalize().into()
    }

    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        self.entries.get(key).is_some()
    }

    pub(crate) fn insert(&self, key: [u8; 32]) {
        self.entries.insert(key, ());
    }
}

impl Default for SignatureCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

/// A bounded cache of parsed certificates, keyed by the SHA-256 of their
/// DER. A device presents the same certificate at every sign-on, and
/// decoding it costs about as much as the rest of a warm attestation; this
/// keeps the parsed form. It holds parsing results only: no check is
/// skipped for a certificate found here.
#[derive(Debug)]
pub struct CertificateCache {
    entries: Bounded<Arc<Certificate>>,
}

impl CertificateCache {
    /// A cache holding at most `capacity` certificates (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Bounded::new(capacity),
        }
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses one DER certificate, or returns the one parsed from the same bytes before.
    pub fn parse(&self, der: &[u8]) -> Result<Arc<Certificate>, devicetrust_pki::Error> {
        let key: [u8; 32] = Sha256::digest(der).into();
        // Compare the bytes too: a hit must be the very same certificate.
        if let Some(cert) = self.entries.get(&key).filter(|c| c.der() == der) {
            return Ok(cert);
        }
        let cert = Arc::new(Certificate::from_der(der)?);
        self.entries.insert(key, Arc::clone(&cert));
        Ok(cert)
    }
}

impl Default for CertificateCache {
    fn default() -> Self {
        Self::new(DEFAULT_CERTIFICATE_CAPACITY)
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
