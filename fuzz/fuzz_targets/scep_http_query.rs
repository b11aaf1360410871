//! Fuzzes SCEP's GET query parsing (operation and the lenient base64 message).
#![no_main]
libfuzzer_sys::fuzz_target!(|query: &str| { let _ = (devicetrust_server::message_param::operation(query), devicetrust_server::message_param::message(query, 65536)); });
