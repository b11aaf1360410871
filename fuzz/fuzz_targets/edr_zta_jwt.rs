//! Fuzz the ZTA token parser: no input may panic it or make it allocate
//! beyond the 32 KiB cap's worth.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = devicetrust_edr::zta::parse_unverified(data); });
