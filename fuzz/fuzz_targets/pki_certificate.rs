//! Fuzzes certificate parsing (DER or PEM): any input must parse or fail with a typed error, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = devicetrust_pki::Certificate::parse(data); });
