//! Fuzzes the expression parser: any text must parse or fail with an
//! error, within the parser's size and depth bounds, and never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|src: &str| drop(devicetrust_policy::expr::parse(src)));
