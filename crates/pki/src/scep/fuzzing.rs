//! Entry points for the fuzz targets (`fuzz/`), each taking raw bytes.
//! Not part of the API: the RA here is generated once per process.

use std::sync::OnceLock;

use super::{ContentEncryption, PkiMessage, ScepPolicy};
use crate::default_backend;

/// Decodes and verifies a PKIMessage.
pub fn pki_message(data: &[u8]) {
    let _ = PkiMessage::decode(data, &ScepPolicy::lenient(), default_backend());
}

/// Opens `data` as a pkcsPKIEnvelope with a fixed RSA key: BER
/// normalisation, RecipientInfo matching, key transport, content decryption.
pub fn envelope(data: &[u8]) {
    static KEY: OnceLock<Option<crate::PrivateKey>> = OnceLock::new();
    let Some(key) = KEY.get_or_init(|| {
        default_backend()
            .generate(crate::KeyAlgorithm::RSA2048)
            .ok()
    }) else {
        return;
    };
    let Ok(decrypter) = default_backend().decrypter(key) else {
        return;
    };
    let _ = super::envelope::open(data, None, decrypter.as_ref(), ContentEncryption::DesCbc);
}
