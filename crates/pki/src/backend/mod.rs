//! Crypto backends: the few private- and public-key operations the CA needs.
//!
//! Everything else (ASN.1, policy, certificate profiles) is backend-independent,
//! so a backend is small: generate a key, sign, verify, and RSA-decrypt.
//! [`RustCrypto`] is pure Rust and always present; `AwsLc` (feature `aws-lc`)
//! is several times faster on private-key operations.

use std::fmt;

use zeroize::Zeroizing;

use crate::{KeyAlgorithm, PrivateKey, PublicKey, Result, SignatureAlgorithm};

#[cfg(feature = "aws-lc")]
mod aws_lc;
pub(crate) mod rustcrypto;

#[cfg(feature = "aws-lc")]
pub use aws_lc::AwsLc;
pub use rustcrypto::RustCrypto;

/// A crypto implementation.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Short name, as used on the command line (`rustcrypto`, `aws-lc`).
    fn name(&self) -> &'static str;

    /// Generates a fresh key from the operating system's random source.
    fn generate(&self, algorithm: KeyAlgorithm) -> Result<PrivateKey>;

    /// Prepares a private key for signing (parsing it once, not per signature).
    fn signer(&self, key: &PrivateKey) -> Result<Box<dyn Signer>>;

    /// Prepares an RSA private key for PKCS#1 v1.5 decryption.
    fn decrypter(&self, key: &PrivateKey) -> Result<Box<dyn Decrypter>>;

    /// Verifies `signature` over `message` with `key`. The caller has already
    /// checked that `algorithm` is allowed; this checks that it fits the key.
    fn verify(
        &self,
        key: &PublicKey,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()>;
}

/// A private key ready to sign.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The algorithm [`Signer::sign`] produces.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// The matching public key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `message` (hashing it): DER `ECDSA-Sig-Value` or a PKCS#1 v1.5 signature.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// An RSA private key ready to decrypt PKCS#1 v1.5 key transport (SCEP envelopes).
pub trait Decrypter: Send + Sync + fmt::Debug {
    /// Decrypts a PKCS#1 v1.5 block that should hold `expected_len` bytes.
    ///
    /// Implicit rejection: a bad padding or a wrong length never yields an
    /// error. It yields `expected_len` bytes derived from the ciphertext and
    /// the key, so an attacker learns nothing from the answer or its timing
    /// (Bleichenbacher, Marvin). The caller must authenticate the result,
    /// as CMS content decryption does by failing to unpad or verify.
    ///
    /// Each backend's synthetic value is deterministic, but the two backends'
    /// may differ: RustCrypto's `rsa` applies its own implicit rejection first,
    /// and on about 1 bad padding in 200 its synthetic message happens to have
    /// `expected_len` bytes and is returned as is.
    fn decrypt_pkcs1v15(
        &self,
        ciphertext: &[u8],
        expected_len: usize,
    ) -> Result<Zeroizing<Vec<u8>>>;
}

/// The default backend: pure Rust.
pub fn default_backend() -> &'static dyn Backend {
    &RustCrypto
}

/// Every backend compiled into this build, the default first.
pub fn backends() -> Vec<&'static dyn Backend> {
    #[cfg(feature = "aws-lc")]
    {
        vec![&RustCrypto, &AwsLc]
    }
    #[cfg(not(feature = "aws-lc"))]
    {
        vec![&RustCrypto]
    }
}

/// Finds a compiled-in backend by name.
pub fn backend_by_name(name: &str) -> Option<&'static dyn Backend> {
    backends().into_iter().find(|b| b.name() == name)
}

/// Implicit-rejection helper shared by the backends: picks `real` when it has
/// the expected length and `valid` holds, else a synthetic value, without branching on secrets.
pub(crate) fn select_or_synthetic(
    kdk: &[u8; 32],
    ciphertext: &[u8],
    real: &[u8],
    valid: subtle::Choice,
    expected_len: usize,
) -> Zeroizing<Vec<u8>> {
    use hmac::{KeyInit, Mac};
    use subtle::ConditionallySelectable;

    let mut synthetic = Zeroizing::new(Vec::with_capacity(expected_len));
    let mut counter = 0u32;
    while synthetic.len() < expected_len {
        let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(kdk) {
            Ok(mac) => mac,
            // A 32-byte key is always accepted by HMAC.
            Err(_) => return synthetic,
        };
        mac.update(&counter.to_be_bytes());
        mac.update(ciphertext);
        synthetic.extend_from_slice(&mac.finalize().into_bytes());
        counter = counter.wrapping_add(1);
    }
    synthetic.truncate(expected_len);
    let length_ok = subtle::ConstantTimeEq::ct_eq(&(real.len() as u64), &(expected_len as u64));
    let take_real = valid & length_ok;
    let mut out = Zeroizing::new(vec![0u8; expected_len]);
    for (i, byte) in out.iter_mut().enumerate() {
        let s = synthetic.get(i).copied().unwrap_or(0);
        let r = real.get(i).copied().unwrap_or(0);
        *byte = u8::conditional_select(&s, &r, take_real);
    }
    out
}

/// Derives the implicit-rejection key from the private key, once per decrypter.
pub(crate) fn rejection_key(key: &PrivateKey) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"devicetrust pkcs1v15 implicit rejection v1");
    h.update(key.pkcs8_der());
    h.finalize().into()
}
