//! Fuzz every JSON-payload provider's parser: no input may panic one.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| for p in devicetrust_edr::schemas() { let _ = devicetrust_edr::parse_payload(p.id, data); });
