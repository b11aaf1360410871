//! Fuzzes the decrypt path: envelope parsing, key transport with implicit rejection, CBC unpadding.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| devicetrust_pki::scep::fuzzing::envelope(data));
