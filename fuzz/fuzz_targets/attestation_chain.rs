//! Fuzzes CA-upload checking and certificate-chain parsing and verification: any input must be accepted or refused with a typed error, never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = (devicetrust_attestation::upload::check_upload(data), devicetrust_attestation::chain::verify_bundle(data, None, devicetrust_pki::default_backend())); });
