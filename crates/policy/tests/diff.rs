//! Policy diff over a fleet of contexts.
#![expect(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

use devicetrust_policy::diff::{ChangeKind, diff, parse_fleet};
use devicetrust_policy::model::Access;
use devicetrust_policy::{CompiledPolicy, LoadError, MatchStatus, PolicyDocument};

fn load(text: &str) -> CompiledPolicy {
    PolicyDocument::from_json(text).unwrap().compile().unwrap()
}

fn medium() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/medium.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const FLEET: &str = r#"{"user": {"id": "00u-unregistered"}}

{"user": {"id": "00u-managed"}, "device": {"registered": true, "managed": true, "platform": "WINDOWS"}}
{"user": {"id": "00u-registered"}, "device": {"registered": true, "managed": false, "platform": "MACOS"}}
"#;

#[test]
fn lists_who_gains_and_loses_and_why() {
    let old = load(&medium());
    // New version: managed devices must now come from the Engineering
    // group, and registered-but-unmanaged devices get two factors.
    let new_text = medium()
        .replace(
            r#""device": {"registered": true, "managed": true}"#,
            r#""device": {"registered": true, "managed": true}, "people": {"groups": {"include": ["Engineering"]}}"#,
        )
        .replace(r#""device": {"registered": false}"#, r#""device": {"registered": true, "managed": false}"#);
    let new = load(&new_text);
    let fleet = parse_fleet(FLEET).unwrap();
    assert_eq!(
        fleet.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![1, 3, 4]
    );
    let changes = diff(&old, &new, &fleet);
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.line, c.user.as_deref().unwrap(), c.kind))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "00u-unregistered", ChangeKind::Lost),
            (3, "00u-managed", ChangeKind::Lost),
            (4, "00u-registered", ChangeKind::Gained),
        ]
    );
    // The managed user lost access because of the new group condition.
    let managed = &changes[1];
    assert_eq!(managed.after.access, Access::Deny);
    let former = managed.former_rule.as_ref().unwrap();
    assert_eq!(former.id, "rulmanaged000000001");
    let failed: Vec<_> = former
        .conditions
        .iter()
        .filter(|c| c.status != MatchStatus::Match)
        .map(|c| c.condition.as_str())
        .collect();
    assert_eq!(failed, vec!["people.groups"]);
    // The gain names the rule that now allows.
    let gained = &changes[2];
    assert_eq!(
        gained.deciding_rule.as_ref().unwrap().id,
        "rulunregistered0001"
    );
}

#[test]
fn identical_versions_have_no_changes() {
    let policy = load(&medium());
    assert!(diff(&policy, &policy, &parse_fleet(FLEET).unwrap()).is_empty());
}

#[test]
fn a_bad_fleet_line_is_located() {
    let fleet = "{\"user\": {}}\n{\"user\": {\"idd\": 1}}\n";
    match parse_fleet(fleet) {
        Err(LoadError::Line { line, source }) => {
            assert_eq!(line, 2);
            assert!(matches!(*source, LoadError::Json { ref path, .. } if path == "user.idd"));
        }
        other => panic!("{other:?}"),
    }
}
