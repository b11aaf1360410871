//! Fuzzes PKCS#10 parsing and signature verification: any input must parse or fail with a typed error, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = devicetrust_pki::CertificateRequest::parse(data, &Default::default(), devicetrust_pki::default_backend()); });
