//! Fuzzes document loading: any text must load or be refused with an
//! error, and never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|json: &str| drop(devicetrust_policy::PolicyDocument::from_json(json).map(|d| d.compile())));
