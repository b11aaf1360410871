//! Evaluating an app sign-on policy with an explanation: a compiled Okta
//! policy document, a sign-in context with EDR signals, and the decision
//! with the reason each rule did or did not match.
//!
//! Run with `cargo run --example evaluate_policy`.

use devicetrust_policy::{Context, PolicyDocument};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = PolicyDocument::from_json(
        r#"{
      "policy": {"id": "rst1", "name": "Payroll", "type": "ACCESS_POLICY", "status": "ACTIVE"},
      "rules": [
        {"id": "rul1", "name": "Managed Windows with a healthy endpoint", "priority": 1, "status": "ACTIVE",
         "conditions": {
           "device": {"registered": true, "managed": true},
           "platform": {"include": [{"type": "DESKTOP", "os": {"type": "WINDOWS"}}]},
           "elCondition": {"condition": "device.provider.wsc.antiVirus == 'GOOD' && device.provider.wsc.fireWall == 'GOOD'"}},
         "actions": {"appSignOn": {"access": "ALLOW", "verificationMethod": {"type": "ASSURANCE", "factorMode": "2FA"}}}},
        {"id": "rul2", "name": "Catch-all Rule", "priority": 99, "status": "ACTIVE", "system": true,
         "actions": {"appSignOn": {"access": "DENY"}}}
      ]
    }"#,
    )?
    .compile()?;

    for firewall in ["GOOD", "SNOOZE"] {
        let context = Context::from_json(&format!(
            r#"{{"user": {{"id": "00u1", "groups": ["Everyone"]}},
                "device": {{"registered": true, "managed": true, "platform": "WINDOWS",
                           "provider": {{"wsc": {{"antiVirus": "GOOD", "fireWall": "{firewall}"}}}}}}}}"#
        ))?;
        let decision = policy.evaluate(&context);
        println!("fireWall {firewall}: {:?}", decision.access);
        println!("{}", serde_json::to_string_pretty(&decision)?);
    }
    Ok(())
}
