//! The CLI commands' behaviour: what they print and how they exit.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use devicetrust_cli::commands::policy::{check, diff, eval};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../policy/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn check_exits_one_on_errors_only() {
    let clean = check(&data("high.json")).unwrap();
    assert_eq!(clean.exit_code, 0);
    assert_eq!(
        clean.stdout,
        "6 rule(s) checked: 0 error(s), 0 warning(s)\n"
    );

    // Moving the catch-all first makes every other rule dead.
    let broken = data("medium.json").replace("\"priority\": 99", "\"priority\": 0");
    let out = check(&broken).unwrap();
    assert_eq!(out.exit_code, 1);
    assert!(
        out.stdout
            .contains("error[catch-all-not-last] `rules[2]` (rulcatchall00000002)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("3 rule(s) checked: 1 error(s), 2 warning(s)\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn eval_prints_the_explained_decision_and_exits_zero_even_on_deny() {
    let ctx = r#"{"device": {"registered": true, "managed": false, "platform": "MACOS"}}"#;
    let out = eval(&data("medium.json"), ctx).unwrap();
    assert_eq!(out.exit_code, 0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["access"], "DENY");
    assert_eq!(json["explanation"]["rules"].as_array().unwrap().len(), 3);
    assert!(eval(&data("medium.json"), "{\"devise\": {}}").is_err());
}

#[test]
fn diff_prints_changes() {
    let old = data("medium.json");
    let new = old.replace(r#""access": "DENY""#, r#""access": "ALLOW""#);
    let fleet = "{\"device\": {\"registered\": true, \"platform\": \"MACOS\"}}\n{}\n";
    let out = diff(&old, &new, fleet).unwrap();
    let changes: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(changes.as_array().unwrap().len(), 1);
    assert_eq!(changes[0]["line"], 1);
    assert_eq!(changes[0]["kind"], "GAINED");
}
