//! Fuzz the JWKS parser (configured keys): no input may panic it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| { let _ = devicetrust_edr::zta::Jwks::parse(data); });
