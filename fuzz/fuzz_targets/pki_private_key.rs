//! Fuzzes private-key PEM parsing (PKCS#8, PKCS#1, SEC1): any input must parse or fail with a typed error, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = devicetrust_pki::PrivateKey::from_pem(data); });
