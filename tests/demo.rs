//! The README's main job: `devicetrust demo` tells the whole story over
//! HTTP and exits 0 only if every expectation held.

use std::process::Command;

#[test]
fn the_demo_holds_every_expectation() {
    let out = Command::new(env!("CARGO_BIN_EXE_devicetrust"))
        .arg("demo")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains('✗'), "{stdout}");
    // Ten steps, each with at least one check.
    for step in 1..=10 {
        assert!(
            stdout.contains(&format!("\n{step}. ")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("checks in 10 steps held"), "{stdout}");
}
