//! Fuzzes SCEP PKIMessage decoding and verification (BER normalisation, CMS, attributes).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| devicetrust_pki::scep::fuzzing::pki_message(data));
